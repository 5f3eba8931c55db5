// kafkajs from the archiver's configuration (brokers, TLS, SASL, timeouts, retries).
import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import { ConfigError } from '@everlog/core'
import kafkajs from 'kafkajs'
import type { KafkaConfig, LogEntry, SASLOptions } from 'kafkajs'
import type { Logger } from 'pino'
import type { ArchiverConfig } from './config.js'

function readPem(file: string | undefined, field: string): Buffer | undefined {
  if (file === undefined) return undefined
  try {
    return readFileSync(file)
  } catch (err) {
    throw new ConfigError(`kafka.ssl.${field}: cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
}

function sslOptions(ssl: NonNullable<ArchiverConfig['kafka']['ssl']>): boolean | ConnectionOptions {
  if (typeof ssl === 'boolean') return ssl
  const tls: ConnectionOptions = {}
  const ca = readPem(ssl.caFile, 'caFile')
  const cert = readPem(ssl.certFile, 'certFile')
  const key = readPem(ssl.keyFile, 'keyFile')
  if (ca) tls.ca = [ca]
  if (cert) tls.cert = cert
  if (key) tls.key = key
  if (ssl.rejectUnauthorized !== undefined) tls.rejectUnauthorized = ssl.rejectUnauthorized
  if (ssl.servername !== undefined) tls.servername = ssl.servername
  return tls
}

const KafkaLogLevel = kafkajs.logLevel

// kafkajs' levels onto pino's; kafkajs' own messages carry their namespace so operators can tell them apart.
const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
}

export function kafkaLogCreator(logger: Logger) {
  const kafkaLogger = logger.child({ component: 'kafkajs' })
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _ts, logger: _l, ...extra } = log as LogEntry['log'] & { [k: string]: unknown }
      const method = LEVELS[level] ?? 'info'
      // kafkajs' INFO is chatty (every join, every fetch reset): keep it at debug unless it is a problem.
      const target = method === 'info' ? 'debug' : method
      kafkaLogger[target]({ namespace, ...extra }, message)
    }
}

export function kafkaClientConfig(config: ArchiverConfig, logger: Logger): KafkaConfig {
  const k = config.kafka
  const client: KafkaConfig = {
    clientId: k.clientId,
    brokers: config.brokers,
    connectionTimeout: k.connectionTimeout,
    authenticationTimeout: k.authenticationTimeout,
    requestTimeout: k.requestTimeout,
    retry: {
      initialRetryTime: config.retry.initialMs,
      maxRetryTime: config.retry.maxMs,
      retries: config.retry.maxAttempts === 0 ? Number.MAX_SAFE_INTEGER : Math.max(1, config.retry.maxAttempts - 1),
    },
    // kafkajs' DEBUG level shows every request: only when the operator asked for trace.
    logLevel: config.logLevel === 'trace' ? KafkaLogLevel.DEBUG : KafkaLogLevel.INFO,
    logCreator: kafkaLogCreator(logger),
  }
  if (k.ssl !== undefined) client.ssl = sslOptions(k.ssl)
  if (k.sasl !== undefined) client.sasl = { ...k.sasl } as SASLOptions
  return client
}

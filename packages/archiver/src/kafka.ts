// kafkajs from the Kafka settings (brokers, TLS, SASL incl. MSK IAM, timeouts): the one place every Everlog client of
// Kafka (the archiver, restore, backup-groups, restore-groups, produce-sample) gets its connection from.
import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import { ConfigError } from '@everlog/core'
import kafkajs from 'kafkajs'
import type { KafkaConfig, LogEntry, SASLOptions } from 'kafkajs'
import type { Logger } from 'pino'
import type { ArchiverConfig, KafkaSettings } from './config.js'
import { mskIamTokenProvider, mskRegionOf } from './msk-iam.js'
import type { AwsCredentialsProvider } from './msk-iam.js'

function readSecretFile(file: string | undefined, field: string): Buffer | undefined {
  if (file === undefined) return undefined
  try {
    return readFileSync(file)
  } catch (err) {
    // The file's name, never its content.
    throw new ConfigError(`${field}: cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
}

const readPem = (file: string | undefined, field: string) => readSecretFile(file, `kafka.ssl.${field}`)

function sslOptions(ssl: NonNullable<KafkaSettings['kafka']['ssl']>): boolean | ConnectionOptions {
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

export interface KafkaConnectionOptions {
  /** MSK IAM only: where AWS credentials come from (default: the standard AWS credential chain). */
  awsCredentials?: AwsCredentialsProvider
}

function saslOptions(
  settings: KafkaSettings,
  options: KafkaConnectionOptions,
  env: NodeJS.ProcessEnv,
): SASLOptions | undefined {
  const sasl = settings.kafka.sasl
  if (sasl === undefined) return undefined
  if (sasl.mechanism === 'aws-msk-iam') {
    const region = sasl.region ?? mskRegionOf(settings.brokers) ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION
    if (region === undefined) {
      throw new ConfigError(
        'kafka.sasl.region: aws-msk-iam needs the cluster region (set kafka.sasl.region, --sasl-aws-region or AWS_REGION)',
      )
    }
    const provider = mskIamTokenProvider({
      region,
      ...(options.awsCredentials ? { credentials: options.awsCredentials } : {}),
    })
    return { mechanism: 'oauthbearer', oauthBearerProvider: provider }
  }
  const password =
    sasl.password ??
    readSecretFile(sasl.passwordFile, 'kafka.sasl.passwordFile')!
      .toString('utf8')
      .replace(/\r?\n$/, '')
  if (password === '') throw new ConfigError(`kafka.sasl.passwordFile: ${sasl.passwordFile} is empty`)
  return { mechanism: sasl.mechanism, username: sasl.username!, password } as SASLOptions
}

/**
 * Brokers, client id, timeouts, TLS and SASL as kafkajs takes them. Files (CA, certificate, key, password) are read
 * here, so a missing one fails at once with the setting's name.
 */
export function kafkaConnectionConfig(
  settings: KafkaSettings,
  options: KafkaConnectionOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): KafkaConfig {
  const k = settings.kafka
  const client: KafkaConfig = {
    clientId: k.clientId,
    brokers: settings.brokers,
    connectionTimeout: k.connectionTimeout,
    authenticationTimeout: k.authenticationTimeout,
    requestTimeout: k.requestTimeout,
  }
  if (k.ssl !== undefined) client.ssl = sslOptions(k.ssl)
  const sasl = saslOptions(settings, options, env)
  if (sasl !== undefined) client.sasl = sasl
  return client
}

export function kafkaClientConfig(
  config: ArchiverConfig,
  logger: Logger,
  options: KafkaConnectionOptions = {},
): KafkaConfig {
  return {
    ...kafkaConnectionConfig(config, options),
    retry: {
      initialRetryTime: config.retry.initialMs,
      maxRetryTime: config.retry.maxMs,
      retries: config.retry.maxAttempts === 0 ? Number.MAX_SAFE_INTEGER : Math.max(1, config.retry.maxAttempts - 1),
    },
    // kafkajs' DEBUG level shows every request: only when the operator asked for trace.
    logLevel: config.logLevel === 'trace' ? KafkaLogLevel.DEBUG : KafkaLogLevel.INFO,
    logCreator: kafkaLogCreator(logger),
  }
}

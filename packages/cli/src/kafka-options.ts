// How every command that talks to Kafka (archive, restore, backup-groups, restore-groups, produce-sample) is told to
// reach it: the same flags, the same settings file sections (brokers, kafka) and the same EVERLOG_BROKERS /
// EVERLOG_KAFKA__* variables, all read by the archiver's one loader, and the same typed errors when Kafka refuses.
import { ConfigError, registerKafkaCodecs } from '@everlog/core'
import { checkKafkaConnection, explainKafkaError, kafkaConnectionConfig, loadKafkaSettings } from '@everlog/archiver'
import type { KafkaErrorContext, KafkaSettings } from '@everlog/archiver'
import kafkajs from 'kafkajs'
import type { Kafka } from 'kafkajs'
import type { CliContext } from './context.js'
import { ExitCode } from './context.js'
import { cliKafkaLogging } from './kafka-client.js'
import type { CliCommand } from './program.js'

// kafkajs is CommonJS: not every export is visible to ESM named imports (CompressionCodecs is not).
const { CompressionCodecs } = kafkajs

export interface KafkaFlags {
  brokers?: string
  /** The settings file of commands whose --config means something else (restore's topic configs). */
  kafkaConfig?: string
  clientId?: string
  ssl?: boolean
  sslCaFile?: string
  sslCertFile?: string
  sslKeyFile?: string
  sslServername?: string
  saslMechanism?: string
  saslUsername?: string
  saslPasswordFile?: string
  saslAwsRegion?: string
}

/** Adds the Kafka connection flags; `settingsFile` adds --kafka-config (archive has its own --config). */
export function addKafkaOptions(command: CliCommand, settingsFile = true): CliCommand {
  command.option('--brokers <list>', 'Kafka bootstrap brokers, host:port[,host:port] (default: $EVERLOG_BROKERS)')
  if (settingsFile) {
    command.option(
      '--kafka-config <file>',
      'a YAML or JSON file whose brokers and kafka settings are used (the archiver config file works)',
    )
  }
  return command
    .option('--client-id <id>', 'Kafka client id')
    .option('--ssl', 'connect to Kafka over TLS (the system CAs, unless --ssl-ca-file)')
    .option('--ssl-ca-file <file>', "PEM file of the CA(s) that signed the brokers' certificates (implies --ssl)")
    .option('--ssl-cert-file <file>', 'PEM client certificate, for brokers that require mutual TLS (implies --ssl)')
    .option('--ssl-key-file <file>', 'PEM private key of --ssl-cert-file')
    .option('--ssl-servername <name>', 'host name to check the broker certificates against (default: the broker host)')
    .option('--sasl-mechanism <mechanism>', 'plain, scram-sha-256, scram-sha-512 or aws-msk-iam')
    .option('--sasl-username <name>', 'SASL user (plain, scram-*)')
    .option(
      '--sasl-password-file <file>',
      'file holding the SASL password (or EVERLOG_KAFKA__SASL__PASSWORD; never pass a password as a flag)',
    )
    .option(
      '--sasl-aws-region <region>',
      'aws-msk-iam: the cluster region (default: from the broker names, AWS_REGION)',
    )
}

/** The Kafka flags given, as a partial configuration (absent flags leave file and env their say). */
export function kafkaOverrides(f: KafkaFlags): Record<string, unknown> {
  const kafka: Record<string, unknown> = {}
  const ssl: Record<string, unknown> = {}
  const sasl: Record<string, unknown> = {}
  if (f.clientId !== undefined) kafka.clientId = f.clientId
  if (f.sslCaFile !== undefined) ssl.caFile = f.sslCaFile
  if (f.sslCertFile !== undefined) ssl.certFile = f.sslCertFile
  if (f.sslKeyFile !== undefined) ssl.keyFile = f.sslKeyFile
  if (f.sslServername !== undefined) ssl.servername = f.sslServername
  if (Object.keys(ssl).length > 0) kafka.ssl = ssl
  else if (f.ssl !== undefined) kafka.ssl = f.ssl
  if (f.saslMechanism !== undefined) sasl.mechanism = f.saslMechanism
  if (f.saslUsername !== undefined) sasl.username = f.saslUsername
  if (f.saslPasswordFile !== undefined) sasl.passwordFile = f.saslPasswordFile
  if (f.saslAwsRegion !== undefined) sasl.region = f.saslAwsRegion
  if (Object.keys(sasl).length > 0) kafka.sasl = sasl
  const out: Record<string, unknown> = {}
  if (f.brokers !== undefined) out.brokers = f.brokers
  if (Object.keys(kafka).length > 0) out.kafka = kafka
  return out
}

export interface KafkaClient {
  kafka: Kafka
  settings: KafkaSettings
  /** Runs Kafka work; Kafka's refusals (TLS, SASL, ACLs) come out as typed errors naming what to check. */
  run<T>(work: () => Promise<T>, about?: KafkaErrorContext): Promise<T>
}

let codecsRegistered = false

/**
 * A kafkajs client from flags, --kafka-config and env. A bad setting prints every bad field and exits 2; with TLS,
 * a certificate problem fails here at once instead of after kafkajs' retries.
 */
export async function kafkaClient(flags: KafkaFlags, context: CliContext, clientId: string): Promise<KafkaClient> {
  let settings: KafkaSettings
  let config
  try {
    settings = loadKafkaSettings({
      ...(flags.kafkaConfig !== undefined ? { file: flags.kafkaConfig } : {}),
      env: context.env,
      overrides: kafkaOverrides(flags),
      defaults: { kafka: { clientId } },
    })
    config = kafkaConnectionConfig(settings, {}, context.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      context.stderr.write(`everlog: ${err.message}\n`)
      throw new ExitCode(2)
    }
    throw err
  }
  if (!codecsRegistered) {
    registerKafkaCodecs(CompressionCodecs)
    codecsRegistered = true
  }
  const run = async <T>(work: () => Promise<T>, about?: KafkaErrorContext): Promise<T> => {
    try {
      return await work()
    } catch (err) {
      throw explainKafkaError(err, settings, about)
    }
  }
  await run(() => checkKafkaConnection(settings, config))
  // kafkajs' own log only with --verbose: its failures surface as errors, explained above.
  const kafka = new kafkajs.Kafka({ ...config, ...cliKafkaLogging(context), retry: { retries: 5 } })
  return { kafka, settings, run }
}

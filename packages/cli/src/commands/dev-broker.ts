// `everlog dev-broker`: the embedded Kafka-wire broker as a foreground process, for development and the demo.
import { resolve } from 'node:path'
import { once } from 'node:events'
import { startDevBroker } from '@everlog/dev-broker'
import type { CliContext } from '../context.js'
import { UsageError } from '../context.js'
import type { CliCommand, CommandModule } from '../program.js'

interface DevBrokerFlags {
  host: string
  port: string
  dataDir?: string
  partitions: string
  autoCreateTopics: boolean
  verbose?: boolean
}

const HELP = `
Examples:
  $ everlog dev-broker                                  # 127.0.0.1:9092, in memory
  $ everlog dev-broker --port 19092 --data-dir ./.everlog/broker --partitions 4
  $ kcat -b 127.0.0.1:9092 -L                           # any Kafka client can talk to it

A single-node broker speaking the Kafka wire protocol (produce, fetch, consumer groups, transactions, retention,
compaction) for development, tests and demos. It is not Kafka: no replication, no SASL/SSL, no quotas (see the
dev-broker package's UNSUPPORTED.md). It runs until SIGINT or SIGTERM.
`

function intFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} ${value}: expected an integer ${min}-${max}`)
  return n
}

export const devBrokerCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    program
      .command('dev-broker')
      .description('run the embedded Kafka-wire development broker until interrupted')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'port to listen on (0 picks a free one)', '9092')
      .option('--data-dir <dir>', 'keep topics, records and committed offsets here across restarts (default: memory)')
      .option('--partitions <n>', 'partitions of auto-created topics', '1')
      .option('--no-auto-create-topics', 'refuse produce/metadata for unknown topics instead of creating them')
      .addHelpText('after', HELP)
      .action(async (flags: DevBrokerFlags) => {
        const broker = await startDevBroker({
          host: flags.host,
          port: intFlag('port', flags.port, 0, 65535),
          dataDir: flags.dataDir === undefined ? undefined : resolve(flags.dataDir),
          defaultPartitions: intFlag('partitions', flags.partitions, 1, 10_000),
          autoCreateTopics: flags.autoCreateTopics,
          logger: {
            warn: (obj, msg) => context.stderr.write(`everlog dev-broker: ${msg ?? ''} ${JSON.stringify(obj)}\n`),
            error: (obj, msg) => context.stderr.write(`everlog dev-broker: ${msg ?? ''} ${JSON.stringify(obj)}\n`),
          },
        })
        context.stdout.write(
          `everlog dev-broker listening on ${broker.address}${flags.dataDir ? ` (data in ${resolve(flags.dataDir)})` : ' (in memory)'}\n`,
        )
        const signal = await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')])
        void signal
        context.stderr.write('everlog dev-broker: stopping\n')
        await broker.close()
      })
  },
}

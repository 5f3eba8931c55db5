// `everlog athena ddl|create`: Athena table definitions over the archive (partition projection, no crawler).
import { listTopics, readTopicMeta, UnknownTopicError, validateTopicName } from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
import { athenaDdl, formatAthenaDdl, runAthenaStatements } from '@everlog/query'
import type { AthenaDdl } from '@everlog/query'
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import type { CliCommand, CommandModule } from '../program.js'

interface AthenaOptions {
  store?: string
  topic?: string
  allTopics?: boolean
  database?: string
  table?: string
  output?: string
  workgroup?: string
}

const HELP = `
Examples:
  $ everlog athena ddl --store s3://my-bucket/archive --topic orders --database kafka
  $ everlog athena create --store s3://my-bucket/archive --all-topics --database kafka \\
      --output s3://my-bucket/athena-results/

The table's partition column is projected from topic.json (no crawler, no MSCK REPAIR TABLE). 'create' runs the
statements through Athena with the AWS SDK's usual credentials and region and waits for each to finish.
`

async function ddlsFor(store: ObjectStore, url: string, options: AthenaOptions): Promise<AthenaDdl[]> {
  if (!options.topic && !options.allTopics) throw new UsageError('name a --topic or pass --all-topics')
  if (options.topic && options.allTopics) throw new UsageError('--topic and --all-topics exclude each other')
  if (options.allTopics && options.table)
    throw new UsageError('--table names one table; it cannot go with --all-topics')
  const topics = options.topic ? [validateTopicName(options.topic)] : await listTopics(store)
  if (topics.length === 0) throw new UsageError(`no topics archived yet in ${store.url}`)
  const out: AthenaDdl[] = []
  for (const topic of topics) {
    const meta = await readTopicMeta(store, topic)
    if (!meta) throw new UnknownTopicError(topic, `topic "${topic}" has no topic.json in ${store.url}`)
    out.push(
      athenaDdl({ store: url, topic, partitions: meta.partitions, database: options.database, table: options.table }),
    )
  }
  return out
}

function withCommonOptions(cmd: CliCommand): CliCommand {
  return cmd
    .option('--store <url>', 'the archive, s3://bucket/prefix (default: $EVERLOG_STORE)')
    .option('--topic <topic>', 'the topic to define a table for')
    .option('--all-topics', 'every archived topic')
    .option('--database <db>', 'Athena database (default: the workgroup default)')
    .option('--table <name>', 'table name (default: the topic name lowercased, other characters as _)')
}

export const athenaCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    const athena = program
      .command('athena')
      .description('Amazon Athena table definitions over the archive')
      .addHelpText('after', HELP)

    withCommonOptions(athena.command('ddl').description('print CREATE TABLE / VIEW statements and example queries'))
      .addHelpText('after', HELP)
      .action(async (options: AthenaOptions) => {
        const url = options.store ?? context.env.EVERLOG_STORE ?? ''
        const store = context.openStore(options.store)
        try {
          for (const ddl of await ddlsFor(store, url, options)) await write(context.stdout, formatAthenaDdl(ddl) + '\n')
        } finally {
          await store.close()
        }
      })

    withCommonOptions(athena.command('create').description('create the tables and views in Athena'))
      .option('--output <s3url>', 'where Athena writes query results, e.g. s3://bucket/athena-results/')
      .option('--workgroup <name>', 'Athena workgroup')
      .addHelpText('after', HELP)
      .action(async (options: AthenaOptions) => {
        if (!options.output)
          throw new UsageError('--output s3://bucket/prefix/ is required: Athena writes results there')
        const url = options.store ?? context.env.EVERLOG_STORE ?? ''
        const store = context.openStore(options.store)
        let ddls: AthenaDdl[]
        try {
          ddls = await ddlsFor(store, url, options)
        } finally {
          await store.close()
        }
        for (const ddl of ddls) {
          await runAthenaStatements([ddl.createTable, ddl.createView], {
            output: options.output,
            database: options.database,
            workgroup: options.workgroup,
            onStatement: (e) => {
              if (e.state === 'SUCCEEDED')
                context.stderr.write(`everlog: ${ddl.topic}: statement ${e.index + 1}/${e.total} done\n`)
            },
          })
          await write(context.stdout, `created ${ddl.table} and ${ddl.view}\n`)
        }
      })
  },
}

// `everlog athena ddl|create`: Athena table definitions over the archive (partition projection, no crawler).
import {
  ENGINES_NOT_READING,
  IcebergTableNotFoundError,
  listTopics,
  readIcebergTable,
  readSegmentLayout,
  readTopicMeta,
  segmentCompressionOf,
  storeLocation,
  UnknownTopicError,
  validateTopicName,
} from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
import {
  athenaDdl,
  createIcebergTableRequest,
  formatAthenaDdl,
  registerIcebergTable,
  runAthenaStatements,
  tableNameForTopic,
} from '@everlog/query'
import type { IcebergGlueOptions } from '@everlog/query'
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
  iceberg?: boolean
}

const HELP = `
Examples:
  $ everlog athena ddl --store s3://my-bucket/archive --topic orders --database kafka
  $ everlog athena create --store s3://my-bucket/archive --all-topics --database kafka \\
      --output s3://my-bucket/athena-results/

The table's partition column is projected from topic.json (no crawler, no MSCK REPAIR TABLE). 'create' runs the
statements through Athena with the AWS SDK's usual credentials and region and waits for each to finish.

With --iceberg the table is the topic's published Iceberg table (see 'everlog iceberg publish'): only committed
segments, time travel, pruning by the manifests. Athena cannot adopt existing Iceberg metadata with CREATE TABLE,
so the table is registered in the AWS Glue Data Catalog (table_type=ICEBERG, metadata_location): 'ddl --iceberg'
prints the Glue CreateTable request (for aws glue create-table --cli-input-json), 'create --iceberg' sends it, or
moves an existing registration to the newest metadata. Run it again after each publish, or publish with
'everlog iceberg publish --glue-database <db>'.
  $ everlog athena create --iceberg --store s3://my-bucket/archive --topic orders --database kafka
`

async function ddlsFor(
  store: ObjectStore,
  url: string,
  options: AthenaOptions,
  context: CliContext,
): Promise<AthenaDdl[]> {
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
    const ddl = athenaDdl({
      store: url,
      topic,
      partitions: meta.partitions,
      database: options.database,
      table: options.table,
    })
    await warnUnreadableCodecs(store, ddl, meta.partitions, context)
    out.push(ddl)
  }
  return out
}

/**
 * Warns (stderr) when a partition's first segment is compressed with a codec Athena cannot read: the table would
 * be created, and every query over those segments would fail. One footer read per partition.
 */
async function warnUnreadableCodecs(store: ObjectStore, ddl: AthenaDdl, partitions: number, context: CliContext) {
  for (let p = 0; p < partitions; p++) {
    let key: string | undefined
    for await (const o of store.list(`${ddl.topic}/data/partition=${p}/`)) {
      key = o.key
      break
    }
    if (key === undefined) continue
    const compression = segmentCompressionOf(await readSegmentLayout(store, key), key)
    if (compression !== undefined && ENGINES_NOT_READING[compression].includes('Amazon Athena')) {
      context.stderr.write(
        `everlog: warning: segments of ${ddl.topic} are compressed with ${compression} (e.g. ${key}), which ` +
          `Amazon Athena cannot read: queries over them fail. Archive with --compression zstd for Athena\n`,
      )
      return
    }
  }
}

function withCommonOptions(cmd: CliCommand): CliCommand {
  return cmd
    .option('--store <url>', 'the archive, s3://bucket/prefix (default: $EVERLOG_STORE)')
    .option('--topic <topic>', 'the topic to define a table for')
    .option('--all-topics', 'every archived topic')
    .option('--database <db>', 'Athena database (default: the workgroup default)')
    .option('--table <name>', 'table name (default: the topic name lowercased, other characters as _)')
    .option('--iceberg', "the topic's published Iceberg table, registered in AWS Glue")
}

/** The Glue registration of each topic's current Iceberg metadata. */
async function icebergTablesFor(
  store: ObjectStore,
  url: string,
  options: AthenaOptions,
): Promise<IcebergGlueOptions[]> {
  if (!options.database) throw new UsageError('--database is required with --iceberg: Glue tables live in a database')
  if (!options.topic && !options.allTopics) throw new UsageError('name a --topic or pass --all-topics')
  if (options.topic && options.allTopics) throw new UsageError('--topic and --all-topics exclude each other')
  const topics = options.topic ? [validateTopicName(options.topic)] : await listTopics(store)
  const out: IcebergGlueOptions[] = []
  for (const topic of topics) {
    const table = await readIcebergTable(store, topic)
    if (!table) throw new IcebergTableNotFoundError(topic, store.url)
    out.push({
      store: url,
      topic,
      database: options.database,
      table: options.table ?? tableNameForTopic(topic),
      metadataLocation: `${storeLocation(store)}/${table.key}`,
    })
  }
  return out
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
          if (options.iceberg) {
            for (const t of await icebergTablesFor(store, url, options)) {
              await write(
                context.stdout,
                `-- Everlog: Kafka topic ${t.topic} as an Iceberg table; register with:\n` +
                  `--   aws glue create-table --cli-input-json file://${t.table}.json\n` +
                  JSON.stringify(createIcebergTableRequest(t), null, 2) +
                  `\n-- then in Athena:\n-- SELECT "partition", count(*) FROM ${t.database}.${t.table} GROUP BY 1;\n` +
                  `-- SELECT * FROM ${t.database}.${t.table} FOR TIMESTAMP AS OF TIMESTAMP '2026-01-01 00:00:00 UTC' LIMIT 10;\n`,
              )
            }
            return
          }
          for (const ddl of await ddlsFor(store, url, options, context))
            await write(context.stdout, formatAthenaDdl(ddl) + '\n')
        } finally {
          await store.close()
        }
      })

    withCommonOptions(athena.command('create').description('create the tables and views in Athena'))
      .option(
        '--output <s3url>',
        'where Athena writes query results, e.g. s3://bucket/athena-results/ (not with --iceberg)',
      )
      .option('--workgroup <name>', 'Athena workgroup')
      .addHelpText('after', HELP)
      .action(async (options: AthenaOptions) => {
        if (options.iceberg) {
          const url = options.store ?? context.env.EVERLOG_STORE ?? ''
          const store = context.openStore(options.store)
          let tables: IcebergGlueOptions[]
          try {
            tables = await icebergTablesFor(store, url, options)
          } finally {
            await store.close()
          }
          for (const t of tables) {
            const r = await registerIcebergTable(t)
            await write(context.stdout, `${r.action} Glue table ${t.database}.${r.table} -> ${r.metadataLocation}\n`)
          }
          return
        }
        if (!options.output)
          throw new UsageError('--output s3://bucket/prefix/ is required: Athena writes results there')
        const url = options.store ?? context.env.EVERLOG_STORE ?? ''
        const store = context.openStore(options.store)
        let ddls: AthenaDdl[]
        try {
          ddls = await ddlsFor(store, url, options, context)
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

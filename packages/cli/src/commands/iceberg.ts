// `everlog iceberg publish|expire|snapshots`: the Apache Iceberg table of each topic, derived from the HEADs and
// published next to the archive (<topic>/iceberg/), so Athena, Spark, Trino and DuckDB read the committed segments.
import {
  expireIcebergSnapshots,
  listTopics,
  publishIceberg,
  readIcebergTable,
  storeLocation,
  validateTopicName,
} from '@everlog/core'
import { registerIcebergTable } from '@everlog/query'
import type { ObjectStore } from '@everlog/core'
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import type { CliCommand, CommandModule } from '../program.js'

interface IcebergOptions {
  store?: string
  topic?: string
  allTopics?: boolean
  json?: boolean
  olderThan?: string
  retainLast?: string
  glueDatabase?: string
  glueTable?: string
}

const HELP = `
Examples:
  $ everlog iceberg publish --store s3://my-bucket/archive --all-topics
  $ everlog iceberg snapshots --store s3://my-bucket/archive --topic orders
  $ everlog iceberg expire --store s3://my-bucket/archive --all-topics --older-than 7d --retain-last 10

'publish' builds the next snapshot of each table from the partitions' HEADs: only committed segments, never the
leftovers of a crashed or fenced writer, and no byte of them is copied. It commits with a conditional write of the
next metadata version, so several publishers (and archivers publishing on a schedule) can run at once. The table
lives at <store>/<topic>/iceberg (Iceberg's Hadoop layout: metadata/v<N>.metadata.json and version-hint.text).
'expire' drops old snapshots from the metadata (segments are never deleted).
`

async function topicsFor(store: ObjectStore, options: IcebergOptions): Promise<string[]> {
  if (!options.topic && !options.allTopics) throw new UsageError('name a --topic or pass --all-topics')
  if (options.topic && options.allTopics) throw new UsageError('--topic and --all-topics exclude each other')
  const topics = options.topic ? [validateTopicName(options.topic)] : await listTopics(store)
  if (topics.length === 0) throw new UsageError(`no topics archived yet in ${store.url}`)
  return topics
}

/** "7d", "12h", "30m", "90s" or an ISO time: the cutoff as epoch ms. */
export function parseCutoff(value: string, now: number): number {
  const m = /^(\d+)(d|h|m|s)$/.exec(value)
  if (m) return now - Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as 'd' | 'h' | 'm' | 's']
  const t = Date.parse(value)
  if (Number.isNaN(t))
    throw new UsageError(`--older-than ${JSON.stringify(value)}: expected 7d, 12h, 30m, 90s or an ISO time`)
  return t
}

function common(cmd: CliCommand): CliCommand {
  return cmd
    .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
    .option('--topic <topic>', 'one topic')
    .option('--all-topics', 'every archived topic')
    .option('--json', 'print the result as JSON lines')
}

const jsonLine = (o: object) => JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n'

export const icebergCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    const iceberg = program
      .command('iceberg')
      .description('Apache Iceberg tables over the archive (zero-copy): publish, list and expire snapshots')
      .on('--help', () => context.stdout.write(HELP))

    common(iceberg.command('publish').description("publish the next snapshot of each topic's Iceberg table"))
      .option('--glue-database <db>', 'also point the AWS Glue table (see: everlog athena create --iceberg) at it')
      .option('--glue-table <name>', 'the Glue table (default: the topic name lowercased, other characters as _)')
      .on('--help', () => context.stdout.write(HELP))
      .action(async (options: IcebergOptions) => {
        const store = context.openStore(options.store)
        try {
          for (const topic of await topicsFor(store, options)) {
            const r = await publishIceberg(store, topic)
            if (options.glueDatabase) {
              const g = await registerIcebergTable({
                store: store.url,
                topic,
                database: options.glueDatabase,
                table: options.glueTable,
                metadataLocation: `${storeLocation(store)}/${r.metadataKey}`,
              })
              context.stderr.write(`everlog: ${g.action} Glue table ${options.glueDatabase}.${g.table}\n`)
            }
            if (options.json) await write(context.stdout, jsonLine(r))
            else if (r.published)
              await write(
                context.stdout,
                `${topic}: published snapshot ${r.snapshotId} (metadata v${r.version}): +${r.addedFiles} segments, ` +
                  `+${r.addedRecords} records; ${r.totalFiles} segments, ${r.totalRecords} records in all\n`,
              )
            else
              await write(
                context.stdout,
                `${topic}: up to date (metadata v${r.version}, ${r.totalFiles} segments, ${r.totalRecords} records)\n`,
              )
          }
        } finally {
          await store.close()
        }
      })

    common(iceberg.command('snapshots').description("list the snapshots of each topic's Iceberg table")).action(
      async (options: IcebergOptions) => {
        const store = context.openStore(options.store)
        try {
          for (const topic of await topicsFor(store, options)) {
            const table = await readIcebergTable(store, topic)
            if (!table) {
              await write(
                context.stdout,
                `${topic}: no Iceberg table yet (run: everlog iceberg publish --topic ${topic})\n`,
              )
              continue
            }
            const current = table.metadata['current-snapshot-id']
            for (const s of table.metadata.snapshots) {
              const row = {
                topic,
                snapshotId: s['snapshot-id'],
                time: new Date(s['timestamp-ms']).toISOString(),
                current: s['snapshot-id'] === current,
                records: Number(s.summary['total-records'] ?? 0),
                segments: Number(s.summary['total-data-files'] ?? 0),
              }
              if (options.json) await write(context.stdout, jsonLine(row))
              else
                await write(
                  context.stdout,
                  `${topic} ${row.snapshotId} ${row.time} ${row.segments} segments ${row.records} records${row.current ? ' (current)' : ''}\n`,
                )
            }
          }
        } finally {
          await store.close()
        }
      },
    )

    common(iceberg.command('expire').description('drop old snapshots from the Iceberg metadata (segments stay)'))
      .option('--older-than <age>', 'expire snapshots older than this: 7d, 12h, 30m, 90s or an ISO time', '7d')
      .option('--retain-last <n>', 'always keep this many newest snapshots', '1')
      .action(async (options: IcebergOptions) => {
        const retainLast = Number(options.retainLast)
        if (!Number.isInteger(retainLast) || retainLast < 1)
          throw new UsageError(`--retain-last ${options.retainLast}: expected an integer >= 1`)
        const olderThanMs = parseCutoff(options.olderThan ?? '7d', Date.now())
        const store = context.openStore(options.store)
        try {
          for (const topic of await topicsFor(store, options)) {
            const r = await expireIcebergSnapshots(store, topic, { olderThanMs, retainLast })
            if (options.json) await write(context.stdout, jsonLine(r))
            else
              await write(
                context.stdout,
                `${topic}: expired ${r.expired.length} snapshots, ${r.kept} kept` +
                  (r.expired.length ? ` (metadata v${r.version}, ${r.deletedFiles} manifest files deleted)` : '') +
                  '\n',
              )
          }
        } finally {
          await store.close()
        }
      })
  },
}

// `everlog offsets translate`: where a source offset landed in a restored topic, from the archive's offset map.
import { validatePartition, validateTopicName } from '@everlog/core'
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import type { CliCommand, CommandModule } from '../program.js'
import { listOffsetMapSources, OffsetMapReader } from '@everlog/core'
import { parseOffset } from '../restore/options.js'

interface TranslateFlags {
  store?: string
  topic?: string
  source?: string
  partition?: string
  offset?: string
  json?: boolean
}

const HELP = `
Translates an offset of the archived (source) topic into the offset the same record got when \`everlog restore\`
wrote it into --topic. Status:
  exact         the record was restored at that offset
  next          no record was restored at the source offset (compacted away, a transaction marker, a skipped
                gap): the offset of the next restored record, where a Kafka consumer at that position resumes
  before-start  below the restored range: the first restored record
  end           at or past the end of what was restored: the end of the restored records (the log end, if
                nothing else was written to the topic since)
Committed consumer offsets translate the same way (they name the next record to read).

The map is plain Parquet (columns source_offset, target_offset; Hive partitions source= and partition=), so SQL
engines read it directly, e.g. DuckDB on a file archive:
  SELECT target_offset FROM read_parquet('/var/lib/everlog/orders-restored/offset-map/*/*/*.parquet',
    hive_partitioning = true) WHERE source = 'orders' AND "partition" = 0 AND source_offset >= 1234
  ORDER BY source_offset LIMIT 1
and Athena with partition projection:
  CREATE EXTERNAL TABLE orders_restored_offset_map (source_offset bigint, target_offset bigint)
  PARTITIONED BY (source string, \`partition\` int) STORED AS PARQUET
  LOCATION 's3://bucket/archive/orders-restored/offset-map/'
  TBLPROPERTIES ('projection.enabled'='true', 'projection.source.type'='enum', 'projection.source.values'='orders',
    'projection.partition.type'='integer', 'projection.partition.range'='0,999')
(Athena skips the _manifest.json next to the Parquet files: names starting with _ are not data.)

Examples:
  $ everlog offsets translate --store file:///var/lib/everlog --topic orders-restored --partition 0 --offset 1234
  $ everlog offsets translate --store s3://bucket/archive --topic orders --source orders --partition 3 --offset 0 --json
`

export const offsetsCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    const offsets = program
      .command('offsets')
      .description('offset maps of restored topics: translate source offsets to restored offsets')
    offsets
      .command('translate')
      .description('translate a source offset to its offset in the restored topic')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
      .option('--topic <topic>', 'the restored (target) topic (required)')
      .option(
        '--source <topic>',
        'the archived topic it was restored from (default: the only one restored into --topic)',
      )
      .option('--partition <n>', 'partition (required)')
      .option('--offset <n>', 'source offset (required)')
      .option('--json', 'print the translation as JSON')
      .addHelpText('after', HELP)
      .action(async (flags: TranslateFlags) => {
        if (flags.topic === undefined) throw new UsageError('offsets translate needs --topic <restored topic>')
        if (flags.partition === undefined || !/^\d{1,10}$/.test(flags.partition)) {
          throw new UsageError(`offsets translate needs --partition <n> (an integer >= 0)`)
        }
        const offset = parseOffset('--offset', flags.offset)
        if (offset === undefined) throw new UsageError('offsets translate needs --offset <n>')
        const target = validateTopicName(flags.topic)
        const partition = validatePartition(Number(flags.partition))
        const store = context.openStore(flags.store)
        try {
          let source = flags.source
          if (source === undefined) {
            const sources = await listOffsetMapSources(store, target)
            if (sources.length !== 1) {
              throw new UsageError(
                sources.length === 0
                  ? `no offset map under "${target}" in ${store.url}: was it restored with \`everlog restore\`?`
                  : `"${target}" was restored from several topics (${sources.join(', ')}): pick one with --source`,
              )
            }
            source = sources[0]!
          }
          const t = await new OffsetMapReader(store).translate(target, validateTopicName(source), partition, offset)
          const text = flags.json
            ? JSON.stringify({
                sourceTopic: source,
                targetTopic: target,
                partition,
                sourceOffset: t.sourceOffset.toString(),
                targetOffset: t.targetOffset.toString(),
                status: t.status,
              })
            : `${source}/${partition}@${t.sourceOffset} -> ${target}/${partition}@${t.targetOffset} (${t.status})`
          await write(context.stdout, text + '\n')
        } finally {
          await store.close()
        }
      })
  },
}

// `everlog restore`: produce archived records back into Kafka, keeping an offset map in the archive.
import { formatBytes, table } from '../format.js'
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import type { CliCommand, CommandModule } from '../program.js'
import {
  collect,
  conditionalWritesMode,
  parseCompression,
  parseConfigs,
  parseOffset,
  parsePartitionList,
  parsePositive,
  parseTimeFlag,
} from '../restore/options.js'
import { progressReporter } from '../restore/progress.js'
import { restoreTopic } from '../restore/restore.js'
import { addKafkaOptions, kafkaClient } from '../kafka-options.js'
import type { KafkaFlags } from '../kafka-options.js'
import type { RestoreOptions, RestoreResult } from '../restore/restore.js'

interface RestoreFlags extends KafkaFlags {
  store?: string
  topic?: string
  toTopic?: string
  partitions?: string
  fromOffset?: string
  fromTime?: string
  toOffset?: string
  toTime?: string
  rate?: string
  dryRun?: boolean
  allowNonEmpty?: boolean
  skipGaps?: boolean
  nullHeaders: string
  config?: string[]
  replicationFactor?: string
  compression: string
  concurrency?: string
  resetMap?: boolean
  json?: boolean
  unsafeSingleWriter?: boolean
}

const HELP = `
Records keep their partition, key, value (null values stay tombstones), headers and timestamp (CreateTime); they
get new offsets. A missing target topic is created with the archived partition count and configs (topic.json).
Writes use an idempotent producer. --to-time is exclusive: the restore stops before the first record at or after it.

Offset map: every restored record's source offset -> new offset is written to the archive as Parquet under
  <to-topic>/offset-map/source=<topic>/partition=<p>/  (Hive layout: read it with DuckDB or Athena)
Look offsets up with \`everlog offsets translate\`; move consumer groups with \`everlog restore-groups\`.

Resuming: the offset map is the checkpoint, committed every 5 seconds (or 500 000 records). Run the same command
again after a crash or Ctrl-C and it continues where the map ends. Records the earlier run produced after its last
map commit are read back from the target, checked to be exactly the next archived records, and added to the map
instead of being produced twice: no duplicates, no loss. A target partition holding anything else stops the
restore. A target topic that already has records (and no map) is refused unless --allow-non-empty is given.

Examples:
  $ everlog restore --store s3://bucket/archive --brokers kafka:9092 --topic orders
  $ everlog restore --store file:///var/lib/everlog --brokers localhost:9092 --topic orders --to-topic orders-replay \\
      --from-time 2024-05-01T00:00:00Z --to-time 2024-05-02T00:00:00Z --rate 20
  $ everlog restore --store file:///var/lib/everlog --brokers localhost:9092 --topic orders --dry-run
`

export const restoreCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    const command = program
      .command('restore')
      .description('produce archived records of a topic back into Kafka, with an offset map (resumable)')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
    addKafkaOptions(command)
      .option('--topic <topic>', 'archived topic to restore (required)')
      .option('--to-topic <topic>', 'Kafka topic to write (default: the same name)')
      .option('--partitions <list>', 'only these partitions, e.g. 0,1,5 (default: all archived)')
      .option('--from-offset <n>', 'first source offset to restore')
      .option('--from-time <time>', 'start at the first record with timestamp >= this ISO 8601 time or epoch ms')
      .option('--to-offset <n>', 'last source offset to restore (inclusive)')
      .option('--to-time <time>', 'stop before the first record with timestamp >= this time (exclusive)')
      .option('--rate <MB/s>', 'limit the restore to this many megabytes (10^6 bytes) of records per second')
      .option('--dry-run', 'show what would be restored; write nothing to Kafka or the archive')
      .option('--allow-non-empty', 'append after records already in the target topic')
      .option('--skip-gaps', 'continue past offsets Kafka deleted before they were archived (noted on stderr)')
      .option(
        '--null-headers <policy>',
        'header values that are null: error, or empty (kafkajs cannot send null)',
        'error',
      )
      .option(
        '--config <name=value>',
        'topic config for a created target, over the archived ones; name= drops one (repeatable)',
        collect,
      )
      .option('--replication-factor <n>', 'replication factor of a created target (default: the broker default)')
      .option('--compression <codec>', 'produce compression: none, gzip, snappy, lz4, zstd', 'none')
      .option('--concurrency <n>', 'partitions restored at the same time', '4')
      .option('--reset-map', 'delete the offset map of the selected partitions first (after deleting the target topic)')
      .option('--json', 'print the result as JSON')
      .option(
        '--unsafe-single-writer',
        'write the offset map even on a store that does not honour conditional writes (run one restore at a time)',
      )
      .addHelpText('after', HELP)
      .action(async (flags: RestoreFlags) => {
        await restore(flags, context)
      })
  },
}

async function restore(flags: RestoreFlags, context: CliContext): Promise<void> {
  if (flags.topic === undefined) throw new UsageError('restore needs --topic <topic> (see `everlog ls`)')
  if (flags.fromOffset !== undefined && flags.fromTime !== undefined) {
    throw new UsageError('give --from-offset or --from-time, not both')
  }
  if (flags.toOffset !== undefined && flags.toTime !== undefined) {
    throw new UsageError('give --to-offset or --to-time, not both')
  }
  if (flags.nullHeaders !== 'error' && flags.nullHeaders !== 'empty') {
    throw new UsageError(`--null-headers must be error or empty, got "${flags.nullHeaders}"`)
  }
  const rate = parsePositive('--rate', flags.rate)
  const concurrency = parsePositive('--concurrency', flags.concurrency)
  const replication = parsePositive('--replication-factor', flags.replicationFactor)
  const target = flags.toTopic ?? flags.topic
  const client = await kafkaClient(flags, context, 'everlog-restore')
  const store = context.openStore(flags.store)
  const progress = flags.dryRun ? undefined : progressReporter(context.stderr, `restore ${flags.topic} -> ${target}`)
  // Ctrl-C stops after the produce in flight, commits the offset map, and exits: the same command resumes.
  const controller = new AbortController()
  const onSignal = () => controller.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let result: RestoreResult
  try {
    const request: RestoreOptions = {
      store,
      kafka: client.kafka,
      topic: flags.topic,
      toTopic: flags.toTopic,
      partitions: parsePartitionList('--partitions', flags.partitions),
      fromOffset: parseOffset('--from-offset', flags.fromOffset),
      fromTimestamp: parseTimeFlag('--from-time', flags.fromTime),
      toOffset: parseOffset('--to-offset', flags.toOffset),
      toTimestamp: parseTimeFlag('--to-time', flags.toTime),
      rateBytesPerSecond: rate === undefined ? undefined : rate * 1_000_000,
      dryRun: flags.dryRun === true,
      allowNonEmpty: flags.allowNonEmpty === true,
      skipGaps: flags.skipGaps === true,
      nullHeaders: flags.nullHeaders,
      configs: parseConfigs(flags.config),
      replicationFactor: replication === undefined ? undefined : Math.floor(replication),
      compression: parseCompression(flags.compression),
      concurrency: concurrency === undefined ? undefined : Math.floor(concurrency),
      resetMap: flags.resetMap === true,
      conditionalWrites: conditionalWritesMode(flags.unsafeSingleWriter, context),
      signal: controller.signal,
      onProgress: progress ? (p) => progress.update(p) : undefined,
      onNotice: (m) => context.stderr.write(`everlog: ${m}\n`),
    }
    result = await client.run(() => restoreTopic(request), { topics: [target] })
  } catch (err) {
    if (controller.signal.aborted && (err as Error).name === 'AbortError') {
      throw new UsageError('restore interrupted; the offset map is committed: run the same command again to resume')
    }
    throw err
  } finally {
    progress?.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await store.close()
  }
  await report(result, flags.json === true, context)
}

async function report(r: RestoreResult, json: boolean, context: CliContext): Promise<void> {
  if (json) {
    await write(
      context.stdout,
      JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
    )
    return
  }
  const rows = r.partitions.map((p) => [
    String(p.partition),
    p.toOffset < p.fromOffset ? '-' : `${p.fromOffset}..${p.toOffset}`,
    r.dryRun ? String(p.resumeOffset) : String(p.sourceNext),
    r.dryRun ? String(p.estimatedRecords) : String(p.produced),
    r.dryRun ? String(p.toReconcile) : String(p.reconciled),
    r.dryRun ? String(p.targetHigh) : String(p.targetNext),
  ])
  const header = r.dryRun
    ? ['PARTITION', 'RANGE', 'RESUME AT', 'TO RESTORE', 'TO RECONCILE', 'TARGET END']
    : ['PARTITION', 'RANGE', 'NEXT SOURCE', 'PRODUCED', 'RECONCILED', 'TARGET END']
  let text = table(header, rows, new Set([0, 2, 3, 4, 5]))
  if (r.dryRun) {
    text +=
      (r.createTopic
        ? `would create topic "${r.targetTopic}" with ${r.topicPartitions} partitions` +
          (Object.keys(r.topicConfigs).length > 0
            ? ` and configs ${Object.entries(r.topicConfigs)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}`
            : '')
        : `topic "${r.targetTopic}" exists with ${r.topicPartitions} partitions`) + '\ndry run: nothing was written\n'
  } else {
    const seconds = r.durationMs / 1000
    text +=
      `restored ${r.records} records (${formatBytes(r.bytes)}) of "${r.sourceTopic}" into "${r.targetTopic}" in ` +
      `${seconds.toFixed(1)} s (${formatBytes(r.bytes / Math.max(seconds, 0.001))}/s)\n`
  }
  await write(context.stdout, text)
}

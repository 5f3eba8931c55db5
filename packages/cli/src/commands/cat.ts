// `everlog cat`: print archived records as JSON lines, straight from object storage (no Kafka involved).
import { ArchiveReader, DataLossError, describeTopic, validatePartition, validateTopicName } from '@everlog/core'
import type { GapEntry, ObjectStore } from '@everlog/core'
import type { CliContext } from '../context.js'
import { CommandFailed, UsageError, write } from '../context.js'
import { BYTES_ENCODINGS, recordJson } from '../format.js'
import type { BytesEncoding } from '../format.js'
import type { CliCommand, CommandModule } from '../program.js'
import { parseTimeFlag } from '../time.js'

interface CatOptions {
  store?: string
  topic?: string
  partition?: string
  fromOffset?: string
  fromTime?: string
  toOffset?: string
  limit?: string
  encoding: string
  skipGaps?: boolean
}

const HELP = `
Each record is one JSON line:
  {"topic":"orders","partition":0,"offset":"42","timestamp":"1714521600000","key":"k1","value":"...","headers":[["h","v"]]}
offset and timestamp (epoch ms) are strings so int64 values survive any JSON reader; a null key or value (a
tombstone) stays null. Without --partition every partition is printed, one after the other in partition order.
utf8 replaces bytes that are not valid UTF-8; use --encoding base64 or hex for binary keys and values.

Examples:
  $ everlog cat --store file:///var/lib/everlog --topic orders --partition 0 --from-offset 1000 --limit 5
  $ everlog cat --store s3://my-bucket/archive --topic orders --from-time 2024-05-01T00:00:00Z --encoding base64
  $ everlog cat --store file:///var/lib/everlog --topic orders --to-offset 99 | jq -r .value
`

export const catCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    program
      .command('cat')
      .description('print archived records of a topic as JSON lines')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
      .option('--topic <topic>', 'the topic to read (required)')
      .option('--partition <n>', 'only this partition (default: all, in order)')
      .option('--from-offset <n>', 'start at this offset (default: the first archived offset)')
      .option(
        '--from-time <time>',
        'start at the first record with timestamp >= this time (ISO 8601, epoch seconds or epoch ms)',
      )
      .option('--to-offset <n>', 'stop after this offset (inclusive)')
      .option('--limit <n>', 'print at most this many records in total')
      .option('--encoding <encoding>', 'how keys, values and header values are printed: utf8, base64 or hex', 'utf8')
      .option('--skip-gaps', 'continue past offsets Kafka deleted before they were archived (noted on stderr)')
      .addHelpText('after', HELP)
      .action(async (options: CatOptions) => {
        const parsed = parseCatOptions(options)
        const store = context.openStore(options.store)
        try {
          await cat(store, parsed, context)
        } finally {
          await store.close()
        }
      })
  },
}

interface CatPlan {
  topic: string
  partition: number | undefined
  fromOffset: bigint | undefined
  fromTimestamp: bigint | undefined
  toOffset: bigint | undefined
  limit: number
  encoding: BytesEncoding
  skipGaps: boolean
}

function offsetOption(name: string, v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined
  if (!/^\d{1,19}$/.test(v)) throw new UsageError(`${name} must be an offset (an integer >= 0), got "${v}"`)
  return BigInt(v)
}

function parseCatOptions(o: CatOptions): CatPlan {
  if (o.topic === undefined)
    throw new UsageError('cat needs --topic <topic> (see `everlog ls` for the archived topics)')
  if (o.fromOffset !== undefined && o.fromTime !== undefined) {
    throw new UsageError('give --from-offset or --from-time, not both')
  }
  if (!BYTES_ENCODINGS.includes(o.encoding as BytesEncoding)) {
    throw new UsageError(`--encoding must be one of ${BYTES_ENCODINGS.join(', ')}, got "${o.encoding}"`)
  }
  let partition: number | undefined
  if (o.partition !== undefined) {
    if (!/^\d{1,10}$/.test(o.partition))
      throw new UsageError(`--partition must be an integer >= 0, got "${o.partition}"`)
    partition = validatePartition(Number(o.partition))
  }
  let limit = Infinity
  if (o.limit !== undefined) {
    if (!/^\d{1,15}$/.test(o.limit)) throw new UsageError(`--limit must be an integer >= 0, got "${o.limit}"`)
    limit = Number(o.limit)
  }
  const fromOffset = offsetOption('--from-offset', o.fromOffset)
  const toOffset = offsetOption('--to-offset', o.toOffset)
  if (fromOffset !== undefined && toOffset !== undefined && fromOffset > toOffset) {
    throw new UsageError(`--from-offset ${fromOffset} is after --to-offset ${toOffset}: the range is empty`)
  }
  return {
    topic: validateTopicName(o.topic),
    partition,
    fromOffset,
    fromTimestamp: parseTimeFlag('--from-time', o.fromTime),
    toOffset,
    limit,
    encoding: o.encoding as BytesEncoding,
    skipGaps: o.skipGaps === true,
  }
}

async function cat(store: ObjectStore, plan: CatPlan, context: CliContext): Promise<void> {
  const partitions =
    plan.partition !== undefined
      ? [plan.partition]
      : (await describeTopic(store, plan.topic)).partitions.filter((p) => p.head?.root).map((p) => p.partition)
  const reader = new ArchiveReader(store)
  let left = plan.limit
  for (const partition of partitions) {
    if (left <= 0) return
    const onGapSkipped = (g: GapEntry) =>
      context.stderr.write(
        `everlog: skipped offsets ${g.firstOffset}..${g.lastOffset} of ${plan.topic}/${partition}: not archived (${g.reason})\n`,
      )
    const batches = reader.readBatches({
      topic: plan.topic,
      partition,
      fromOffset: plan.fromOffset,
      fromTimestamp: plan.fromTimestamp,
      toOffset: plan.toOffset,
      onGap: plan.skipGaps ? 'skip' : 'error',
      onGapSkipped,
    })
    let printed = 0
    try {
      for await (const { records } of batches) {
        const n = Math.min(records.length, left)
        printed += n
        // One write per batch: far fewer syscalls than a line at a time.
        let text = ''
        for (let i = 0; i < n; i++) text += recordJson(plan.topic, partition, records[i]!, plan.encoding) + '\n'
        await write(context.stdout, text)
        left -= n
        if (left <= 0) break
      }
    } catch (err) {
      if (!(err instanceof DataLossError)) throw err
      throw new CommandFailed(
        `data loss: offsets ${err.firstOffset}..${err.lastOffset} of ${err.topic}/${err.partition} are not in the ` +
          `archive (${err.reason}); pass --skip-gaps to print the records after them`,
        { cause: err },
      )
    }
    if (printed === 0 && plan.fromOffset !== undefined && left > 0) {
      // Nothing at or after --from-offset: say where the partition's archive ends rather than print nothing.
      const head = await reader.head(plan.topic, partition)
      const end = head?.nextOffset ?? 0n
      if (plan.fromOffset >= end) {
        await write(
          context.stderr,
          `everlog: ${plan.topic}/${partition} has nothing at or after offset ${plan.fromOffset}: ` +
            `the archive ends before offset ${end}\n`,
        )
      }
    }
  }
}

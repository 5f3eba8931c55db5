// `everlog restore` as a library: archived records back into Kafka with an idempotent producer, partition by
// partition, recording source offset -> new offset in the archive's offset map as it goes.
//
// Resuming: each partition's offset map manifest is the restore's checkpoint. It is created (with the target's
// high watermark) before anything is produced, and committed every 5 seconds (or 500 000 records). A new run
// continues at the manifest's sourceNext. Records a crashed run produced after its last map commit sit in the
// target between the manifest's targetNext and the partition's high watermark: the new run reads them back,
// checks they are exactly the next archived records (key, value, headers, timestamp) and adds them to the map
// instead of producing them again. Anything else there is a conflict and stops the restore. No duplicates, no loss.
import { hostname } from 'node:os'
import {
  ArchiveReader,
  describeTopic,
  InvalidArgumentError,
  iterateEntries,
  rawRecordBytes,
  readTopicMeta,
  StoreNodeSource,
  validatePartition,
  validateTopicName,
} from '@everlog/core'
import type { GapEntry, Head, ObjectStore } from '@everlog/core'
import { CompressionTypes } from 'kafkajs'
import type { Admin, Kafka, Producer } from 'kafkajs'
import { RestoreConflictError, TargetNotEmptyError } from './errors.js'
import { sameRecord, toProducerMessage } from './messages.js'
import type { NullHeaderPolicy } from './messages.js'
import {
  checkConditionalWrites,
  checkKafkaProtocol,
  deleteOffsetMap,
  OffsetMapWriter,
  readOffsetMapManifest,
} from '@everlog/core'
import type { ConditionalWritesMode, OffsetMapManifest } from '@everlog/core'
import { unfencedNotice } from './options.js'
import { RateLimiter } from './rate.js'
import { createTarget, describeTarget, readTargetRanges } from './target.js'
import type { TargetState } from './target.js'

/** What a restore sends: the target's metadata and configs, topic creation, the idempotent producer, read-backs. */
const RESTORE_REQUESTS = [
  'Metadata',
  'CreateTopics',
  'DescribeConfigs',
  'ListOffsets',
  'Fetch',
  'InitProducerId',
  'Produce',
] as const

export interface RestoreProgress {
  /** Records produced (or adopted by reconciliation) in this run. */
  records: number
  /** Raw record bytes (key + value + headers) of those records. */
  bytes: number
  /** Estimated records this run has to restore in total (from the index; exact for whole segments). */
  totalRecords: number
  partitionsDone: number
  partitions: number
}

export interface RestoreHooks {
  /** After a produce was acknowledged and before its entries are committed to the map (crash tests). */
  afterSend?: (partition: number, lastSourceOffset: bigint, lastTargetOffset: bigint) => Promise<void> | void
}

export interface RestoreOptions {
  store: ObjectStore
  /** The target cluster. */
  kafka: Kafka
  /** Archived topic to restore. */
  topic: string
  /** Kafka topic to write; default the same name. */
  toTopic?: string
  /** Default: every archived partition. */
  partitions?: number[]
  fromOffset?: bigint
  /** Start at the first record with timestamp >= this (epoch ms), per partition. */
  fromTimestamp?: bigint
  /** Last source offset to restore, inclusive. */
  toOffset?: bigint
  /** Stop before the first record with timestamp >= this (epoch ms), per partition. */
  toTimestamp?: bigint
  /** Raw record bytes per second over all partitions; default unlimited. */
  rateBytesPerSecond?: number
  /** Plan only: read the archive and the target's state, write nothing. */
  dryRun?: boolean
  /** Append after records already in a target partition that no earlier run of this restore wrote. */
  allowNonEmpty?: boolean
  /** Delete the selected partitions' offset maps first and restore them from scratch (after deleting the target). */
  resetMap?: boolean
  /** Continue past gaps (offsets Kafka deleted before they were archived) instead of stopping. */
  skipGaps?: boolean
  nullHeaders?: NullHeaderPolicy
  /** Topic configs for a created target, over those archived in topic.json; an empty value drops one. */
  configs?: Record<string, string>
  replicationFactor?: number
  compression?: CompressionTypes
  /** Partitions restored at the same time. Default 4. */
  concurrency?: number
  /** Per produce request and partition. Defaults 2000 records, 512 KiB (and a quarter second's worth under --rate). */
  batchRecords?: number
  batchBytes?: number
  /** Offset map commits: after this many records or milliseconds, whichever first. Defaults 500000 and 5000. */
  mapFlushRecords?: number
  mapFlushMs?: number
  /** Written into the map's manifests. */
  writer?: string
  /** Whether the store must prove it fences the offset maps' manifests before the first write. Default 'required'. */
  conditionalWrites?: ConditionalWritesMode
  signal?: AbortSignal
  onProgress?: (progress: RestoreProgress) => void
  /** Human-readable notes (gaps skipped, configs copied, reconciliation). */
  onNotice?: (message: string) => void
  hooks?: RestoreHooks
}

export interface PartitionPlan {
  partition: number
  /** First source offset of the asked range. */
  fromOffset: bigint
  /** Last source offset of the asked range, inclusive; below fromOffset when there is nothing to restore. */
  toOffset: bigint
  /** Where this run starts: fromOffset, or the offset map's resume point when an earlier run got further. */
  resumeOffset: bigint
  estimatedRecords: number
  /** The map's state before this run; undefined for a first run. */
  manifest: OffsetMapManifest | undefined
  targetLow: bigint
  targetHigh: bigint
  /** Records a crashed run produced after its last map commit (read back and checked, not produced again). */
  toReconcile: bigint
}

export interface PartitionResult extends PartitionPlan {
  produced: number
  reconciled: number
  gapsSkipped: number
  /** The map's resume point and target end after this run. */
  sourceNext: bigint
  targetNext: bigint
}

export interface RestoreResult {
  sourceTopic: string
  targetTopic: string
  dryRun: boolean
  /** The target topic was missing and was (or, in a dry run, would be) created. */
  createTopic: boolean
  topicPartitions: number
  topicConfigs: Record<string, string>
  partitions: PartitionResult[]
  records: number
  bytes: number
  durationMs: number
}

const defaults = {
  concurrency: 4,
  batchRecords: 2000,
  batchBytes: 512 * 1024,
  mapFlushRecords: 500_000,
  mapFlushMs: 5000,
}

export async function restoreTopic(options: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now()
  const source = validateTopicName(options.topic)
  const target = validateTopicName(options.toTopic ?? source)
  const { store, kafka } = options
  const notice = options.onNotice ?? (() => {})
  if (options.fromOffset !== undefined && options.fromTimestamp !== undefined) {
    throw new InvalidArgumentError('restore: give a from offset or a from time, not both')
  }
  if (options.toOffset !== undefined && options.toTimestamp !== undefined) {
    throw new InvalidArgumentError('restore: give a to offset or a to time, not both')
  }
  const description = await describeTopic(store, source)
  const meta = await readTopicMeta(store, source)
  const archived = description.partitions
  const selected = [...new Set(options.partitions ?? archived.filter((p) => p.head?.root).map((p) => p.partition))]
  for (const p of selected) {
    validatePartition(p)
    if (!archived.some((a) => a.partition === p)) {
      throw new InvalidArgumentError(
        `partition ${p} of "${source}" is not in the archive (archived: ${archived.map((a) => a.partition).join(', ') || 'none'})`,
      )
    }
  }
  const topicPartitions = Math.max(meta?.partitions ?? 0, ...archived.map((a) => a.partition + 1), 1)
  const topicConfigs: Record<string, string> = { ...(meta?.configs ?? {}) }
  if (meta?.cleanupPolicy !== undefined) topicConfigs['cleanup.policy'] = meta.cleanupPolicy
  // An empty value drops an archived config the target cluster would refuse (or should not get).
  for (const [name, value] of Object.entries(options.configs ?? {})) {
    if (value === '') delete topicConfigs[name]
    else topicConfigs[name] = value
  }

  const admin = kafka.admin()
  await admin.connect()
  try {
    await checkKafkaProtocol(kafka, RESTORE_REQUESTS, 'everlog restore (kafkajs 2.2.4)')
    const targetState = await describeTarget(admin, target)
    if (targetState.exists) {
      const tooHigh = selected.filter((p) => p >= targetState.partitions)
      if (tooHigh.length > 0) {
        throw new InvalidArgumentError(
          `target topic "${target}" has ${targetState.partitions} partitions; partition(s) ${tooHigh.join(', ')} ` +
            `cannot be restored into it (the archive has ${topicPartitions}): add partitions or restore into a new topic`,
        )
      }
    }
    const reader = new ArchiveReader(store)
    const heads = new Map(archived.map((a) => [a.partition, a.head]))
    const plans: PartitionPlan[] = []
    for (const p of selected.sort((a, b) => a - b)) {
      plans.push(await planPartition(options, reader, source, target, p, heads.get(p), targetState))
    }
    checkTargets(target, plans, targetState, options.allowNonEmpty === true)

    const result: RestoreResult = {
      sourceTopic: source,
      targetTopic: target,
      dryRun: options.dryRun === true,
      createTopic: !targetState.exists,
      topicPartitions: targetState.exists ? targetState.partitions : topicPartitions,
      topicConfigs,
      partitions: plans.map((p) => ({
        ...p,
        produced: 0,
        reconciled: 0,
        gapsSkipped: 0,
        sourceNext: p.manifest?.sourceNext ?? p.resumeOffset,
        targetNext: p.manifest?.targetNext ?? p.targetHigh,
      })),
      records: 0,
      bytes: 0,
      durationMs: 0,
    }
    if (options.dryRun) {
      result.durationMs = performance.now() - started
      return result
    }

    // The offset map's manifests are the restore's checkpoints, replaced with conditional writes like HEAD.
    const fencing = await checkConditionalWrites(store, options.conditionalWrites ?? 'required')
    if (!fencing.fenced) notice(unfencedNotice(fencing))
    if (options.resetMap) {
      for (const p of plans) {
        if ((await deleteOffsetMap(store, target, source, p.partition)) > 0) {
          notice(`deleted the offset map of ${source} -> ${target} partition ${p.partition} (--reset-map)`)
        }
      }
    }
    if (!targetState.exists) {
      notice(
        `creating topic "${target}" with ${topicPartitions} partitions` +
          (Object.keys(topicConfigs).length > 0
            ? ` and configs ${Object.entries(topicConfigs)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}`
            : ''),
      )
      warnRetention(topicConfigs, archived, notice)
      await createTarget(admin, target, topicPartitions, topicConfigs, options.replicationFactor)
    }
    await new Run(options, admin, reader, source, target, result, started).execute()
    result.durationMs = performance.now() - started
    return result
  } finally {
    await admin.disconnect()
  }
}

async function planPartition(
  options: RestoreOptions,
  reader: ArchiveReader,
  source: string,
  target: string,
  partition: number,
  head: Head | undefined,
  targetState: TargetState,
): Promise<PartitionPlan> {
  const marks = targetState.watermarks.get(partition) ?? { low: 0n, high: 0n }
  // --reset-map: plan (and check the target) as a first run; the old map is deleted only when writing starts.
  const manifest = options.resetMap
    ? undefined
    : (await readOffsetMapManifest(options.store, target, source, partition))?.manifest
  const empty = (from: bigint): PartitionPlan => ({
    partition,
    fromOffset: from,
    toOffset: from - 1n,
    resumeOffset: from,
    estimatedRecords: 0,
    manifest,
    targetLow: marks.low,
    targetHigh: marks.high,
    toReconcile: 0n,
  })
  if (head === undefined || head.root === null || head.firstOffset === null) return empty(0n)
  let from = options.fromOffset ?? head.firstOffset
  if (options.fromTimestamp !== undefined) {
    from = (await reader.offsetForTimestamp(source, partition, options.fromTimestamp)) ?? head.nextOffset
  }
  let to = head.nextOffset - 1n
  if (options.toOffset !== undefined && options.toOffset < to) to = options.toOffset
  if (options.toTimestamp !== undefined) {
    const stop = await reader.offsetForTimestamp(source, partition, options.toTimestamp)
    if (stop !== undefined && stop - 1n < to) to = stop - 1n
  }
  if (from < head.firstOffset) from = head.firstOffset
  const resume = manifest !== undefined && manifest.sourceNext > from ? manifest.sourceNext : from
  const plan = empty(from)
  plan.toOffset = to
  plan.resumeOffset = resume
  plan.toReconcile = manifest !== undefined && marks.high > manifest.targetNext ? marks.high - manifest.targetNext : 0n
  if (resume <= to) {
    const src = new StoreNodeSource(options.store, source, partition)
    let estimate = 0
    for await (const e of iterateEntries(src, head.root, { fromOffset: resume, toOffset: to })) {
      if (e.kind !== 'segment' || e.lastOffset < resume || e.firstOffset > to) continue
      const lo = e.firstOffset > resume ? e.firstOffset : resume
      const hi = e.lastOffset < to ? e.lastOffset : to
      estimate += Math.round((e.records * Number(hi - lo + 1n)) / Number(e.lastOffset - e.firstOffset + 1n))
    }
    plan.estimatedRecords = estimate
  }
  return plan
}

function checkTargets(target: string, plans: PartitionPlan[], state: TargetState, allowNonEmpty: boolean): void {
  const occupied = plans.filter((p) => p.manifest === undefined && p.targetHigh > p.targetLow)
  if (occupied.length > 0 && !allowNonEmpty) {
    throw new TargetNotEmptyError(
      target,
      occupied.map((p) => ({ partition: p.partition, low: p.targetLow, high: p.targetHigh })),
    )
  }
  for (const p of plans) {
    if (p.manifest === undefined || p.targetHigh >= p.manifest.targetNext) continue
    throw new RestoreConflictError(
      `target "${target}" partition ${p.partition} ends at offset ${p.targetHigh} but the offset map of an earlier ` +
        `restore says it wrote up to ${p.manifest.targetNext}${state.exists ? '' : ' (the topic does not exist)'}: ` +
        'the topic was deleted or truncated since; restore into a new topic, or pass --reset-map to start this ' +
        'topic over',
    )
  }
}

function warnRetention(
  configs: Record<string, string>,
  archived: { head: Head | undefined }[],
  notice: (m: string) => void,
) {
  const ms = Number(configs['retention.ms'] ?? NaN)
  if (!Number.isFinite(ms) || ms < 0) return
  const oldest = archived.reduce<bigint | undefined>(
    (min, a) =>
      a.head?.minTimestamp != null && (min === undefined || a.head.minTimestamp < min) ? a.head.minTimestamp : min,
    undefined,
  )
  if (oldest !== undefined && Number(oldest) < Date.now() - ms) {
    notice(
      `retention.ms=${ms} is copied from the source, and archived records are older than that: Kafka will delete ` +
        'them soon after the restore (pass --config retention.ms=-1 to keep them)',
    )
  }
}

/** One restore run after planning: reconcile, then produce every partition's range. */
class Run {
  private readonly limiter: RateLimiter
  private readonly batchRecords: number
  private readonly batchBytes: number
  private readonly progress: RestoreProgress
  private readonly writerName: string
  private producer: Producer | undefined
  /** Set when a partition failed: the others stop after their produce in flight. */
  private stopping = false

  constructor(
    private readonly options: RestoreOptions,
    private readonly admin: Admin,
    private readonly reader: ArchiveReader,
    private readonly source: string,
    private readonly target: string,
    private readonly result: RestoreResult,
    private readonly started: number,
  ) {
    this.limiter = new RateLimiter(options.rateBytesPerSecond ?? Infinity)
    this.batchRecords = options.batchRecords ?? defaults.batchRecords
    let bytes = options.batchBytes ?? defaults.batchBytes
    // Small enough that the limiter spreads a second's worth over a few sends.
    if (this.limiter.limited) bytes = Math.max(1024, Math.min(bytes, Math.floor(this.limiter.bytesPerSecond / 4)))
    this.batchBytes = bytes
    this.writerName = options.writer ?? `everlog-restore@${hostname()}:${process.pid}`
    this.progress = {
      records: 0,
      bytes: 0,
      totalRecords: result.partitions.reduce((n, p) => n + p.estimatedRecords, 0),
      partitionsDone: 0,
      partitions: result.partitions.length,
    }
  }

  async execute(): Promise<void> {
    const writers = new Map<number, OffsetMapWriter>()
    for (const p of this.result.partitions) {
      const writer = await OffsetMapWriter.open(this.options.store, {
        sourceTopic: this.source,
        targetTopic: this.target,
        partition: p.partition,
        writer: this.writerName,
        sourceStart: p.fromOffset,
        // allowNonEmpty: records already there are not ours, the map starts after them.
        targetNext: p.targetHigh,
      })
      writers.set(p.partition, writer)
    }
    await this.reconcile(writers)
    this.options.onProgress?.({ ...this.progress })
    this.producer = this.options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    })
    await this.producer.connect()
    try {
      const queue = [...this.result.partitions]
      const workers = Array.from(
        { length: Math.max(1, this.options.concurrency ?? defaults.concurrency) },
        async () => {
          for (let p = queue.shift(); p !== undefined && !this.stopping; p = queue.shift()) {
            try {
              await this.restorePartition(p, writers.get(p.partition)!)
            } catch (err) {
              this.stopping = true
              throw err
            }
            this.progress.partitionsDone++
            this.options.onProgress?.({ ...this.progress })
          }
        },
      )
      const settled = await Promise.allSettled(workers)
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failed) throw failed.reason
    } finally {
      await this.producer.disconnect()
      this.result.records = this.progress.records
      this.result.bytes = this.progress.bytes
      this.result.durationMs = performance.now() - this.started
    }
  }

  /** Adopts records a crashed run produced after its last map commit; see the file's opening comment. */
  private async reconcile(writers: Map<number, OffsetMapWriter>): Promise<void> {
    const ranges = new Map<number, { from: bigint; to: bigint }>()
    for (const p of this.result.partitions) {
      if (p.toReconcile > 0n) ranges.set(p.partition, { from: p.manifest!.targetNext, to: p.targetHigh })
    }
    if (ranges.size === 0) return
    this.options.onNotice?.(
      `reconciling ${[...ranges].map(([p, r]) => `${r.to - r.from} record(s) of partition ${p}`).join(', ')} ` +
        'produced by an earlier run after its last offset map commit',
    )
    const checks = new Map(
      [...ranges].map(([partition, range]) => {
        const writer = writers.get(partition)!
        const archived = this.reader.read({
          topic: this.source,
          partition,
          // No upper bound: the crashed run may have had a wider range than this one; what it wrote is still ours.
          fromOffset: writer.sourceNext,
          onGap: 'skip',
        })
        const result = this.result.partitions.find((p) => p.partition === partition)!
        return [partition, { writer, archived, result, expected: range.from }]
      }),
    )
    const nullHeaders = this.options.nullHeaders ?? 'error'
    try {
      await readTargetRanges(this.options.kafka, this.admin, this.target, ranges, async (partition, messages) => {
        const check = checks.get(partition)!
        for (const message of messages) {
          const offset = BigInt(message.offset)
          const next = await check.archived.next()
          if (offset !== check.expected || next.done || !sameRecord(next.value, message, nullHeaders)) {
            throw new RestoreConflictError(
              `target "${this.target}" partition ${partition} offset ${offset} is not the next archived record ` +
                `(${next.done ? 'the archive has no more' : `source offset ${next.value.offset}`}): it was not ` +
                'written by this restore, so resuming could duplicate or lose records; restore into a new topic',
            )
          }
          check.writer.append(next.value.offset, offset)
          this.progress.records++
          this.progress.bytes += rawRecordBytes(next.value)
          check.result.reconciled++
          check.expected++
        }
      })
      for (const [partition, check] of checks) {
        const to = ranges.get(partition)!.to
        if (check.expected !== to) {
          throw new RestoreConflictError(
            `target "${this.target}" partition ${partition}: offsets ${check.expected}..${to - 1n} could not be ` +
              'read back to reconcile the offset map (deleted or compacted away in the target?)',
          )
        }
        await check.writer.flush(this.writerName)
        check.result.sourceNext = check.writer.sourceNext
        check.result.targetNext = check.writer.targetNext
      }
    } finally {
      for (const check of checks.values()) await check.archived.return(undefined)
    }
  }

  private async restorePartition(result: PartitionResult, writer: OffsetMapWriter): Promise<void> {
    const { partition } = result
    const options = this.options
    const flushRecords = options.mapFlushRecords ?? defaults.mapFlushRecords
    const flushMs = options.mapFlushMs ?? defaults.mapFlushMs
    const nullHeaders = options.nullHeaders ?? 'error'
    const where = `${this.source}/${partition}`
    let lastFlush = performance.now()
    // A later --from-offset than the map's resume point: the offsets between were not asked for.
    writer.advance(result.fromOffset)
    try {
      if (writer.sourceNext <= result.toOffset) {
        const batches = this.reader.readBatches({
          topic: this.source,
          partition,
          fromOffset: writer.sourceNext,
          toOffset: result.toOffset,
          onGap: options.skipGaps ? 'skip' : 'error',
          onGapSkipped: (gap: GapEntry) => {
            result.gapsSkipped++
            options.onNotice?.(
              `skipped offsets ${gap.firstOffset}..${gap.lastOffset} of ${where}: not in the archive (${gap.reason})`,
            )
          },
        })
        let stopped = false
        batches: for await (const { records } of batches) {
          let i = 0
          while (i < records.length) {
            options.signal?.throwIfAborted()
            // Another partition failed: stop here, keeping what was produced (the map is flushed below).
            if (this.stopping) {
              stopped = true
              break batches
            }
            let j = i
            let bytes = 0
            while (j < records.length && j - i < this.batchRecords) {
              const n = rawRecordBytes(records[j]!)
              if (j > i && bytes + n > this.batchBytes) break
              bytes += n
              j++
            }
            await this.limiter.take(bytes, options.signal)
            const messages = new Array(j - i)
            for (let k = i; k < j; k++) messages[k - i] = toProducerMessage(records[k]!, partition, nullHeaders, where)
            const sent = await this.producer!.send({
              topic: this.target,
              acks: -1,
              compression: options.compression ?? CompressionTypes.None,
              messages,
            })
            const meta = sent.find((m) => m.partition === partition)
            if (meta === undefined || meta.baseOffset === undefined) {
              throw new RestoreConflictError(
                `Kafka did not report the offsets of a produce to ${this.target}/${partition}`,
              )
            }
            const base = BigInt(meta.baseOffset)
            // One produce request appends one record batch per partition: its offsets are base, base + 1, ...
            for (let k = i; k < j; k++) writer.append(records[k]!.offset, base + BigInt(k - i))
            await options.hooks?.afterSend?.(partition, records[j - 1]!.offset, base + BigInt(j - i - 1))
            result.produced += j - i
            this.progress.records += j - i
            this.progress.bytes += bytes
            options.onProgress?.({ ...this.progress })
            if (writer.pending >= flushRecords || performance.now() - lastFlush >= flushMs) {
              await writer.flush(this.writerName)
              lastFlush = performance.now()
            }
            i = j
          }
        }
        // Offsets after the last record up to the range's end are holes (compaction, markers): handled too.
        if (!stopped) writer.advance(result.toOffset + 1n)
      }
      await writer.flush(this.writerName)
      await writer.removeUnreferenced()
    } catch (err) {
      // What Kafka acknowledged is real: commit it so the next run resumes after it, then report the failure.
      await writer.flush(this.writerName).catch(() => {})
      throw err
    } finally {
      result.sourceNext = writer.sourceNext
      result.targetNext = writer.targetNext
    }
  }
}

// The per-partition loop of archive-served partitions: decide where the position lives, read archive chunks and
// deliver them until the archive ends, then hand the partition to Kafka. Retries what a retry can fix.
import { DataLossError, EverlogError, lowerBound } from '@everlog/core'
import type { Head, RecordColumns } from '@everlog/core'
import type { KafkaMessage } from 'kafkajs'
import { deliverBatch, deliverMessages } from './delivery.js'
import { ArchiveUnavailableError } from './errors.js'
import { ArchiveEvents } from './events.js'
import type { ArchiveUnavailablePayload } from './events.js'
import { goLive } from './handover.js'
import { ArchiveMessages, MessageBatch } from './message.js'
import { chooseSource, earliestOffset, initialPosition } from './position.js'
import type { ConsumerState, PartitionState } from './state.js'
import { RetryState } from './retry.js'
import { sleep } from './sync.js'

/** The nodeId of FETCH_START / FETCH events for archive reads: not a broker. */
export const ARCHIVE_NODE_ID = -1

/** How old Kafka's offsets may be when a partition routes again after an archive read (see route). */
const RECENT_KAFKA_OFFSETS_MS = 250

export function startLoop(s: ConsumerState, ps: PartitionState): void {
  const epoch = ps.epoch
  s.track(partitionLoop(s, ps, epoch))
}

export async function waitUntilDeliverable(s: ConsumerState, ps: PartitionState, epoch: number): Promise<void> {
  while (s.isCurrent(ps, epoch) && (s.rebalancing || s.isPaused(ps.topic, ps.partition))) {
    await s.changed.wait()
  }
}

/**
 * Routes the partition until Kafka serves it, retrying failures (a handler that throws, a store that does not
 * answer) by kafkajs' retry rule: the same backoff, the same message again; when the retries run out, or the error
 * is not worth retrying, the consumer crashes as kafkajs' does.
 */
async function partitionLoop(s: ConsumerState, ps: PartitionState, epoch: number): Promise<void> {
  let retry = new RetryState(s.retry)
  let failedAt: bigint | undefined
  for (;;) {
    try {
      await route(s, ps, epoch)
      return
    } catch (error) {
      if (!s.isCurrent(ps, epoch)) return
      if (error instanceof EverlogError && !error.retriable) {
        // Everlog's own verdicts (ArchiveUnavailableError, a configuration error) reach CRASH as they are.
        s.crash(error)
        return
      }
      // Retries count per failure, as kafkajs' count per failing fetch: progress since the last failure (a store
      // fault that went away) starts a fresh count, while the same message failing again does not.
      if (failedAt !== undefined && ps.position !== undefined && ps.position > failedAt) retry = new RetryState(s.retry)
      failedAt = ps.position
      const next = retry.next(error)
      if ('crash' in next) {
        s.crash(next.crash)
        return
      }
      s.log.error('Error while reading the archive, retrying', {
        topic: ps.topic,
        partition: ps.partition,
        offset: ps.position?.toString(),
        error: (error as Error)?.message,
        retryTime: next.waitMs,
      })
      await sleep(next.waitMs)
      if (!s.isCurrent(ps, epoch)) return
    }
  }
}

/** Decides where the partition's position is served from, and reads the archive until it is Kafka's turn. */
async function route(s: ConsumerState, ps: PartitionState, epoch: number): Promise<void> {
  let afterRead = false
  for (;;) {
    await waitUntilDeliverable(s, ps, epoch)
    if (!s.isCurrent(ps, epoch)) return
    // After an archive read, Kafka's offsets may come from a request sent moments ago for another partition: the
    // position is then within the archive's end, which no high watermark of that age can put out of range, and a
    // log start that moved meanwhile is Kafka's answer to the fetch (kafkajs resets, and onKafkaBatch re-routes).
    const extent = await s.extents.extent(ps.topic, ps.partition, afterRead ? RECENT_KAFKA_OFFSETS_MS : 0)
    afterRead = false
    if (!s.isCurrent(ps, epoch)) return
    const defaultOffset = initialPosition(undefined, s.fromBeginning(ps.topic), extent)
    const end =
      extent.archive && extent.archive.next > extent.kafka.highWatermark
        ? extent.archive.next
        : extent.kafka.highWatermark
    if (ps.position === undefined || ps.reset) {
      ps.reset = false
      s.advance(ps, defaultOffset)
    } else if (ps.position > end || (ps.sought && ps.position < earliestOffset(extent))) {
      // kafkajs' answer to OffsetOutOfRange: the subscription's default offset (it logs this as an error too).
      s.log.error('Offset out of range, resetting to default offset', {
        topic: ps.topic,
        partition: ps.partition,
        offset: ps.position.toString(),
        groupId: s.groupId,
      })
      s.advance(ps, defaultOffset)
    }
    ps.sought = false
    const position = ps.position!
    const archiveEnd = extent.archive?.next ?? 0n
    ps.highWatermark = extent.kafka.highWatermark > archiveEnd ? extent.kafka.highWatermark : archiveEnd
    const choice = chooseSource(position, extent, s.mode)
    if (choice.kind === 'kafka') {
      goLive(s, ps, choice.until)
      return
    }
    if (choice.kind === 'missing') {
      await missing(s, ps, position, choice.resumeAt, 'Kafka deleted them before they were archived')
      continue
    }
    ps.source = 'archive'
    try {
      await readArchive(s, ps, epoch, choice.toOffset, extent.head)
      afterRead = true
    } catch (error) {
      if (!(error instanceof DataLossError) || !s.isCurrent(ps, epoch)) throw error
      // A gap in the archive: Kafka may still hold those offsets; otherwise they are missing everywhere.
      const kafka = await s.extents.kafkaRange(ps.topic, ps.partition)
      const at = ps.position!
      if (kafka.logStart <= at) {
        goLive(s, ps)
        return
      }
      const afterGap = error.lastOffset + 1n
      await missing(s, ps, at, afterGap < kafka.logStart ? afterGap : kafka.logStart, `archive gap: ${error.reason}`)
    }
  }
}

/** Offsets [from, resumeAt) exist nowhere: fail, or skip them with an archive.unavailable event. */
async function missing(s: ConsumerState, ps: PartitionState, from: bigint, resumeAt: bigint, reason: string) {
  if (s.onMissing === 'error') {
    throw new ArchiveUnavailableError(ps.topic, ps.partition, from, resumeAt - 1n, reason)
  }
  s.log.warn('Skipping offsets that are neither in the archive nor in Kafka', {
    topic: ps.topic,
    partition: ps.partition,
    firstOffset: from.toString(),
    lastOffset: (resumeAt - 1n).toString(),
    reason,
  })
  s.events.emit(ArchiveEvents.ARCHIVE_UNAVAILABLE, {
    topic: ps.topic,
    partition: ps.partition,
    firstOffset: from.toString(),
    lastOffset: (resumeAt - 1n).toString(),
    reason,
  } satisfies ArchiveUnavailablePayload)
  s.advance(ps, resumeAt)
  if (s.runConfig.autoCommit) await s.commits.resolved()
}

async function readArchive(
  s: ConsumerState,
  ps: PartitionState,
  epoch: number,
  toOffset: bigint,
  head: Head | undefined,
): Promise<void> {
  const from = ps.position!
  ps.fromArchive = true
  const range = { topic: ps.topic, partition: ps.partition, fromOffset: from, toOffset, head }
  const chunks = s.reader.readBatches(range)[Symbol.asyncIterator]()
  try {
    for (;;) {
      // Each chunk read is a fetch as kafkajs reports them: FETCH_START, then FETCH with its duration. The archive
      // is no broker, so nodeId is -1.
      const fetchedOffset = ps.position!
      const started = Date.now()
      s.events.emit(s.inner.events.FETCH_START, { nodeId: ARCHIVE_NODE_ID })
      const chunk = await chunks.next()
      s.events.emit(s.inner.events.FETCH, {
        numberOfBatches: 0,
        duration: Date.now() - started,
        nodeId: ARCHIVE_NODE_ID,
      })
      if (chunk.done) break
      // A paused partition gives its share of the read buffer back (the route re-reads from the position).
      if (s.isPaused(ps.topic, ps.partition)) return
      await waitUntilDeliverable(s, ps, epoch)
      if (!s.isCurrent(ps, epoch)) return
      const delivered = await deliverArchiveChunk(s, ps, epoch, chunk.value.columns, fetchedOffset)
      // Stopped early (pause, seek, partial resolve): the next route re-reads from the position.
      if (!delivered) return
    }
  } finally {
    await chunks.return?.(undefined)
  }
  // Compaction holes at the end of the range: the archive vouches for everything through toOffset.
  if (s.isCurrent(ps, epoch) && ps.position! <= toOffset) s.advance(ps, toOffset + 1n)
}

/** True when every record of the chunk was delivered and resolved. */
async function deliverArchiveChunk(
  s: ConsumerState,
  ps: PartitionState,
  epoch: number,
  columns: RecordColumns,
  fetchedOffset: bigint,
): Promise<boolean> {
  const start = lowerBound(columns.offsets, ps.position!)
  if (start >= columns.length) return true
  const last = columns.offsets[columns.length - 1]!
  await s.semaphore.acquire()
  try {
    if (!s.isCurrent(ps, epoch) || s.isPaused(ps.topic, ps.partition) || s.rebalancing) return false
    const started = Date.now()
    const { eachMessage, eachBatch } = s.runConfig
    const { events } = s.inner
    if (eachMessage) {
      // Each message is made as its turn comes (see ArchiveMessages); the batch events read the columns.
      const messages = new ArchiveMessages(columns, start)
      const info = chunkInfo(ps, columns, start)
      s.events.emit(events.START_BATCH_PROCESS, info)
      await deliverMessages(s, ps, epoch, messages, eachMessage, undefined, columns.offsets.subarray(start))
      s.events.emit(events.END_BATCH_PROCESS, { ...info, duration: Date.now() - started })
    } else if (eachBatch) {
      const messages = new ArchiveMessages(columns, start).all()
      const batch = archiveBatch(ps, messages, fetchedOffset)
      const info = batchInfo(batch)
      s.events.emit(events.START_BATCH_PROCESS, info)
      await deliverBatch(s, ps, epoch, batch, eachBatch, undefined)
      s.events.emit(events.END_BATCH_PROCESS, { ...info, duration: Date.now() - started })
    }
    if (s.runConfig.autoCommit) await s.commits.resolved()
  } finally {
    s.semaphore.release()
  }
  return s.isCurrent(ps, epoch) && ps.position! > last
}

function archiveBatch(ps: PartitionState, messages: KafkaMessage[], fetchedOffset: bigint): MessageBatch {
  const high = ps.highWatermark.toString()
  return new MessageBatch(ps.topic, ps.partition, high, messages, undefined, fetchedOffset.toString())
}

/** batchInfo of the batch rows [start, length) of `columns` would make, without making its messages. */
function chunkInfo(ps: PartitionState, columns: RecordColumns, start: number) {
  const high = ps.highWatermark
  const first = columns.offsets[start]!
  const last = columns.offsets[columns.length - 1]!
  return {
    topic: ps.topic,
    partition: ps.partition,
    highWatermark: high.toString(),
    offsetLag: (high - 1n - last).toString(),
    offsetLagLow: (high - 1n - first).toString(),
    batchSize: columns.length - start,
    firstOffset: first.toString(),
    lastOffset: last.toString(),
  }
}

function batchInfo(batch: MessageBatch) {
  return {
    topic: batch.topic,
    partition: batch.partition,
    highWatermark: batch.highWatermark,
    offsetLag: batch.offsetLag(),
    offsetLagLow: batch.offsetLagLow(),
    batchSize: batch.messages.length,
    firstOffset: batch.firstOffset(),
    lastOffset: batch.lastOffset(),
  }
}

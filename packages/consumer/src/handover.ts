// Positions and the handover to Kafka: seeks, the crossing from the archive into the kafkajs consumer underneath
// at exactly the partition's position, and the live batches kafkajs fetches once a partition is its to serve.
import type { Batch, EachBatchPayload } from 'kafkajs'
import { startLoop } from './archive-reading.js'
import { deliverBatch, deliverMessages } from './delivery.js'
import { ArchiveEvents } from './events.js'
import type { ArchiveSwitchPayload } from './events.js'
import { MessageBatch } from './message.js'
import { keyOf } from './state.js'
import type { ConsumerState, PartitionState } from './state.js'

/**
 * A seek: the partition stops where it is and resolves `target` again. kafkajs turns -1 and -2 into the
 * subscription's default offset when auto-committing (it commits them and finds no valid offset), and into offset 0
 * otherwise (its next fetch offset for an invalid resolved offset); out of range, Kafka's answer resets to the
 * default offset too. `route` applies the same rules over the archive and Kafka together.
 */
export function applySeek(s: ConsumerState, ps: PartitionState, target: bigint, commit = true): void {
  ps.epoch++
  ps.source = 'resolving'
  ps.sought = commit
  s.innerPause(ps.topic, [ps.partition])
  if ((target === -2n || target === -1n) && s.runConfig.autoCommit) {
    ps.reset = true
    ps.position = undefined
  } else {
    ps.reset = false
    s.advance(ps, target < 0n ? 0n : target)
    // kafkajs commits a seek right away when auto-committing; so do we.
    if (commit && s.runConfig.autoCommit && s.running) void s.commits.resolvedQuietly()
  }
  s.changed.notify()
}

/** Hands the partition to kafkajs at exactly its position (and, with `until`, only up to that offset). */
export function goLive(s: ConsumerState, ps: PartitionState, until?: bigint): void {
  const offset = ps.position!.toString()
  ps.source = 'kafka'
  ps.liveUntil = until
  if (ps.fromArchive) {
    ps.fromArchive = false
    s.log.info('Partition crossed from the archive into Kafka', {
      topic: ps.topic,
      partition: ps.partition,
      offset,
    })
    s.events.emit(ArchiveEvents.ARCHIVE_SWITCH, {
      topic: ps.topic,
      partition: ps.partition,
      offset,
    } satisfies ArchiveSwitchPayload)
  }
  // The seek lands before kafkajs' next fetch request for the partition and makes it drop any answer in flight.
  s.inner.seek({ topic: ps.topic, partition: ps.partition, offset })
  if (!s.isPaused(ps.topic, ps.partition)) s.inner.resume([{ topic: ps.topic, partitions: [ps.partition] }])
}

/** The handler of the kafkajs consumer underneath: live batches of partitions Kafka currently serves. */
export async function onKafkaBatch(s: ConsumerState, live: EachBatchPayload): Promise<void> {
  const { batch } = live
  s.liveHeartbeat = live.heartbeat
  const ps = s.partitions.get(keyOf(batch.topic, batch.partition))
  // Not ours to deliver (being resolved, read from the archive, paused, or a rebalance is under way): dropped
  // unresolved, so kafkajs fetches it again from its position once the partition is live and resumed.
  if (!ps || ps.source !== 'kafka' || !s.running || s.rebalancing || s.isPaused(ps.topic, ps.partition)) {
    return
  }
  const position = ps.position!
  const fetched = BigInt((batch as Batch & { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset() ?? position)
  if (fetched > position) {
    // kafkajs moved past our position on its own (an offset reset after OffsetOutOfRange): take the partition
    // back and decide again where `position` lives.
    s.log.warn('Kafka fetch position ran ahead of the consumer position, re-routing', {
      topic: ps.topic,
      partition: ps.partition,
      position: position.toString(),
      fetched: fetched.toString(),
    })
    takeBack(s, ps, position)
    return
  }
  const messages = batch.messages
  let start = 0
  while (start < messages.length && BigInt(messages[start]!.offset) < position) start++
  if (start === messages.length) {
    // Everything here was delivered already: move kafkajs' fetch position up to ours.
    live.resolveOffset((position - 1n).toString())
    return
  }
  // Kafka serves only up to where the archive begins: what lies beyond is the archive's to deliver.
  const until = ps.liveUntil
  let end = messages.length
  if (until !== undefined) while (end > start && BigInt(messages[end - 1]!.offset) >= until) end--
  if (end === start) {
    // Kafka holds nothing in [position, until): compaction holes up to the archive's first offset.
    takeBack(s, ps, position > until! ? position : until!)
    return
  }
  const view =
    start === 0 && end === messages.length
      ? batch
      : new MessageBatch(
          batch.topic,
          batch.partition,
          batch.highWatermark,
          messages.slice(start, end),
          end === messages.length ? batch.lastOffset() : messages[end - 1]!.offset,
          position.toString(),
        )
  const high = BigInt(batch.highWatermark)
  if (high > ps.highWatermark) ps.highWatermark = high
  const epoch = ps.epoch
  const { eachMessage, eachBatch } = s.runConfig
  await s.semaphore.acquire()
  try {
    if (eachMessage) await deliverMessages(s, ps, epoch, view.messages, eachMessage, live)
    else if (eachBatch) await deliverBatch(s, ps, epoch, view, eachBatch, live)
    if (s.runConfig.autoCommit) await s.commits.resolved()
  } finally {
    s.semaphore.release()
  }
  // Delivered up to the archive's first offset: the archive goes on from there.
  if (end < messages.length && s.isCurrent(ps, epoch) && ps.position! > BigInt(messages[end - 1]!.offset)) {
    takeBack(s, ps, until!)
  }
}

/** Takes the partition back from kafkajs and routes it again at `offset` (the archive serves it from there). */
function takeBack(s: ConsumerState, ps: PartitionState, offset: bigint): void {
  s.innerPause(ps.topic, [ps.partition])
  applySeek(s, ps, offset, false)
  startLoop(s, ps)
}

/**
 * kafkajs resolves batches that hold only control records (transaction markers) without calling a handler; our
 * position follows, or the next batch would look like a jump.
 */
export function onInnerBatchStart(
  s: ConsumerState,
  batch: { topic: string; partition: number; batchSize: number; firstOffset: string | null; lastOffset: string },
): void {
  if (batch.batchSize !== 0) return
  const ps = s.partitions.get(keyOf(batch.topic, batch.partition))
  if (!ps || ps.source !== 'kafka' || ps.position === undefined) return
  const last = BigInt(batch.lastOffset)
  const first = batch.firstOffset === null ? ps.position : BigInt(batch.firstOffset)
  if (first <= ps.position && last >= ps.position) s.advance(ps, last + 1n)
}

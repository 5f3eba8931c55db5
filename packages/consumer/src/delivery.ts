// Handing messages to the user's eachMessage / eachBatch, the same way for archive chunks and Kafka batches:
// kafkajs' payloads, its resolve-as-you-go offsets, and its stops at a seek, a pause, a rebalance or stop().
import type {
  Batch,
  ConsumerRunConfig,
  EachBatchPayload,
  EachMessagePayload,
  KafkaMessage,
  Offsets,
  OffsetsByTopicPartition,
} from 'kafkajs'
import type { MessageBatch } from './message.js'
import type { ConsumerState, PartitionState } from './state.js'

/** Messages in offset order: a batch's array, or archive messages made one at a time as they are reached. */
export interface MessageSequence {
  readonly length: number
  at(i: number): KafkaMessage | undefined
}

/**
 * kafkajs' eachMessage loop: one message at a time, each resolved once its handler returns; stops at a seek,
 * a pause or stop. `live` is the kafkajs payload when the batch came from Kafka (its offsets advance too).
 */
export async function deliverMessages(
  s: ConsumerState,
  ps: PartitionState,
  epoch: number,
  messages: MessageSequence,
  eachMessage: NonNullable<ConsumerRunConfig['eachMessage']>,
  live: EachBatchPayload | undefined,
  /** The messages' offsets, when known as numbers already (archive chunks): no string to parse per message. */
  offsets?: BigInt64Array,
): Promise<void> {
  const { topic, partition } = ps
  const heartbeat = live ? live.heartbeat : s.archiveHeartbeat
  const pause = () => s.pauseFromHandler(topic, partition)
  const { autoCommit, autoCommitInterval, autoCommitThreshold } = s.runConfig
  const periodic = autoCommitInterval !== null || autoCommitThreshold !== null
  for (let i = 0; i < messages.length; i++) {
    const message = messages.at(i)!
    if (!s.isCurrent(ps, epoch) || s.rebalancing) break
    const payload: EachMessagePayload = { topic, partition, message, heartbeat, pause }
    s.inFlight++
    try {
      await eachMessage(payload)
    } catch (error) {
      s.logHandlerError('eachMessage', ps, message.offset, error)
      if (autoCommit) await s.commits.resolvedQuietly()
      throw error
    } finally {
      if (--s.inFlight === 0) s.changed.notify()
    }
    if (ps.epoch !== epoch) break
    if (live) live.resolveOffset(message.offset)
    s.advance(ps, (offsets ? offsets[i]! : BigInt(message.offset)) + 1n)
    if (live) await heartbeatOrCommit(s, live)
    // Only interval/threshold commits can be due mid-batch; skip the await when neither is configured.
    if (autoCommit && periodic) await s.commits.ifNecessary()
    if (s.hasPauses && s.isPaused(topic, partition)) break
  }
}

export async function deliverBatch(
  s: ConsumerState,
  ps: PartitionState,
  epoch: number,
  batch: MessageBatch | Batch,
  eachBatch: NonNullable<ConsumerRunConfig['eachBatch']>,
  live: EachBatchPayload | undefined,
): Promise<void> {
  const { topic, partition } = ps
  const lastMessage = batch.messages[batch.messages.length - 1]
  const resolveOffset = (offset: string): void => {
    if (ps.epoch !== epoch) return
    // Resolving the last message resolves the batch's end, past control records kafkajs filtered out.
    const end = lastMessage && offset === lastMessage.offset ? batch.lastOffset() : offset
    if (live) live.resolveOffset(offset)
    s.advance(ps, BigInt(end) + 1n)
  }
  const payload: EachBatchPayload = {
    batch,
    resolveOffset,
    heartbeat: live ? live.heartbeat : s.archiveHeartbeat,
    pause: () => s.pauseFromHandler(topic, partition),
    commitOffsetsIfNecessary: async (offsets?: Offsets) =>
      offsets ? s.commits.topics(offsets) : s.commits.ifNecessary(),
    uncommittedOffsets: (): OffsetsByTopicPartition => s.book.uncommitted(),
    isRunning: () => s.running,
    isStale: () => ps.epoch !== epoch || (live?.isStale() ?? false),
  }
  s.inFlight++
  try {
    await eachBatch(payload)
  } catch (error) {
    s.logHandlerError('eachBatch', ps, batch.firstOffset(), error)
    if (s.runConfig.autoCommit) await s.commits.resolvedQuietly()
    throw error
  } finally {
    if (--s.inFlight === 0) s.changed.notify()
  }
  if (s.runConfig.eachBatchAutoResolve && lastMessage) resolveOffset(lastMessage.offset)
}

async function heartbeatOrCommit(s: ConsumerState, live: EachBatchPayload): Promise<void> {
  try {
    await live.heartbeat()
  } catch (error) {
    // kafkajs commits what was processed when a heartbeat reveals a rebalance; we took over its commits.
    if (s.runConfig.autoCommit) await s.commits.resolvedQuietly()
    throw error
  }
}

// ArchiveConsumer: kafkajs' Consumer whose partitions read history from the archive and cross into live Kafka at
// exactly the boundary offset. Group membership, assignment and committed offsets stay in Kafka (a kafkajs
// consumer with the same groupId runs underneath), so plain consumers and ArchiveConsumers can share a group.
//
// The parts: config.ts (options), state.ts (what the parts share), group.ts (assignments and rebalances),
// archive-reading.ts (the per-partition archive loop), handover.ts (seeks and the crossing into Kafka),
// delivery.ts (eachMessage / eachBatch), commits.ts, extent.ts (what the archive and Kafka hold), events.ts.
import {
  ArchiveReader,
  assertStoreReachable,
  checkKafkaProtocol,
  EverlogError,
  GROUP_CONSUMER_REQUESTS,
  openStore,
} from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
// kafkajs is CommonJS and spreads its error classes into module.exports, which ESM named imports cannot see.
import kafkajs from 'kafkajs'
import type {
  Consumer,
  ConsumerEvents,
  ConsumerRunConfig,
  ConsumerSubscribeTopic,
  ConsumerSubscribeTopics,
  GroupDescription,
  Logger,
  TopicPartitionOffset,
  TopicPartitionOffsetAndMetadata,
  TopicPartitions,
} from 'kafkajs'
import { startLoop } from './archive-reading.js'
import { Commits } from './commits.js'
import { DEFAULT_MAX_WAIT_MS, validate } from './config.js'
import type { ArchiveConsumerConfig } from './config.js'
import { ArchiveEvents, EventHub } from './events.js'
import type { ArchiveEventListener } from './events.js'
import { Extents } from './extent.js'
import { hookAssigners, Membership } from './group.js'
import { applySeek, onInnerBatchStart, onKafkaBatch } from './handover.js'
import { ConsumerState, keyOf } from './state.js'
import { Semaphore } from './sync.js'

export type { ArchiveConsumerConfig } from './config.js'
export { ArchiveEvents } from './events.js'
export type { ArchiveEventListener, ArchiveSwitchPayload, ArchiveUnavailablePayload } from './events.js'

const { KafkaJSNonRetriableError } = kafkajs

/**
 * A drop-in replacement for `kafka.consumer(config)`. For each assigned partition at position p: while p is inside
 * the archive ([HEAD.firstOffset, HEAD.nextOffset), HEAD re-read as it advances) records come from object storage;
 * at the archive's end the partition continues from Kafka at exactly p. Every offset is delivered once, in order.
 */
export class ArchiveConsumer {
  readonly events: ConsumerEvents & typeof ArchiveEvents
  private readonly s: ConsumerState
  private readonly kafka: object
  private readonly membership: Membership
  private readonly hub: EventHub
  private readonly store: ObjectStore
  private readonly ownsStore: boolean
  /** The handlers of the last run(), for a restart after a crash. */
  private lastRun: ConsumerRunConfig | undefined
  private restartTimer: NodeJS.Timeout | undefined

  constructor(config: ArchiveConsumerConfig) {
    validate(config)
    this.kafka = config.kafka
    const {
      kafka,
      archive,
      store,
      mode,
      onMissingOffsets,
      prefetchSegments,
      cacheNodes,
      readBufferBytes,
      ...consumerConfig
    } = config
    const inner = kafka.consumer({
      ...consumerConfig,
      // While the archive serves every partition, kafkajs' paused fetch loop sleeps maxWaitTimeInMs at a time, and
      // neither a partition crossing into Kafka nor stop() can cut that sleep short: kafkajs' 5 s default made
      // both wait up to 5 s. 500 ms is Kafka's own fetch.max.wait.ms.
      maxWaitTimeInMs: consumerConfig.maxWaitTimeInMs ?? DEFAULT_MAX_WAIT_MS,
      partitionAssigners: hookAssigners(consumerConfig.partitionAssigners, () => this.membership.beforeJoin()),
    })
    this.ownsStore = typeof archive === 'string'
    this.store = typeof archive === 'string' ? openStore(archive, store) : archive
    const reader = new ArchiveReader(this.store, {
      prefetchSegments: prefetchSegments ?? 2,
      cacheNodes,
      readBufferBytes,
    })
    const admin = kafka.admin({ retry: config.retry })
    this.hub = new EventHub(inner)
    this.s = new ConsumerState({
      groupId: config.groupId,
      mode: mode ?? 'archive-first',
      onMissing: onMissingOffsets ?? 'error',
      retry: config.retry ?? {},
      inner,
      admin,
      reader,
      log: kafka.logger().namespace('ArchiveConsumer'),
      events: this.hub,
    })
    this.s.commits = new Commits(this.s)
    this.s.extents = new Extents(admin, reader)
    this.s.crash = (error) => this.crash(error)
    this.membership = new Membership(this.s)
    this.events = { ...inner.events, ...ArchiveEvents }

    // Assignment, rebalances and crashes of the consumer underneath drive the per-partition loops. kafkajs emits
    // GROUP_JOIN synchronously after SyncGroup and before its first fetch, so pausing there loses no record.
    inner.on(inner.events.GROUP_JOIN, (e) => this.membership.onGroupJoin(e.payload.memberAssignment))
    inner.on(inner.events.REBALANCING, () => this.membership.onRebalancing())
    inner.on(inner.events.CRASH, (e) => {
      this.membership.onInnerCrash(e.payload.restart)
      // kafkajs stopped and disconnected its consumer and will not restart it: nor will we.
      if (!e.payload.restart) void this.closeAfterInnerCrash().catch(() => {})
    })
    inner.on(inner.events.START_BATCH_PROCESS, (e) => onInnerBatchStart(this.s, e.payload))
  }

  // ---- kafkajs Consumer API -------------------------------------------------------------------------------------

  /**
   * Checks that the archive can be opened (a folder or bucket that does not exist is an error, never an empty
   * archive), then connects to Kafka. The consumer and its admin connect side by side, so a broker that never
   * answers fails this within kafkajs' own connect time.
   */
  async connect(): Promise<void> {
    const s = this.s
    await assertStoreReachable(this.store).catch((error: unknown) => {
      // A store that is there but failing right now is the read path's to retry; only a wrong URL fails here.
      if (!(error instanceof EverlogError && error.retriable)) throw error
      s.log.warn('The archive did not answer; reads will retry', { error: error.message })
    })
    const results = await Promise.allSettled([s.inner.connect(), s.admin.connect()])
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) {
      await Promise.allSettled([s.inner.disconnect(), s.admin.disconnect()])
      throw failed.reason
    }
    // A broker with no version kafkajs speaks of a group consumer's request would close the connection on it, and
    // kafkajs would retry for good: fail here, naming the request.
    try {
      await checkKafkaProtocol(this.kafka, GROUP_CONSUMER_REQUESTS, 'ArchiveConsumer (kafkajs 2.2.4)')
    } catch (error) {
      await Promise.allSettled([s.inner.disconnect(), s.admin.disconnect()])
      throw error
    }
    // kafkajs' admin knows only the seed broker after connect: its first group request finds "no brokers in the
    // broker pool" and retries after ~300 ms, delaying the first record. One metadata request fills the pool; it
    // is not waited for, so connect() takes what kafkajs' takes even when the broker never answers.
    void s.admin.fetchTopicMetadata().catch(() => {})
  }

  async disconnect(): Promise<void> {
    await this.stop()
    await this.s.inner.disconnect()
    await this.s.admin.disconnect()
    if (this.ownsStore) await this.store.close()
  }

  async subscribe(subscription: ConsumerSubscribeTopics | ConsumerSubscribeTopic): Promise<void> {
    await this.s.inner.subscribe(subscription)
    const list = 'topics' in subscription ? subscription.topics : [subscription.topic]
    for (const t of list) {
      this.s.subscriptions.push({
        matches: typeof t === 'string' ? (topic) => topic === t : (topic) => new RegExp(t.source, t.flags).test(topic),
        fromBeginning: subscription.fromBeginning ?? false,
      })
    }
  }

  async run(config: ConsumerRunConfig = {}): Promise<void> {
    const s = this.s
    if (s.running) {
      s.log.warn('consumer#run was called, but the consumer is already running', { groupId: s.groupId })
      return
    }
    if (!config.eachBatch && !config.eachMessage) {
      throw new KafkaJSNonRetriableError('ArchiveConsumer.run needs an eachMessage or an eachBatch handler')
    }
    s.runConfig = {
      autoCommit: config.autoCommit ?? true,
      eachBatchAutoResolve: config.eachBatchAutoResolve ?? true,
      autoCommitInterval: config.autoCommitInterval ?? null,
      autoCommitThreshold: config.autoCommitThreshold ?? null,
      eachBatch: config.eachBatch,
      eachMessage: config.eachMessage,
    }
    const concurrency = config.partitionsConsumedConcurrently ?? 1
    s.semaphore = new Semaphore(concurrency)
    this.lastRun = config
    s.running = true
    // Commits and offset resolution are ours for every partition (archive-served ones never pass through kafkajs'
    // offset manager), so the consumer underneath neither auto-commits nor auto-resolves.
    await s.inner.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: concurrency,
      eachBatch: (payload) => onKafkaBatch(s, payload),
    })
  }

  async stop(): Promise<void> {
    const s = this.s
    clearTimeout(this.restartTimer)
    if (s.running) {
      // Epochs stay: a handler finishing now still resolves its message (as in kafkajs), and the commit below
      // sends it; the loops see `running` go false and stop before the next message.
      s.running = false
      s.changed.notify()
      await Promise.allSettled([...s.loops])
      if (s.runConfig.autoCommit) await s.commits.resolvedQuietly()
    }
    await s.inner.stop()
    s.partitions.clear()
    s.book.clear()
  }

  async commitOffsets(topicPartitions: TopicPartitionOffsetAndMetadata[]): Promise<void> {
    await this.s.commits.commitOffsets(topicPartitions)
  }

  seek({ topic, partition, offset }: TopicPartitionOffset): void {
    if (!topic) throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
    if (!Number.isInteger(partition)) {
      throw new KafkaJSNonRetriableError(`Invalid partition, expected a number received ${partition}`)
    }
    let target: bigint
    try {
      target = BigInt(offset)
    } catch {
      throw new KafkaJSNonRetriableError(`Invalid offset, expected a long received ${offset}`)
    }
    if (target < -2n) throw new KafkaJSNonRetriableError('Offset must not be a negative number')
    if (!this.s.running) {
      throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    }
    const ps = this.s.partitions.get(keyOf(topic, partition))
    if (!ps) {
      // Like kafkajs: a seek for a partition not (yet) assigned applies once it is.
      this.s.pendingSeeks.set(keyOf(topic, partition), String(offset))
      return
    }
    applySeek(this.s, ps, target)
    startLoop(this.s, ps)
  }

  /** Seeks to the first offset whose timestamp is >= `timestamp` (epoch ms), over the archive and Kafka alike. */
  async seekToTimestamp(topic: string, partition: number, timestamp: number | string): Promise<void> {
    const offset = await this.offsetForTimestamp(topic, partition, timestamp)
    this.seek({ topic, partition, offset })
  }

  /**
   * Kafka's ListOffsets-by-time over the whole history: the first offset whose timestamp is >= `timestamp`, or the
   * high watermark when every record is older.
   */
  async offsetForTimestamp(topic: string, partition: number, timestamp: number | string): Promise<string> {
    return this.s.extents.offsetForTimestamp(topic, partition, timestamp)
  }

  async describeGroup(): Promise<GroupDescription> {
    return this.s.inner.describeGroup()
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    this.s.pause(topics)
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    this.s.resume(topics)
  }

  paused(): TopicPartitions[] {
    const byTopic = new Map<string, number[]>()
    for (const ps of this.s.partitions.values()) {
      if (!this.s.isPaused(ps.topic, ps.partition)) continue
      const list = byTopic.get(ps.topic) ?? []
      list.push(ps.partition)
      byTopic.set(ps.topic, list)
    }
    return [...byTopic].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }))
  }

  /**
   * kafkajs' instrumentation events (with kafkajs' payload types) plus `archive.switch` and `archive.unavailable`.
   * Returns a function that removes the listener.
   */
  readonly on: ArchiveEventListener & Consumer['on'] = (eventName: string, listener: (event: never) => void) =>
    this.hub.on(eventName, listener)

  logger(): Logger {
    return this.s.inner.logger()
  }

  /**
   * kafkajs' onCrash for failures of the archive side: stop and disconnect (STOP, DISCONNECT), ask
   * retry.restartOnFailure whether to restart when the error is retriable, emit CRASH with that answer, and start
   * again after the retry time when it is yes.
   */
  private crash(error: unknown): void {
    const s = this.s
    if (!s.running) return
    const e = error as Error & { retryCount?: number; retryTime?: number }
    s.log.error(`Crash: ${e?.name}: ${e?.message}`, { groupId: s.groupId, retryCount: e?.retryCount })
    s.running = false
    for (const ps of s.partitions.values()) ps.epoch++
    s.changed.notify()
    // Detached: the failing partition loop returns first, so stopping does not wait for itself.
    void this.afterCrash(e).catch((failure: unknown) =>
      s.log.error('Stopping after a crash failed', { error: (failure as Error)?.message }),
    )
  }

  private async afterCrash(error: Error & { retryTime?: number }): Promise<void> {
    const s = this.s
    await this.stop()
    await s.inner.disconnect()
    await s.admin.disconnect()
    const restart = await this.shouldRestart(error)
    s.events.emit(s.inner.events.CRASH, { error, groupId: s.groupId, restart })
    if (!restart) {
      if (this.ownsStore) await this.store.close()
      return
    }
    const retryTime = error.retryTime || s.retry.initialRetryTime || 300
    s.log.error(`Restarting the consumer in ${retryTime}ms`, { groupId: s.groupId, retryTime })
    this.restartTimer = setTimeout(() => {
      void this.restart()
    }, retryTime)
  }

  private async shouldRestart(error: Error): Promise<boolean> {
    let cause: unknown = error
    while ((cause as { cause?: unknown })?.cause) cause = (cause as { cause?: unknown }).cause
    const retriable =
      error.name === 'KafkaJSNumberOfRetriesExceeded' || (cause as { retriable?: unknown })?.retriable === true
    const ask = this.s.retry.restartOnFailure
    if (!retriable) return false
    if (!ask) return true
    return ask(error).catch((failure: unknown) => {
      this.s.log.error(
        'Caught error when invoking user-provided "restartOnFailure" callback. Defaulting to restarting.',
        {
          error: (failure as Error)?.message ?? failure,
          cause: error.message,
          groupId: this.s.groupId,
        },
      )
      return true
    })
  }

  /** kafkajs' restart: join the group again with the same handlers (run() connects the consumer underneath). */
  private async restart(): Promise<void> {
    const config = this.lastRun
    if (!config) return
    try {
      await this.s.admin.connect()
      await this.run(config)
    } catch (error) {
      this.s.running = true
      this.crash(error)
    }
  }

  /** Everything but Kafka's group after kafkajs crashed underneath for good: the admin and the store. */
  private async closeAfterInnerCrash(): Promise<void> {
    await this.stop().catch(() => {})
    await this.s.admin.disconnect()
    if (this.ownsStore) await this.store.close()
  }
}

// The one-line swap is only real if the compiler accepts an ArchiveConsumer wherever kafkajs wants a Consumer.
type AssertConsumer<T extends Consumer> = T
export type ArchiveConsumerIsConsumer = AssertConsumer<ArchiveConsumer>

// ArchiveConsumer: kafkajs' Consumer whose partitions read history from the archive and cross into live Kafka at
// exactly the boundary offset. Group membership, assignment and committed offsets stay in Kafka (a kafkajs
// consumer with the same groupId runs underneath), so plain consumers and ArchiveConsumers can share a group.
import { EventEmitter } from 'node:events'
import { ArchiveReader, ConfigError, DataLossError, EverlogError, lowerBound, openStore } from '@everlog/core'
import type { ObjectStore, OpenStoreOptions, RecordColumns } from '@everlog/core'
// kafkajs is CommonJS and spreads its error classes into module.exports, which ESM named imports cannot see.
import kafkajs from 'kafkajs'
import type {
  Admin,
  Batch,
  Cluster,
  Consumer,
  ConsumerConfig,
  ConsumerEvents,
  ConsumerRunConfig,
  ConsumerSubscribeTopic,
  ConsumerSubscribeTopics,
  EachBatchPayload,
  EachMessagePayload,
  GroupDescription,
  InstrumentationEvent,
  Kafka,
  Logger,
  Offsets,
  OffsetsByTopicPartition,
  PartitionAssigner,
  TopicPartitionOffset,
  TopicPartitionOffsetAndMetadata,
  TopicPartitions,
} from 'kafkajs'
import { ArchiveUnavailableError } from './errors.js'
import { MessageBatch, toKafkaMessages } from './message.js'
import { OffsetBook } from './offset-book.js'
import type { Entry as BookEntry } from './offset-book.js'
import { chooseSource, earliestOffset, initialPosition } from './position.js'
import type { PartitionExtent, ReadMode } from './position.js'
import { Semaphore, Signal, sleep } from './sync.js'

const { KafkaJSNonRetriableError, PartitionAssigners } = kafkajs

/** The consumer underneath long-polls this long unless told otherwise (kafkajs: 5000). */
const DEFAULT_MAX_WAIT_MS = 500

/** How long a rejoin waits for in-flight handlers and the final commit of what they processed. */
const SETTLE_TIMEOUT_MS = 10_000

export interface ArchiveConsumerConfig extends ConsumerConfig {
  /** The kafkajs client whose cluster holds the group and the live records. */
  kafka: Kafka
  /** The archive: a store URL (file:///abs, s3://bucket/prefix, memory://name) or an open ObjectStore. */
  archive: string | ObjectStore
  /** Options for opening `archive` when it is a URL, e.g. `{ s3: { endpoint, region, credentials } }`. */
  store?: OpenStoreOptions
  /** `archive-first` (default) reads history from the archive whenever it has it; `kafka-first` only below Kafka's log start. */
  mode?: ReadMode
  /** Offsets in neither the archive nor Kafka: crash with ArchiveUnavailableError (default) or skip them with an event. */
  onMissingOffsets?: 'error' | 'skip'
  /** Archive chunks (segments or row groups) read ahead per partition; default 2. */
  prefetchSegments?: number
  /**
   * Bytes that archive chunks being read (fetched segments and decoded row groups) may take, shared by every
   * partition of this consumer; default 64 MiB (ArchiveReader's readBufferBytes).
   */
  readBufferBytes?: number
  /** Decoded index nodes cached per partition; default 256. */
  cacheNodes?: number
}

/** Everlog's own instrumentation events, next to kafkajs' consumer events. */
export const ArchiveEvents = {
  /** A partition read from the archive crossed into Kafka; payload { topic, partition, offset }. */
  ARCHIVE_SWITCH: 'archive.switch',
  /** Offsets in neither place were skipped (onMissingOffsets 'skip'); payload { topic, partition, firstOffset, lastOffset, reason }. */
  ARCHIVE_UNAVAILABLE: 'archive.unavailable',
} as const

export interface ArchiveSwitchPayload {
  topic: string
  partition: number
  /** The first offset consumed from Kafka. */
  offset: string
}

export interface ArchiveUnavailablePayload {
  topic: string
  partition: number
  firstOffset: string
  lastOffset: string
  reason: string
}

/** The listener signatures of Everlog's own events; kafkajs' come from its Consumer type. */
export interface ArchiveEventListener {
  (
    eventName: (typeof ArchiveEvents)['ARCHIVE_SWITCH'],
    listener: (event: InstrumentationEvent<ArchiveSwitchPayload>) => void,
  ): () => void
  (
    eventName: (typeof ArchiveEvents)['ARCHIVE_UNAVAILABLE'],
    listener: (event: InstrumentationEvent<ArchiveUnavailablePayload>) => void,
  ): () => void
}

type Source = 'resolving' | 'archive' | 'kafka'

interface PartitionState {
  topic: string
  partition: number
  /** Bumped by every seek, reassignment and re-route: work started under an older epoch stops. */
  epoch: number
  source: Source
  /** Next offset to deliver; undefined until resolved (or 'earliest'/'latest' after a seek to -2/-1). */
  position: bigint | undefined
  special?: 'earliest' | 'latest'
  /** The latest high watermark seen (Kafka's, or the archive's end when that is ahead of what we last asked Kafka). */
  highWatermark: bigint
  /** Read from the archive since it was assigned or sought, so crossing into Kafka is worth an archive.switch. */
  fromArchive: boolean
  /** This partition's entry in the offset book, once it has one. */
  offsets?: BookEntry
}

interface Subscription {
  matches: (topic: string) => boolean
  fromBeginning: boolean
}

const MODES: readonly ReadMode[] = ['archive-first', 'kafka-first']
const KAFKAJS_EVENT_NAMES = new Set<string>([
  'consumer.heartbeat',
  'consumer.commit_offsets',
  'consumer.group_join',
  'consumer.fetch_start',
  'consumer.fetch',
  'consumer.start_batch_process',
  'consumer.end_batch_process',
  'consumer.connect',
  'consumer.disconnect',
  'consumer.stop',
  'consumer.crash',
  'consumer.rebalancing',
  'consumer.received_unsubscribed_topics',
  'consumer.network.request',
  'consumer.network.request_timeout',
  'consumer.network.request_queue_size',
])

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`

function validate(config: ArchiveConsumerConfig): void {
  const fail = (field: string, what: string): never => {
    throw new ConfigError(`ArchiveConsumer: invalid "${field}": ${what}`)
  }
  if (config === null || typeof config !== 'object') fail('config', 'expected an object')
  const k = config.kafka as Partial<Kafka> | undefined
  if (!k || typeof k.consumer !== 'function' || typeof k.admin !== 'function') {
    fail('kafka', 'expected a kafkajs Kafka client (new Kafka({ brokers }))')
  }
  if (typeof config.groupId !== 'string' || config.groupId === '') fail('groupId', 'expected a non-empty string')
  const a = config.archive as unknown
  const isStore = typeof a === 'object' && a !== null && typeof (a as ObjectStore).get === 'function'
  if (!isStore && (typeof a !== 'string' || a === '')) {
    fail('archive', 'expected a store URL (file:///abs/path, s3://bucket/prefix, memory://name) or an ObjectStore')
  }
  if (config.mode !== undefined && !MODES.includes(config.mode)) {
    fail('mode', `expected 'archive-first' or 'kafka-first', got ${JSON.stringify(config.mode)}`)
  }
  const missing = config.onMissingOffsets
  if (missing !== undefined && missing !== 'error' && missing !== 'skip') {
    fail('onMissingOffsets', `expected 'error' or 'skip', got ${JSON.stringify(missing)}`)
  }
  for (const field of ['prefetchSegments', 'cacheNodes'] as const) {
    const v = config[field]
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) fail(field, `expected an integer >= 0, got ${v}`)
  }
  const buffer = config.readBufferBytes
  if (buffer !== undefined && (!Number.isSafeInteger(buffer) || buffer < 1)) {
    fail('readBufferBytes', `expected an integer >= 1, got ${buffer}`)
  }
}

/**
 * A drop-in replacement for `kafka.consumer(config)`. For each assigned partition at position p: while p is inside
 * the archive ([HEAD.firstOffset, HEAD.nextOffset), HEAD re-read as it advances) records come from object storage;
 * at the archive's end the partition continues from Kafka at exactly p. Every offset is delivered once, in order.
 */
export class ArchiveConsumer {
  readonly events: ConsumerEvents & typeof ArchiveEvents
  private readonly groupId: string
  private readonly mode: ReadMode
  private readonly onMissing: 'error' | 'skip'
  private readonly inner: Consumer
  private readonly admin: Admin
  private readonly store: ObjectStore
  private readonly ownsStore: boolean
  private readonly reader: ArchiveReader
  private readonly log: Logger
  private readonly retry: NonNullable<ConsumerConfig['retry']>
  private readonly emitter = new EventEmitter()
  private readonly bridged = new Set<string>()
  private readonly subscriptions: Subscription[] = []
  private readonly partitions = new Map<string, PartitionState>()
  private readonly pendingSeeks = new Map<string, string>()
  private readonly loops = new Set<Promise<void>>()
  private readonly book = new OffsetBook()
  private readonly changed = new Signal()
  private readonly pausedTopics = new Set<string>()
  private readonly pausedPartitions = new Set<string>()
  private readonly resumedPartitions = new Set<string>()

  private runConfig: Required<Pick<ConsumerRunConfig, 'autoCommit' | 'eachBatchAutoResolve'>> &
    Pick<ConsumerRunConfig, 'eachBatch' | 'eachMessage'> & {
      autoCommitInterval: number | null
      autoCommitThreshold: number | null
    } = { autoCommit: true, eachBatchAutoResolve: true, autoCommitInterval: null, autoCommitThreshold: null }
  private running = false
  private rebalancing = false
  private semaphore = new Semaphore(1)
  private readonly offsetRequests = new Map<string, ReturnType<Admin['fetchTopicOffsets']>>()
  private commitChain: Promise<unknown> = Promise.resolve()
  /** Handlers running right now (archive or live); a rebalance waits for them before rejoining. */
  private inFlight = 0
  private settling: Promise<void> | undefined
  private readonly patchedClusters = new WeakSet<Cluster>()
  /** kafkajs' runner heartbeat, seen in live payloads of the current generation (it is not partition-bound). */
  private liveHeartbeat: (() => Promise<void>) | undefined
  /** heartbeat() of archive payloads: the group's heartbeat when we have one; kafkajs heartbeats by itself otherwise. */
  private readonly archiveHeartbeat = async (): Promise<void> => {
    const heartbeat = this.liveHeartbeat
    if (heartbeat) await heartbeat()
  }
  private eventId = 0

  constructor(config: ArchiveConsumerConfig) {
    validate(config)
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
    this.groupId = config.groupId
    this.mode = mode ?? 'archive-first'
    this.onMissing = onMissingOffsets ?? 'error'
    this.retry = config.retry ?? {}
    this.inner = kafka.consumer({
      ...consumerConfig,
      // While the archive serves every partition, kafkajs' paused fetch loop sleeps maxWaitTimeInMs at a time, and
      // neither a partition crossing into Kafka nor stop() can cut that sleep short: kafkajs' 5 s default made
      // both wait up to 5 s. 500 ms is Kafka's own fetch.max.wait.ms.
      maxWaitTimeInMs: consumerConfig.maxWaitTimeInMs ?? DEFAULT_MAX_WAIT_MS,
      partitionAssigners: this.hookAssigners(consumerConfig.partitionAssigners),
    })
    this.admin = kafka.admin({ retry: config.retry })
    this.ownsStore = typeof archive === 'string'
    this.store = typeof archive === 'string' ? openStore(archive, store) : archive
    this.reader = new ArchiveReader(this.store, {
      prefetchSegments: prefetchSegments ?? 2,
      cacheNodes,
      readBufferBytes,
    })
    this.log = kafka.logger().namespace('ArchiveConsumer')
    this.events = { ...this.inner.events, ...ArchiveEvents }

    // Assignment, rebalances and crashes of the consumer underneath drive the per-partition loops. kafkajs emits
    // GROUP_JOIN synchronously after SyncGroup and before its first fetch, so pausing there loses no record.
    this.inner.on(this.inner.events.GROUP_JOIN, (e) => this.onGroupJoin(e.payload.memberAssignment))
    this.inner.on(this.inner.events.REBALANCING, () => this.onRebalancing())
    this.inner.on(this.inner.events.CRASH, (e) => this.onInnerCrash(e.payload.restart))
    this.inner.on(this.inner.events.START_BATCH_PROCESS, (e) => this.onInnerBatchStart(e.payload))
  }

  // ---- kafkajs Consumer API -------------------------------------------------------------------------------------

  async connect(): Promise<void> {
    await this.inner.connect()
    await this.admin.connect()
    // kafkajs' admin knows only the seed broker after connect: its first group request finds "no brokers in the
    // broker pool" and retries after ~300 ms, delaying the first record. One metadata request fills the pool.
    await this.admin.fetchTopicMetadata()
  }

  async disconnect(): Promise<void> {
    await this.stop()
    await this.inner.disconnect()
    await this.admin.disconnect()
    if (this.ownsStore) await this.store.close()
  }

  async subscribe(subscription: ConsumerSubscribeTopics | ConsumerSubscribeTopic): Promise<void> {
    await this.inner.subscribe(subscription)
    const list = 'topics' in subscription ? subscription.topics : [subscription.topic]
    for (const t of list) {
      this.subscriptions.push({
        matches: typeof t === 'string' ? (topic) => topic === t : (topic) => new RegExp(t.source, t.flags).test(topic),
        fromBeginning: subscription.fromBeginning ?? false,
      })
    }
  }

  async run(config: ConsumerRunConfig = {}): Promise<void> {
    if (this.running) {
      this.log.warn('consumer#run was called, but the consumer is already running', { groupId: this.groupId })
      return
    }
    if (!config.eachBatch && !config.eachMessage) {
      throw new KafkaJSNonRetriableError('ArchiveConsumer.run needs an eachMessage or an eachBatch handler')
    }
    this.runConfig = {
      autoCommit: config.autoCommit ?? true,
      eachBatchAutoResolve: config.eachBatchAutoResolve ?? true,
      autoCommitInterval: config.autoCommitInterval ?? null,
      autoCommitThreshold: config.autoCommitThreshold ?? null,
      eachBatch: config.eachBatch,
      eachMessage: config.eachMessage,
    }
    const concurrency = config.partitionsConsumedConcurrently ?? 1
    this.semaphore = new Semaphore(concurrency)
    this.running = true
    // Commits and offset resolution are ours for every partition (archive-served ones never pass through kafkajs'
    // offset manager), so the consumer underneath neither auto-commits nor auto-resolves.
    await this.inner.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: concurrency,
      eachBatch: (payload) => this.onKafkaBatch(payload),
    })
  }

  async stop(): Promise<void> {
    if (this.running) {
      // Epochs stay: a handler finishing now still resolves its message (as in kafkajs), and the commit below
      // sends it; the loops see `running` go false and stop before the next message.
      this.running = false
      this.changed.notify()
      await Promise.allSettled([...this.loops])
      if (this.runConfig.autoCommit) await this.commitResolved().catch((e) => this.logCommitError(e))
    }
    await this.inner.stop()
    this.partitions.clear()
    this.book.clear()
  }

  async commitOffsets(topicPartitions: TopicPartitionOffsetAndMetadata[]): Promise<void> {
    await this.enqueueCommit(async () => {
      await this.inner.commitOffsets(topicPartitions)
      for (const { topic, partition, offset } of topicPartitions) this.book.committed(topic, partition, BigInt(offset))
    })
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
    if (!this.running) {
      throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    }
    const ps = this.partitions.get(keyOf(topic, partition))
    if (!ps) {
      // Like kafkajs: a seek for a partition not (yet) assigned applies once it is.
      this.pendingSeeks.set(keyOf(topic, partition), String(offset))
      return
    }
    this.applySeek(ps, target)
    this.startLoop(ps)
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
    const t = BigInt(timestamp)
    const [archived, live] = await Promise.all([
      this.archiveHead(topic, partition).then((head) =>
        head?.root ? this.reader.offsetForTimestamp(topic, partition, t) : undefined,
      ),
      this.admin.fetchTopicOffsetsByTimestamp(topic, Number(t)),
    ])
    const kafkaOffset = live.find((p) => p.partition === partition)
    const k = kafkaOffset ? BigInt(kafkaOffset.offset) : undefined
    // Both answers are "first at or after t" within their own range, so the smaller one is the first overall.
    let best = archived
    if (k !== undefined && k >= 0n && (best === undefined || k < best)) best = k
    if (best === undefined) best = (await this.kafkaRange(topic, partition)).highWatermark
    return best.toString()
  }

  async describeGroup(): Promise<GroupDescription> {
    return this.inner.describeGroup()
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.pausedTopics.add(topic)
        for (const key of [...this.resumedPartitions])
          if (key.startsWith(`${topic}\u0000`)) this.resumedPartitions.delete(key)
      } else {
        for (const p of partitions) {
          this.pausedPartitions.add(keyOf(topic, p))
          this.resumedPartitions.delete(keyOf(topic, p))
        }
      }
      const assigned = this.assignedOf(topic, partitions)
      if (assigned.length > 0) this.innerPause(topic, assigned)
    }
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.pausedTopics.delete(topic)
        for (const key of [...this.pausedPartitions])
          if (key.startsWith(`${topic}\u0000`)) this.pausedPartitions.delete(key)
      } else {
        for (const p of partitions) {
          this.pausedPartitions.delete(keyOf(topic, p))
          if (this.pausedTopics.has(topic)) this.resumedPartitions.add(keyOf(topic, p))
        }
      }
      // Only partitions Kafka serves resume underneath; archive-served ones stay paused there and wake their loop.
      const live = this.assignedOf(topic, partitions).filter((p) => {
        const ps = this.partitions.get(keyOf(topic, p))
        return ps?.source === 'kafka' && !this.isPaused(topic, p)
      })
      if (live.length > 0) this.inner.resume([{ topic, partitions: live }])
    }
    this.changed.notify()
  }

  paused(): TopicPartitions[] {
    const byTopic = new Map<string, number[]>()
    for (const ps of this.partitions.values()) {
      if (!this.isPaused(ps.topic, ps.partition)) continue
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
  readonly on: ArchiveEventListener & Consumer['on'] = (eventName: string, listener: (event: never) => void) => {
    const own = eventName === ArchiveEvents.ARCHIVE_SWITCH || eventName === ArchiveEvents.ARCHIVE_UNAVAILABLE
    if (!own && !KAFKAJS_EVENT_NAMES.has(eventName)) {
      const names = [...KAFKAJS_EVENT_NAMES, ...Object.values(ArchiveEvents)].join(', ')
      throw new KafkaJSNonRetriableError(`Event name should be one of ${names}`)
    }
    if (!own && !this.bridged.has(eventName)) {
      // kafkajs' own events are re-emitted here, so archive-side emissions of the same names reach the same listeners.
      this.bridged.add(eventName)
      this.inner.on(eventName as ConsumerEvents['CONNECT'], (e) => this.emitter.emit(eventName, e))
    }
    const fn = listener as (event: unknown) => void
    this.emitter.on(eventName, fn)
    return () => void this.emitter.off(eventName, fn)
  }

  logger(): Logger {
    return this.inner.logger()
  }

  // ---- group membership ------------------------------------------------------------------------------------------

  private onGroupJoin(assignment: Record<string, number[]>): void {
    this.rebalancing = false
    this.liveHeartbeat = undefined
    const assigned = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const p of partitions) assigned.add(keyOf(topic, p))
    }
    for (const [key, ps] of this.partitions) {
      if (assigned.has(key)) continue
      ps.epoch++
      this.partitions.delete(key)
      this.book.forget(ps.topic, ps.partition)
    }
    const toResolve: PartitionState[] = []
    for (const [topic, partitions] of Object.entries(assignment)) {
      if (partitions.length === 0) continue
      // Synchronous, before kafkajs' first fetch of the new generation: nothing is fetched until we decide.
      this.inner.pause([{ topic, partitions }])
      for (const partition of partitions) {
        const key = keyOf(topic, partition)
        let ps = this.partitions.get(key)
        if (!ps) {
          ps = {
            topic,
            partition,
            epoch: 0,
            source: 'resolving',
            position: undefined,
            highWatermark: 0n,
            fromArchive: false,
          }
          this.partitions.set(key, ps)
        }
        ps.epoch++
        ps.source = 'resolving'
        const pending = this.pendingSeeks.get(key)
        if (pending !== undefined) {
          this.pendingSeeks.delete(key)
          this.applySeek(ps, BigInt(pending))
        }
        toResolve.push(ps)
      }
    }
    this.changed.notify()
    if (!this.running || toResolve.length === 0) return
    const epochs = new Map(toResolve.map((ps) => [ps, ps.epoch]))
    const resolving = this.resolveCommitted(toResolve.filter((ps) => ps.position === undefined && !ps.special))
      .then(() => {
        for (const ps of toResolve) if (ps.epoch === epochs.get(ps)) this.startLoop(ps)
      })
      .catch((error: unknown) => this.crash(error))
    this.track(resolving)
  }

  /** Committed offsets of newly assigned partitions; those without one take the subscription's default. */
  private async resolveCommitted(states: PartitionState[]): Promise<void> {
    if (states.length === 0) return
    const topics = [...new Set(states.map((ps) => ps.topic))]
    const fetched = await this.admin.fetchOffsets({ groupId: this.groupId, topics })
    for (const ps of states) {
      const entry = fetched.find((t) => t.topic === ps.topic)?.partitions.find((p) => p.partition === ps.partition)
      const committed = entry ? BigInt(entry.offset) : -1n
      if (committed >= 0n) {
        ps.position = committed
        this.book.committed(ps.topic, ps.partition, committed)
      } else {
        ps.special = this.fromBeginning(ps.topic) ? 'earliest' : 'latest'
      }
    }
  }

  /**
   * kafkajs resolves batches that hold only control records (transaction markers) without calling a handler; our
   * position follows, or the next batch would look like a jump.
   */
  private onInnerBatchStart(batch: {
    topic: string
    partition: number
    batchSize: number
    firstOffset: string | null
    lastOffset: string
  }): void {
    if (batch.batchSize !== 0) return
    const ps = this.partitions.get(keyOf(batch.topic, batch.partition))
    if (!ps || ps.source !== 'kafka' || ps.position === undefined) return
    const last = BigInt(batch.lastOffset)
    const first = batch.firstOffset === null ? ps.position : BigInt(batch.firstOffset)
    if (first <= ps.position && last >= ps.position) this.advance(ps, last + 1n)
  }

  private onRebalancing(): void {
    // Deliver nothing more until the new assignment is known; the rejoin waits in settleBeforeRejoin.
    this.rebalancing = true
    this.changed.notify()
  }

  /**
   * kafkajs has no "partitions revoked" callback, and our archive loops run beside its fetch loop, so a handler
   * may still be processing when kafkajs decides to rejoin. Every assigner factory receives the consumer's
   * cluster; wrapping its findGroupCoordinator (the first step of JoinGroup) lets a rejoin wait until in-flight
   * handlers finish and what they processed is committed, as Kafka's own clients do before giving partitions up.
   */
  private hookAssigners(assigners: PartitionAssigner[] | undefined): PartitionAssigner[] {
    const factories = assigners && assigners.length > 0 ? assigners : [PartitionAssigners.roundRobin]
    return factories.map((factory) => (config) => {
      this.hookCluster(config.cluster)
      return factory(config)
    })
  }

  private hookCluster(cluster: Cluster): void {
    if (this.patchedClusters.has(cluster)) return
    this.patchedClusters.add(cluster)
    const findGroupCoordinator = cluster.findGroupCoordinator.bind(cluster)
    cluster.findGroupCoordinator = async (group) => {
      if (this.rebalancing && this.running) await this.settleBeforeRejoin()
      return findGroupCoordinator(group)
    }
  }

  private settleBeforeRejoin(): Promise<void> {
    this.settling ??= (async () => {
      const deadline = Date.now() + SETTLE_TIMEOUT_MS
      while (this.inFlight > 0 && Date.now() < deadline) {
        await Promise.race([this.changed.wait(), sleep(50)])
      }
      if (this.runConfig.autoCommit) {
        await Promise.race([this.commitResolved().catch((e) => this.logCommitError(e)), sleep(SETTLE_TIMEOUT_MS)])
      }
    })().finally(() => {
      this.settling = undefined
    })
    return this.settling
  }

  private onInnerCrash(restart: boolean): void {
    // kafkajs disconnected underneath; loops stop and wait for the restart's GROUP_JOIN (or for good).
    this.rebalancing = true
    this.liveHeartbeat = undefined
    for (const ps of this.partitions.values()) ps.epoch++
    if (!restart) this.running = false
    this.changed.notify()
  }

  // ---- per-partition loop ----------------------------------------------------------------------------------------

  private startLoop(ps: PartitionState): void {
    const epoch = ps.epoch
    this.track(this.partitionLoop(ps, epoch))
  }

  private track(p: Promise<void>): void {
    this.loops.add(p)
    void p.finally(() => this.loops.delete(p))
  }

  private isCurrent(ps: PartitionState, epoch: number): boolean {
    return ps.epoch === epoch && this.running
  }

  private async partitionLoop(ps: PartitionState, epoch: number): Promise<void> {
    const retries = this.retry.retries ?? 5
    let attempt = 0
    for (;;) {
      try {
        await this.route(ps, epoch)
        return
      } catch (error) {
        if (!this.isCurrent(ps, epoch)) return
        if (error instanceof EverlogError && !error.retriable) {
          this.crash(error)
          return
        }
        attempt++
        const wait = Math.min(
          (this.retry.initialRetryTime ?? 300) * 2 ** Math.min(attempt - 1, 10),
          this.retry.maxRetryTime ?? 30_000,
        )
        this.log.error('Error while reading the archive, retrying', {
          topic: ps.topic,
          partition: ps.partition,
          offset: ps.position?.toString(),
          error: (error as Error)?.message,
          retryCount: attempt,
          retryTime: wait,
        })
        if (attempt > retries) {
          this.emitEvent(this.inner.events.CRASH, { error, groupId: this.groupId, restart: true })
          attempt = 0
        }
        await sleep(wait)
        if (!this.isCurrent(ps, epoch)) return
      }
    }
  }

  /** Decides where the partition's position is served from, and reads the archive until it is Kafka's turn. */
  private async route(ps: PartitionState, epoch: number): Promise<void> {
    for (;;) {
      await this.waitUntilDeliverable(ps, epoch)
      if (!this.isCurrent(ps, epoch)) return
      const extent = await this.extent(ps.topic, ps.partition)
      if (!this.isCurrent(ps, epoch)) return
      if (ps.position === undefined || ps.special) {
        const start =
          ps.special === 'latest'
            ? extent.kafka.highWatermark
            : ps.special === 'earliest'
              ? earliestOffset(extent)
              : initialPosition(undefined, this.fromBeginning(ps.topic), extent)
        ps.special = undefined
        this.advance(ps, start)
      }
      const position = ps.position!
      const archiveEnd = extent.archive?.next ?? 0n
      ps.highWatermark = extent.kafka.highWatermark > archiveEnd ? extent.kafka.highWatermark : archiveEnd
      const choice = chooseSource(position, extent, this.mode)
      if (choice.kind === 'kafka') {
        this.goLive(ps)
        return
      }
      if (choice.kind === 'missing') {
        await this.missing(ps, position, choice.resumeAt, 'Kafka deleted them before they were archived')
        continue
      }
      ps.source = 'archive'
      try {
        await this.readArchive(ps, epoch, choice.toOffset)
      } catch (error) {
        if (!(error instanceof DataLossError) || !this.isCurrent(ps, epoch)) throw error
        // A gap in the archive: Kafka may still hold those offsets; otherwise they are missing everywhere.
        const kafka = await this.kafkaRange(ps.topic, ps.partition)
        const at = ps.position!
        if (kafka.logStart <= at) {
          this.goLive(ps)
          return
        }
        const afterGap = error.lastOffset + 1n
        await this.missing(
          ps,
          at,
          afterGap < kafka.logStart ? afterGap : kafka.logStart,
          `archive gap: ${error.reason}`,
        )
      }
    }
  }

  /** Offsets [from, resumeAt) exist nowhere: fail, or skip them with an archive.unavailable event. */
  private async missing(ps: PartitionState, from: bigint, resumeAt: bigint, reason: string): Promise<void> {
    if (this.onMissing === 'error') {
      throw new ArchiveUnavailableError(ps.topic, ps.partition, from, resumeAt - 1n, reason)
    }
    this.log.warn('Skipping offsets that are neither in the archive nor in Kafka', {
      topic: ps.topic,
      partition: ps.partition,
      firstOffset: from.toString(),
      lastOffset: (resumeAt - 1n).toString(),
      reason,
    })
    this.emitEvent(ArchiveEvents.ARCHIVE_UNAVAILABLE, {
      topic: ps.topic,
      partition: ps.partition,
      firstOffset: from.toString(),
      lastOffset: (resumeAt - 1n).toString(),
      reason,
    } satisfies ArchiveUnavailablePayload)
    this.advance(ps, resumeAt)
    if (this.runConfig.autoCommit) await this.commitResolved()
  }

  /** Hands the partition to kafkajs at exactly its position. */
  private goLive(ps: PartitionState): void {
    const offset = ps.position!.toString()
    ps.source = 'kafka'
    if (ps.fromArchive) {
      ps.fromArchive = false
      this.log.info('Partition crossed from the archive into Kafka', {
        topic: ps.topic,
        partition: ps.partition,
        offset,
      })
      this.emitEvent(ArchiveEvents.ARCHIVE_SWITCH, {
        topic: ps.topic,
        partition: ps.partition,
        offset,
      } satisfies ArchiveSwitchPayload)
    }
    // The seek lands before kafkajs' next fetch request for the partition and makes it drop any answer in flight.
    this.inner.seek({ topic: ps.topic, partition: ps.partition, offset })
    if (!this.isPaused(ps.topic, ps.partition)) this.inner.resume([{ topic: ps.topic, partitions: [ps.partition] }])
  }

  private async readArchive(ps: PartitionState, epoch: number, toOffset: bigint): Promise<void> {
    const from = ps.position!
    ps.fromArchive = true
    const chunks = this.reader.readBatches({ topic: ps.topic, partition: ps.partition, fromOffset: from, toOffset })
    for await (const chunk of chunks) {
      // A paused partition gives its share of the read buffer back (the route re-reads from the position).
      if (this.isPaused(ps.topic, ps.partition)) return
      await this.waitUntilDeliverable(ps, epoch)
      if (!this.isCurrent(ps, epoch)) return
      const delivered = await this.deliverArchiveChunk(ps, epoch, chunk.columns)
      // Stopped early (pause, seek, partial resolve): the next route re-reads from the position.
      if (!delivered) return
    }
    // Compaction holes at the end of the range: the archive vouches for everything through toOffset.
    if (this.isCurrent(ps, epoch) && ps.position! <= toOffset) this.advance(ps, toOffset + 1n)
  }

  /** True when every record of the chunk was delivered and resolved. */
  private async deliverArchiveChunk(ps: PartitionState, epoch: number, columns: RecordColumns): Promise<boolean> {
    const start = lowerBound(columns.offsets, ps.position!)
    if (start >= columns.length) return true
    const last = columns.offsets[columns.length - 1]!
    await this.semaphore.acquire()
    try {
      if (!this.isCurrent(ps, epoch) || this.isPaused(ps.topic, ps.partition) || this.rebalancing) return false
      const started = Date.now()
      const { eachMessage, eachBatch } = this.runConfig
      if (eachMessage) {
        const messages = toKafkaMessages(columns, start)
        const batch = new MessageBatch(ps.topic, ps.partition, ps.highWatermark.toString(), messages)
        const info = this.batchInfo(batch)
        this.emitEvent(this.inner.events.START_BATCH_PROCESS, info)
        await this.deliverMessages(ps, epoch, batch, eachMessage, undefined, columns.offsets.subarray(start))
        this.emitEvent(this.inner.events.END_BATCH_PROCESS, { ...info, duration: Date.now() - started })
      } else if (eachBatch) {
        const messages = toKafkaMessages(columns, start)
        const batch = new MessageBatch(ps.topic, ps.partition, ps.highWatermark.toString(), messages)
        const info = this.batchInfo(batch)
        this.emitEvent(this.inner.events.START_BATCH_PROCESS, info)
        await this.deliverBatch(ps, epoch, batch, eachBatch, undefined)
        this.emitEvent(this.inner.events.END_BATCH_PROCESS, { ...info, duration: Date.now() - started })
      }
      if (this.runConfig.autoCommit) await this.commitResolved()
    } finally {
      this.semaphore.release()
    }
    return this.isCurrent(ps, epoch) && ps.position! > last
  }

  private async waitUntilDeliverable(ps: PartitionState, epoch: number): Promise<void> {
    while (this.isCurrent(ps, epoch) && (this.rebalancing || this.isPaused(ps.topic, ps.partition))) {
      await this.changed.wait()
    }
  }

  // ---- delivery (shared by archive chunks and Kafka batches) -----------------------------------------------------

  /**
   * kafkajs' eachMessage loop: one message at a time, each resolved once its handler returns; stops at a seek,
   * a pause or stop. `live` is the kafkajs payload when the batch came from Kafka (its offsets advance too).
   */
  private async deliverMessages(
    ps: PartitionState,
    epoch: number,
    batch: MessageBatch | Batch,
    eachMessage: NonNullable<ConsumerRunConfig['eachMessage']>,
    live: EachBatchPayload | undefined,
    /** The messages' offsets, when known as numbers already (archive chunks): no string to parse per message. */
    offsets?: BigInt64Array,
  ): Promise<void> {
    const { topic, partition } = ps
    const heartbeat = live ? live.heartbeat : this.archiveHeartbeat
    const pause = () => this.pauseFromHandler(topic, partition)
    const { autoCommit, autoCommitInterval, autoCommitThreshold } = this.runConfig
    const periodic = autoCommitInterval !== null || autoCommitThreshold !== null
    const messages = batch.messages
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!
      if (!this.isCurrent(ps, epoch) || this.rebalancing) break
      const payload: EachMessagePayload = { topic, partition, message, heartbeat, pause }
      this.inFlight++
      try {
        await eachMessage(payload)
      } catch (error) {
        this.logHandlerError('eachMessage', ps, message.offset, error)
        if (autoCommit) await this.commitResolved().catch((e) => this.logCommitError(e))
        throw error
      } finally {
        if (--this.inFlight === 0) this.changed.notify()
      }
      if (ps.epoch !== epoch) break
      if (live) live.resolveOffset(message.offset)
      this.advance(ps, (offsets ? offsets[i]! : BigInt(message.offset)) + 1n)
      if (live) await this.heartbeatOrCommit(live)
      // Only interval/threshold commits can be due mid-batch; skip the await when neither is configured.
      if (autoCommit && periodic) await this.commitIfNecessary()
      if (this.hasPauses && this.isPaused(topic, partition)) break
    }
  }

  private async deliverBatch(
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
      this.advance(ps, BigInt(end) + 1n)
    }
    const payload: EachBatchPayload = {
      batch,
      resolveOffset,
      heartbeat: live ? live.heartbeat : this.archiveHeartbeat,
      pause: () => this.pauseFromHandler(topic, partition),
      commitOffsetsIfNecessary: async (offsets?: Offsets) =>
        offsets ? this.commitTopics(offsets) : this.commitIfNecessary(),
      uncommittedOffsets: (): OffsetsByTopicPartition => this.book.uncommitted(),
      isRunning: () => this.running,
      isStale: () => ps.epoch !== epoch || (live?.isStale() ?? false),
    }
    this.inFlight++
    try {
      await eachBatch(payload)
    } catch (error) {
      this.logHandlerError('eachBatch', ps, batch.firstOffset(), error)
      if (this.runConfig.autoCommit) await this.commitResolved().catch((e) => this.logCommitError(e))
      throw error
    } finally {
      if (--this.inFlight === 0) this.changed.notify()
    }
    if (this.runConfig.eachBatchAutoResolve && lastMessage) resolveOffset(lastMessage.offset)
  }

  /** The handler of the kafkajs consumer underneath: live batches of partitions Kafka currently serves. */
  private async onKafkaBatch(live: EachBatchPayload): Promise<void> {
    const { batch } = live
    this.liveHeartbeat = live.heartbeat
    const ps = this.partitions.get(keyOf(batch.topic, batch.partition))
    // Not ours to deliver (being resolved, read from the archive, paused, or a rebalance is under way): dropped
    // unresolved, so kafkajs fetches it again from its position once the partition is live and resumed.
    if (!ps || ps.source !== 'kafka' || !this.running || this.rebalancing || this.isPaused(ps.topic, ps.partition)) {
      return
    }
    const position = ps.position!
    const fetched = BigInt(
      (batch as Batch & { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset() ?? position,
    )
    if (fetched > position) {
      // kafkajs moved past our position on its own (an offset reset after OffsetOutOfRange): take the partition
      // back and decide again where `position` lives.
      this.log.warn('Kafka fetch position ran ahead of the consumer position, re-routing', {
        topic: ps.topic,
        partition: ps.partition,
        position: position.toString(),
        fetched: fetched.toString(),
      })
      this.innerPause(ps.topic, [ps.partition])
      this.applySeek(ps, position, false)
      this.startLoop(ps)
      return
    }
    let start = 0
    while (start < batch.messages.length && BigInt(batch.messages[start]!.offset) < position) start++
    if (start === batch.messages.length) {
      // Everything here was delivered already: move kafkajs' fetch position up to ours.
      live.resolveOffset((position - 1n).toString())
      return
    }
    const view =
      start === 0
        ? batch
        : new MessageBatch(
            batch.topic,
            batch.partition,
            batch.highWatermark,
            batch.messages.slice(start),
            batch.lastOffset(),
          )
    const high = BigInt(batch.highWatermark)
    if (high > ps.highWatermark) ps.highWatermark = high
    const epoch = ps.epoch
    const { eachMessage, eachBatch } = this.runConfig
    await this.semaphore.acquire()
    try {
      if (eachMessage) await this.deliverMessages(ps, epoch, view, eachMessage, live)
      else if (eachBatch) await this.deliverBatch(ps, epoch, view, eachBatch, live)
      if (this.runConfig.autoCommit) await this.commitResolved()
    } finally {
      this.semaphore.release()
    }
  }

  private async heartbeatOrCommit(live: EachBatchPayload): Promise<void> {
    try {
      await live.heartbeat()
    } catch (error) {
      // kafkajs commits what was processed when a heartbeat reveals a rebalance; we took over its commits.
      if (this.runConfig.autoCommit) await this.commitResolved().catch((e) => this.logCommitError(e))
      throw error
    }
  }

  // ---- offsets and commits ---------------------------------------------------------------------------------------

  private advance(ps: PartitionState, next: bigint): void {
    ps.position = next
    // The book entry lives as long as the assignment does (revocation drops both), so caching it is safe.
    ;(ps.offsets ??= this.book.entry(ps.topic, ps.partition)).resolved = next
  }

  /** A seek: the partition stops where it is and resolves `target` (or the earliest / latest offset) again. */
  private applySeek(ps: PartitionState, target: bigint, commit = true): void {
    ps.epoch++
    ps.source = 'resolving'
    this.innerPause(ps.topic, [ps.partition])
    if (target === -2n || target === -1n) {
      ps.special = target === -2n ? 'earliest' : 'latest'
      ps.position = undefined
    } else {
      ps.special = undefined
      this.advance(ps, target)
      // kafkajs commits a seek right away when auto-committing; so do we.
      if (commit && this.runConfig.autoCommit && this.running) {
        void this.commitResolved().catch((e) => this.logCommitError(e))
      }
    }
    this.changed.notify()
  }

  private enqueueCommit<T>(fn: () => Promise<T>): Promise<T> {
    // One commit at a time, in order: a slow earlier commit must never land after (and undo) a later one.
    const next = this.commitChain.then(fn, fn)
    this.commitChain = next.catch(() => {})
    return next
  }

  private commitResolved(): Promise<void> {
    return this.enqueueCommit(async () => {
      const { topics } = this.book.uncommitted()
      if (topics.length === 0) {
        this.book.lastCommit = Date.now()
        return
      }
      await this.inner.commitOffsets(
        topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset }))),
      )
      this.book.markCommitted(topics)
    })
  }

  private async commitIfNecessary(): Promise<void> {
    if (this.book.commitDue(this.runConfig.autoCommitInterval, this.runConfig.autoCommitThreshold)) {
      await this.commitResolved()
    }
  }

  private async commitTopics(offsets: Offsets): Promise<void> {
    await this.enqueueCommit(async () => {
      await this.inner.commitOffsets(
        offsets.topics.flatMap((t) =>
          t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset })),
        ),
      )
      this.book.markCommitted(offsets.topics)
    })
  }

  // ---- helpers ---------------------------------------------------------------------------------------------------

  private async extent(topic: string, partition: number): Promise<PartitionExtent> {
    const [head, kafka] = await Promise.all([this.archiveHead(topic, partition), this.kafkaRange(topic, partition)])
    const archive =
      head && head.firstOffset !== null && head.nextOffset > head.firstOffset
        ? { first: head.firstOffset, next: head.nextOffset }
        : undefined
    return { archive, kafka }
  }

  private async archiveHead(topic: string, partition: number) {
    return this.reader.head(topic, partition)
  }

  private async kafkaRange(topic: string, partition: number): Promise<PartitionExtent['kafka']> {
    const offsets = await this.topicOffsets(topic)
    const p = offsets.find((o) => o.partition === partition)
    if (!p) return { logStart: 0n, highWatermark: 0n }
    return { logStart: BigInt(p.low), highWatermark: BigInt(p.high) }
  }

  /**
   * Kafka's offsets of every partition of `topic`. Partitions asking at once share one request: each answer covers
   * the whole topic, and a hundred partitions starting together would otherwise send a hundred.
   */
  private topicOffsets(topic: string): ReturnType<Admin['fetchTopicOffsets']> {
    let pending = this.offsetRequests.get(topic)
    if (!pending) {
      pending = this.admin.fetchTopicOffsets(topic)
      this.offsetRequests.set(topic, pending)
      const done = () => {
        if (this.offsetRequests.get(topic) === pending) this.offsetRequests.delete(topic)
      }
      pending.then(done, done)
    }
    return pending
  }

  private fromBeginning(topic: string): boolean {
    // The latest subscription naming the topic wins, as in kafkajs.
    for (let i = this.subscriptions.length - 1; i >= 0; i--) {
      const s = this.subscriptions[i]!
      if (s.matches(topic)) return s.fromBeginning
    }
    return false
  }

  /** Any user pause at all: the per-message check skips building a key when there is none. */
  private get hasPauses(): boolean {
    return this.pausedPartitions.size > 0 || this.pausedTopics.size > 0
  }

  private isPaused(topic: string, partition: number): boolean {
    if (!this.hasPauses) return false
    const key = keyOf(topic, partition)
    if (this.pausedPartitions.has(key)) return true
    return this.pausedTopics.has(topic) && !this.resumedPartitions.has(key)
  }

  private pauseFromHandler(topic: string, partition: number): () => void {
    this.pause([{ topic, partitions: [partition] }])
    return () => this.resume([{ topic, partitions: [partition] }])
  }

  private innerPause(topic: string, partitions: number[]): void {
    try {
      this.inner.pause([{ topic, partitions }])
    } catch {
      // Before run() kafkajs has no group to pause in; the GROUP_JOIN handler pauses every assigned partition.
    }
  }

  private assignedOf(topic: string, partitions: number[] | undefined): number[] {
    const out: number[] = []
    for (const ps of this.partitions.values()) {
      if (ps.topic === topic && (partitions === undefined || partitions.includes(ps.partition))) out.push(ps.partition)
    }
    return out
  }

  private batchInfo(batch: MessageBatch) {
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

  private emitEvent(type: string, payload: unknown): void {
    if (this.emitter.listenerCount(type) === 0) return
    const event: InstrumentationEvent<unknown> = {
      id: `archive-${++this.eventId}`,
      type,
      timestamp: Date.now(),
      payload,
    }
    this.emitter.emit(type, event)
  }

  private crash(error: unknown): void {
    if (!this.running) return
    this.log.error(`Crash: ${(error as Error)?.name}: ${(error as Error)?.message}`, { groupId: this.groupId })
    this.running = false
    for (const ps of this.partitions.values()) ps.epoch++
    this.changed.notify()
    this.emitEvent(this.inner.events.CRASH, { error, groupId: this.groupId, restart: false })
    // Like kafkajs after a crash that will not restart: leave the group and disconnect.
    setImmediate(() => {
      this.disconnect().catch((e: unknown) => this.log.error('Disconnect after crash failed', { error: String(e) }))
    })
  }

  private logHandlerError(handler: string, ps: PartitionState, offset: string | null, error: unknown): void {
    this.log.error(`Error when calling ${handler}`, {
      topic: ps.topic,
      partition: ps.partition,
      offset,
      source: ps.source,
      stack: (error as Error)?.stack,
      error,
    })
  }

  private logCommitError(error: unknown): void {
    this.log.warn('Offset commit failed; the offsets are committed again with the next commit', {
      groupId: this.groupId,
      error: (error as Error)?.message,
    })
  }
}

// The one-line swap is only real if the compiler accepts an ArchiveConsumer wherever kafkajs wants a Consumer.
type AssertConsumer<T extends Consumer> = T
export type ArchiveConsumerIsConsumer = AssertConsumer<ArchiveConsumer>

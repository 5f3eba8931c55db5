// The archiver daemon's lifecycle: a kafkajs consumer group tails the selected topics, each assigned partition
// resumes at its HEAD, records flow through a PartitionPipeline into segments, and the Kafka group offset follows
// HEAD. Also: retention-overrun detection, --once, topic discovery, metrics, health and progress logs.
import {
  DataLossError,
  ENGINES_NOT_READING,
  EverlogError,
  FencedError,
  PartitionWriter,
  TopicRecreatedError,
  assembleSegment,
  checkConditionalWrites,
  encodePackedRowGroup,
  ensureArchive,
  openStore,
  readTopicMeta,
  registerKafkaCodecs,
  snapshotGroupOffsets,
  writeTopicMeta,
} from '@everlog/core'
import type { ObjectStore, PackedRecords } from '@everlog/core'
import { checkKafkaProtocol, GROUP_CONSUMER_REQUESTS } from '@everlog/core'
import kafkajs from 'kafkajs'
import type { Admin, Consumer } from 'kafkajs'
import type { DestinationStream, Logger } from 'pino'
import { ByteBudget, Limiter } from './budget.js'
import { parseConfig, selectTopics, topicSelector } from './config.js'
import type { ArchiverConfig, ArchiverConfigInput, TopicSelector } from './config.js'
import { startOpsServer } from './http.js'
import type { OpsServer } from './http.js'
import { kafkaClientConfig } from './kafka.js'
import { checkKafkaConnection, explainKafkaError } from './kafka-errors.js'
import { createLogger, redactUrl } from './logger.js'
import { EncoderPool } from './encoder-pool.js'
import { createFetchCluster } from './fetch/kafka-cluster.js'
import type { KafkaCluster, KafkaProtocolError } from './fetch/kafka-cluster.js'
import { fetchTopicIds } from './fetch/topic-ids.js'
import type { TopicIdBroker, TopicIds } from './fetch/topic-ids.js'
import { Fetcher } from './fetch/fetcher.js'
import type { FetchPosition, FetchSource } from './fetch/fetcher.js'
import type { FetchedPartition } from './fetch/fetch-response.js'
import { ArchiverMetrics } from './metrics.js'
import { IcebergPublisher } from './iceberg-publisher.js'
import type { ErrorKind } from './metrics.js'
import { PartitionPipeline } from './partition-pipeline.js'
import type { Committed } from './partition-pipeline.js'
import { backoffDelay, isRetriable, withRetry } from './retry.js'

// kafkajs is CommonJS: its runtime values come off the default export.
const { CompressionCodecs, ConfigResourceTypes, Kafka } = kafkajs
type Kafka = InstanceType<typeof Kafka>

registerKafkaCodecs(CompressionCodecs)

export interface ArchiverOptions {
  /** Log destination (default stdout); ignored when `logger` is given. */
  logStream?: DestinationStream
  logger?: Logger
  /** An already open store (tests); otherwise opened from config.store. */
  store?: ObjectStore
  /** Export Node process metrics (CPU, memory, event loop) too. Default true. */
  processMetrics?: boolean
}

interface TopicInfo {
  partitions: number
  /** Kafka's ID of the topic the archive holds (topic.json), once known. */
  topicId: string | undefined
  /** retention.ms; undefined or < 0 means Kafka does not delete by time. */
  retentionMs: number | undefined
  cleanupPolicy: string | undefined
}

interface PartitionState {
  topic: string
  partition: number
  /** Set once HEAD was read and Kafka was told where to fetch from. */
  pipeline: PartitionPipeline | undefined
  /** Bumped on every assignment so late callbacks of an older one are ignored. */
  generation: number
  init: Promise<void>
  highWatermark: bigint | undefined
  /** Newest record timestamp committed by this process. */
  committedMaxTimestamp: bigint | undefined
  /** Fences in a row while Kafka kept assigning the partition here (reset by a commit). */
  fences?: number
}

/** Re-reads of HEAD after fences in a row before a partition is given up until the next assignment. */
const MAX_RECLAIMS = 5

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`

export type ArchiverStatus = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed'

export class Archiver {
  readonly config: ArchiverConfig
  readonly metrics: ArchiverMetrics
  readonly logger: Logger
  private readonly selector: TopicSelector
  private store: ObjectStore | undefined
  private readonly ownsStore: boolean
  private kafka: Kafka | undefined
  private admin: Admin | undefined
  private consumer: Consumer | undefined
  private fetcher: Fetcher | undefined
  private ops: OpsServer | undefined
  private readonly budget: ByteBudget
  private readonly limiter: Limiter
  private encoders: EncoderPool | undefined
  private readonly partitions = new Map<string, PartitionState>()
  private readonly topics = new Map<string, TopicInfo>()
  private subscribed: string[] = []
  private generation = 0
  private joined = false
  private _status: ArchiverStatus = 'created'
  private failure: unknown
  private timers: NodeJS.Timeout[] = []
  private onceTargets: Map<string, bigint> | undefined
  private onceDone = false
  /** --once: pipelines whose partition reached its target and whose segment was rolled for it. */
  private readonly onceRolled = new WeakSet<PartitionPipeline>()
  private stopPromise: Promise<void> | undefined
  private resolveDone!: () => void
  private rejectDone!: (err: unknown) => void
  private readonly abort = new AbortController()
  private lastProgress = { at: Date.now(), records: 0, bytes: 0 }
  private totals = { records: 0, bytes: 0, segments: 0, gaps: 0 }
  private consumerRestart: Promise<void> | undefined
  /** Topics deleted and created again under their archived name: not archived any more (see verifyTopics). */
  private readonly recreated = new Map<string, TopicRecreatedError>()
  /** Topics Kafka said it does not know: their partitions are not fetched until the topic ID was checked. */
  private readonly suspect = new Set<string>()
  private readonly verifying = new Map<string, Promise<void>>()
  private idCluster: (KafkaCluster & { findControllerBroker(): Promise<TopicIdBroker> }) | undefined
  /** Watermark requests in flight per topic, shared by the partitions being opened (see watermarks). */
  private readonly topicOffsets = new Map<string, ReturnType<Admin['fetchTopicOffsets']>>()
  private iceberg: IcebergPublisher | undefined
  /**
   * Settles when the archiver has stopped: after stop(), after --once finished, or with the error that stopped it.
   * Always handled, so an embedding that only calls stop() sees no unhandled rejection.
   */
  readonly done: Promise<void>

  constructor(config: ArchiverConfigInput | ArchiverConfig, options: ArchiverOptions = {}) {
    this.config = parseConfig(config)
    this.selector = topicSelector(this.config.topics)
    this.logger = options.logger ?? createLogger(this.config.logLevel, options.logStream)
    this.metrics = new ArchiverMetrics({ processMetrics: options.processMetrics ?? true })
    this.budget = new ByteBudget(this.config.maxBufferedBytes)
    this.limiter = new Limiter(this.config.uploadConcurrency)
    this.store = options.store
    this.ownsStore = options.store === undefined
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve
      this.rejectDone = reject
    })
    this.done.catch(() => {})
  }

  get status(): ArchiverStatus {
    return this._status
  }

  /** The port the ops HTTP server listens on (useful with http.port 0). */
  get httpPort(): number | undefined {
    return this.ops?.port
  }

  /** Connects, starts the ops server and the consumer group; resolves once archiving has started. */
  async start(): Promise<void> {
    if (this._status !== 'created') throw new EverlogError('INVALID_ARGUMENT', 'an Archiver can be started once')
    this._status = 'starting'
    const c = this.config
    try {
      this.logger.info(
        {
          brokers: c.brokers,
          topics: c.topics,
          store: redactUrl(c.store),
          group: c.group,
          once: c.once,
          segment: c.segment,
          maxBufferedBytes: c.maxBufferedBytes,
          sasl: c.kafka.sasl ? c.kafka.sasl.mechanism : undefined,
          ssl: c.kafka.ssl !== undefined && c.kafka.ssl !== false,
        },
        'archiver starting',
      )
      const unreadableBy = ENGINES_NOT_READING[c.segment.compression]
      if (unreadableBy.length > 0) {
        this.logger.warn(
          { compression: c.segment.compression, unreadableBy },
          `segments compressed with ${c.segment.compression} cannot be read by ${unreadableBy.join(' or ')}; ` +
            'use zstd (the default) for an archive meant for them',
        )
      }
      this.store ??= openStore(c.store, c.s3 ? { s3: c.s3 } : {})
      const store = this.store
      await this.checkFencing(store)
      await this.retrying('store', () => ensureArchive(store))
      this.ops = await startOpsServer(
        this.metrics.registry,
        {
          healthy: () =>
            this._status === 'failed'
              ? { ok: false, detail: `failed: ${(this.failure as Error)?.message ?? this.failure}` }
              : { ok: true, detail: this._status },
          ready: () =>
            this._status === 'running' && (this.joined || this.subscribed.length === 0)
              ? { ok: true, detail: `ready: ${this.assignedCount()} partitions assigned` }
              : { ok: false, detail: `not ready: ${this._status}${this.joined ? '' : ', not joined'}` },
        },
        c.http.port,
        c.http.host,
      )
      // Workers boot while Kafka connects.
      this.encoders = new EncoderPool(c.encodeWorkers)
      const client = kafkaClientConfig(c, this.logger)
      await checkKafkaConnection(c, client)
      this.kafka = new Kafka(client)
      this.admin = this.kafka.admin()
      await this.retrying('kafka', () => this.admin!.connect())
      // A broker without a version kafkajs speaks of a request the archiver sends would close the connection on it
      // and the archiver would retry for good: fail at start instead, naming the request.
      await checkKafkaProtocol(
        this.kafka,
        [...GROUP_CONSUMER_REQUESTS, 'DescribeConfigs', 'DescribeGroups'],
        'the archiver (kafkajs 2.2.4)',
      )
      const topics = await this.discoverTopics()
      if (c.once) await this.snapshotOnceTargets(topics)
      await this.subscribe(topics)
      // The consumer may have crashed while joining (an ACL, the coordinator): that failure is the outcome.
      if (this.failure !== undefined) throw this.failure
      if (c.iceberg.publish) {
        this.iceberg = new IcebergPublisher(store, c.iceberg, this.logger, this.metrics)
        this.iceberg.start()
      }
      this._status = 'running'
      this.startTimers()
      this.logger.info({ topics, httpPort: this.ops.port }, 'archiver started')
      if (c.once) this.checkOnceDone()
    } catch (err) {
      this.fail(err, 'archiver failed to start')
      await this.stopPromise
      throw this.failure ?? err
    }
  }

  /** Flushes every open segment, commits, leaves the group and closes everything. Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown()
    return this.stopPromise
  }

  private async shutdown(): Promise<void> {
    const failed = this._status === 'failed'
    if (!failed) this._status = 'stopping'
    this.logger.info('archiver stopping: flushing open segments')
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    try {
      await this.consumerRestart?.catch(() => {})
      await this.drainConsumer()
    } catch (err) {
      this.logger.error({ err }, 'error while flushing on stop')
      if (!failed) {
        this.failure = err
        this._status = 'failed'
      }
    }
    this.abort.abort()
    this.budget.wake()
    await this.idCluster?.disconnect().catch(() => {})
    // --once reports a topic it could not archive: the run did not archive everything it was asked to.
    const recreated = this.recreated.values().next().value
    if (this.config.once && recreated && this._status !== 'failed') {
      this.failure = recreated
      this._status = 'failed'
    }
    // After the last commits: the table then lists every segment this archiver wrote.
    await this.iceberg?.stop()
    // The groups' offsets as of this stop, so a --once run or a planned shutdown leaves a current snapshot.
    if (this.config.groupOffsets.groups.length > 0) await this.snapshotGroups()
    await this.admin?.disconnect().catch(() => {})
    await this.encoders?.close().catch(() => {})
    await this.ops?.close().catch(() => {})
    if (this.ownsStore) await this.store?.close().catch(() => {})
    this.logProgress(true)
    if (this._status === 'failed') {
      this.logger.error({ err: this.failure }, 'archiver stopped with an error')
      this.rejectDone(this.failure)
    } else {
      this._status = 'stopped'
      this.logger.info(this.totals, 'archiver stopped')
      this.resolveDone()
    }
  }

  /** Stops fetching, commits everything buffered, then leaves the group (so the next owner starts at HEAD). */
  private async drainConsumer(): Promise<void> {
    const consumer = this.consumer
    if (!consumer) return
    // Fetching stops first (a response being handed over finishes), so nothing is buffered after the flush.
    const states = [...this.partitions.values()]
    const fetcher = this.fetcher
    this.budget.wake()
    await fetcher?.stop()
    if (this.fetcher === fetcher) this.fetcher = undefined
    await Promise.all(states.map((s) => s.init.catch(() => {})))
    await Promise.all(states.map((s) => s.pipeline?.flush()))
    for (const s of states) s.pipeline?.close()
    this.partitions.clear()
    await consumer.disconnect().catch((err: unknown) => this.logger.warn({ err }, 'leaving the consumer group failed'))
    if (this.consumer === consumer) this.consumer = undefined
  }

  private get stopping(): boolean {
    return this._status === 'stopping' || this._status === 'failed' || this._status === 'stopped'
  }

  // ---- topics -----------------------------------------------------------------------------------------------

  private async discoverTopics(): Promise<string[]> {
    const all = await this.retrying('kafka', () => this.admin!.listTopics())
    const selected = selectTopics(this.selector, all)
    if (this.selector.kind === 'list') {
      const missing = this.selector.topics.filter((t) => !selected.includes(t))
      if (missing.length > 0) {
        this.logger.warn(
          { missing },
          'topics not found in Kafka yet (or hidden: the principal lacks DESCRIBE on them); they are picked up once listed',
        )
      }
    }
    for (const topic of selected) if (!this.topics.has(topic)) await this.describeTopic(topic)
    return selected
  }

  /** Reads partition count, cleanup.policy and retention.ms from Kafka and records them in topic.json. */
  private async describeTopic(topic: string): Promise<void> {
    const admin = this.admin!
    const meta = await this.retrying('kafka', () => admin.fetchTopicMetadata({ topics: [topic] }))
    const partitions = meta.topics[0]?.partitions.length ?? 0
    const configs: Record<string, string> = {}
    try {
      const described = await admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy', 'retention.ms'] }],
        includeSynonyms: false,
      })
      for (const entry of described.resources[0]?.configEntries ?? []) {
        if (entry.configValue !== null && entry.configValue !== undefined) configs[entry.configName] = entry.configValue
      }
    } catch (err) {
      this.logger.warn({ topic, err }, 'could not read the topic configuration; retention headroom is not reported')
    }
    const retention = configs['retention.ms'] === undefined ? undefined : Number(configs['retention.ms'])
    const store = this.store!
    const archived = await this.retrying('store', () => readTopicMeta(store, topic))
    let kafkaId: string | undefined
    try {
      kafkaId = (await this.retrying('kafka', () => this.topicIds([topic])))?.get(topic) ?? undefined
    } catch (err) {
      // Checked again at the next topic refresh and assignment.
      this.logger.warn({ topic, err }, 'could not read the topic ID from Kafka; checking again later')
    }
    const info: TopicInfo = {
      partitions,
      topicId: archived?.topicId ?? kafkaId,
      retentionMs: retention !== undefined && Number.isFinite(retention) ? retention : undefined,
      cleanupPolicy: configs['cleanup.policy'],
    }
    this.topics.set(topic, info)
    if (archived?.topicId !== undefined && kafkaId !== undefined && archived.topicId !== kafkaId) {
      // topic.json keeps describing the topic the archive holds.
      this.topicRecreated(topic, archived.topicId, kafkaId)
      return
    }
    await this.retrying('store', () =>
      writeTopicMeta(store, {
        topic,
        partitions,
        ...(info.cleanupPolicy !== undefined ? { cleanupPolicy: info.cleanupPolicy } : {}),
        ...(info.topicId !== undefined ? { topicId: info.topicId } : {}),
        configs,
      }),
    )
  }

  // ---- topic IDs: a topic deleted and created again ----------------------------------------------------------

  /**
   * Kafka's IDs of `topics` (Metadata v10+, Kafka 2.8+), asked over a connection of the archiver's own; undefined
   * when the broker has no topic IDs (then a recreated topic is only noticed by its offsets: see outOfRange).
   */
  private async topicIds(topics: readonly string[]): Promise<TopicIds | undefined> {
    if (!this.idCluster) {
      const cluster = createFetchCluster(this.kafka!) as NonNullable<Archiver['idCluster']>
      await cluster.connect()
      this.idCluster = cluster
    }
    const cluster = this.idCluster
    await cluster.refreshMetadata()
    let broker: TopicIdBroker
    try {
      broker = await cluster.findControllerBroker()
    } catch (err) {
      // A cluster that names no controller (-1): any broker answers Metadata.
      const nodes = (cluster as { brokerPool?: { metadata?: { brokers?: { nodeId: number }[] } } }).brokerPool?.metadata
        ?.brokers
      if (!nodes || nodes.length === 0) throw err
      broker = (await cluster.findBroker({ nodeId: String(nodes[0]!.nodeId) })) as unknown as TopicIdBroker
    }
    return fetchTopicIds(broker, topics)
  }

  /**
   * Checks that Kafka's topics are still the ones the archive holds. A topic Kafka does not know (deleted, maybe
   * about to be created again) stays held; one with another ID than topic.json's is no longer archived.
   */
  private verifyTopic(topic: string): Promise<void> {
    let pending = this.verifying.get(topic)
    if (!pending) {
      pending = this.retrying('kafka', () => this.topicIds([topic]))
        .then((ids) => this.applyTopicId(topic, ids))
        .finally(() => this.verifying.delete(topic))
      this.verifying.set(topic, pending)
    }
    return pending
  }

  /** verifyTopic for many topics with one request (the periodic check). */
  private async verifyTopics(topics: readonly string[]): Promise<void> {
    const open = topics.filter((t) => !this.recreated.has(t) && !this.verifying.has(t))
    if (open.length === 0) return
    const ids = await this.topicIds(open)
    for (const topic of open) await this.applyTopicId(topic, ids)
  }

  private async applyTopicId(topic: string, ids: TopicIds | undefined): Promise<void> {
    if (!ids) {
      this.suspect.delete(topic)
      return
    }
    const id = ids.get(topic)
    const info = this.topics.get(topic)
    if (id === null || id === undefined || this.recreated.has(topic)) return
    const archived = info?.topicId
    if (archived !== undefined && archived !== id) {
      this.topicRecreated(topic, archived, id)
      return
    }
    if (archived === undefined && info) {
      // Not known when the topic was first seen (an older archive, or a failed lookup): recorded now.
      info.topicId = id
      const store = this.store!
      const meta = await this.retrying('store', () => readTopicMeta(store, topic))
      if (meta && meta.topicId === undefined) {
        const { format: _format, ...rest } = meta
        await this.retrying('store', () => writeTopicMeta(store, { ...rest, topicId: id }))
      }
    }
    if (this.suspect.delete(topic)) {
      this.logger.info({ topic, topicId: id }, `topic ${topic} is known to Kafka again, with the same ID`)
      this.fetcher?.wake()
    }
  }

  /** Kafka answered UNKNOWN_TOPIC_OR_PARTITION: hold the topic's partitions until its ID was checked again. */
  private suspectTopic(topic: string): void {
    if (this.suspect.has(topic) || this.recreated.has(topic)) return
    this.suspect.add(topic)
    this.logger.warn(
      { topic },
      `Kafka does not know topic ${topic} (deleted?): its partitions wait until Kafka knows the topic again, then its ID is checked`,
    )
    void (async () => {
      for (let attempt = 1; this.suspect.has(topic) && this.subscribed.includes(topic) && !this.stopping; attempt++) {
        await this.verifyTopic(topic).catch((err: unknown) =>
          this.logger.warn({ topic, err }, 'checking the topic ID failed; retrying'),
        )
        if (this.suspect.has(topic)) await sleepUnref(Math.min(backoffDelay(this.config.retry, attempt), 1000))
      }
    })()
  }

  /**
   * The topic was deleted and created again: its offsets restarted at 0, under the archived ones. Nothing of the new
   * topic goes into this archive: its partitions stop, the error is logged and counted. What was buffered while
   * the topic was held came from the old topic and is committed; otherwise it may hold the new one and is dropped.
   */
  private topicRecreated(topic: string, archivedId: string, kafkaId: string): void {
    if (this.recreated.has(topic)) return
    const err = new TopicRecreatedError(topic, archivedId, kafkaId)
    const held = this.suspect.delete(topic)
    this.recreated.set(topic, err)
    this.countError('topic_recreated')
    this.metrics.recreatedTopics.set(this.recreated.size)
    this.logger.error({ topic, archivedTopicId: archivedId, kafkaTopicId: kafkaId, err }, err.message)
    for (const s of this.partitions.values()) {
      const pipeline = s.topic === topic ? s.pipeline : undefined
      if (!pipeline) continue
      if (held) void pipeline.flush().finally(() => pipeline.close())
      else {
        if (pipeline.bufferedRecords > 0) {
          this.logger.warn(
            { topic, partition: s.partition, records: pipeline.bufferedRecords },
            'records buffered before the new topic was noticed are dropped: they may belong to either topic',
          )
        }
        pipeline.close()
      }
    }
    this.checkOnceDone()
  }

  private async snapshotOnceTargets(topics: string[]): Promise<void> {
    const targets = new Map<string, bigint>()
    for (const topic of topics) {
      const offsets = await this.retrying('kafka', () => this.admin!.fetchTopicOffsets(topic))
      for (const o of offsets) targets.set(tpKey(topic, o.partition), BigInt(o.high))
    }
    this.onceTargets = targets
    this.logger.info({ partitions: targets.size }, '--once: archiving every partition up to its high watermark')
  }

  /** Re-reads the topic list; new matching topics mean a new subscription (kafkajs fixes topics at run()). */
  private async refreshTopics(): Promise<void> {
    if (this.stopping || this.consumerRestart) return
    let topics: string[]
    try {
      topics = await this.discoverTopics()
    } catch (err) {
      this.logger.warn({ err }, 'topic refresh failed; retrying at the next interval')
      return
    }
    // A topic deleted and created again between two fetches is seen here at the latest.
    await this.verifyTopics(this.subscribed).catch((err: unknown) =>
      this.logger.warn({ err }, 'checking topic IDs failed; retrying at the next interval'),
    )
    const added = topics.filter((t) => !this.subscribed.includes(t))
    // A subscribed topic Kafka no longer lists was deleted: the fetcher's metadata requests, which name every topic
    // it fetches, would fail until the archiver gave up. Its archive stays; if it comes back, it is checked again.
    const removed = this.subscribed.filter((t) => !topics.includes(t))
    if ((added.length === 0 && removed.length === 0) || this.stopping) return
    if (added.length > 0) this.logger.info({ added }, 'new topics match the selector: resubscribing')
    if (removed.length > 0) {
      this.logger.warn({ removed }, 'topics no longer in Kafka (deleted?): resubscribing without them')
      for (const topic of removed) this.suspect.delete(topic)
    }
    this.consumerRestart = (async () => {
      await this.drainConsumer()
      // kafkajs' admin keeps asking Kafka's metadata for every topic it was ever asked about, and fails once one of
      // them is gone: a new admin knows only the topics that exist.
      if (removed.length > 0 && !this.stopping) await this.renewAdmin()
      if (!this.stopping) await this.subscribe(topics)
    })()
      .catch((err: unknown) => this.fail(err, 'resubscribing failed'))
      .finally(() => {
        this.consumerRestart = undefined
      })
  }

  private async renewAdmin(): Promise<void> {
    const previous = this.admin
    const admin = this.kafka!.admin()
    await this.retrying('kafka', () => admin.connect())
    this.admin = admin
    await previous?.disconnect().catch(() => {})
  }

  // ---- consumer ---------------------------------------------------------------------------------------------

  private async subscribe(topics: string[]): Promise<void> {
    this.subscribed = topics
    if (topics.length === 0) return
    const k = this.config.kafka
    const consumer = this.kafka!.consumer({
      groupId: this.config.group,
      readUncommitted: false,
      sessionTimeout: k.sessionTimeout,
      heartbeatInterval: k.heartbeatInterval,
      maxBytesPerPartition: k.maxBytesPerPartition,
      maxBytes: k.maxBytes,
      // kafkajs never fetches here (every partition stays paused; the Fetcher below reads them), so this is only how
      // long its paused fetch loop sleeps between turns, and disconnect() waits out that sleep: with the long poll
      // (500 ms by default) every stop and every --once run took up to that long to leave the group.
      maxWaitTimeInMs: Math.min(k.maxWaitTimeInMs, MEMBERSHIP_LOOP_MS),
      allowAutoTopicCreation: false,
      retry: {
        initialRetryTime: this.config.retry.initialMs,
        maxRetryTime: this.config.retry.maxMs,
        retries: this.config.retry.maxAttempts === 0 ? Number.MAX_SAFE_INTEGER : this.config.retry.maxAttempts,
      },
    })
    this.consumer = consumer
    this.joined = false
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // kafkajs may join once more while it leaves the group on stop (a rebalance started meanwhile): that
      // assignment opens nothing, since the admin it would read watermarks with is being disconnected.
      if (this.consumer === consumer && !this.stopping) this.onAssignment(consumer, e.payload.memberAssignment)
    })
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload
      this.countError('kafka')
      if (restart) this.logger.warn({ err: error }, 'Kafka consumer crashed; kafkajs restarts it')
      else if (this.consumer === consumer && !this.stopping) this.fail(error, 'Kafka consumer crashed')
    })
    await this.retrying('kafka', () => consumer.connect())
    // kafkajs keeps the membership only: every assigned partition stays paused in it and the Fetcher reads them,
    // each from its HEAD position.
    const fetcher = new Fetcher({
      cluster: createFetchCluster(this.kafka!),
      source: this.fetchSource(consumer),
      logger: this.logger,
      maxWaitTimeInMs: k.maxWaitTimeInMs,
      maxBytes: k.maxBytes,
      maxBytesPerPartition: k.maxBytesPerPartition,
      retry: this.config.retry,
    })
    this.fetcher = fetcher
    fetcher.start()
    await consumer.subscribe({ topics, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Never called while every assigned partition is paused; a batch slipping through before the pause is dropped.
      eachBatch: async () => {},
    })
  }

  private onAssignment(consumer: Consumer, assignment: Record<string, number[]>): void {
    const generation = ++this.generation
    this.joined = true
    const assigned = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) assigned.add(tpKey(topic, partition))
    }
    const previous = new Map(this.partitions)
    this.partitions.clear()
    // Every assigned partition restarts from HEAD: after a rebalance another member may have advanced it. Records
    // buffered here are dropped; they are re-read from Kafka at HEAD's nextOffset.
    for (const s of previous.values()) s.pipeline?.close()
    const toPause: Record<string, number[]> = {}
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        ;(toPause[topic] ??= []).push(partition)
        const before = previous.get(tpKey(topic, partition))
        const state: PartitionState = {
          topic,
          partition,
          pipeline: undefined,
          generation,
          init: Promise.resolve(),
          highWatermark: before?.highWatermark,
          committedMaxTimestamp: before?.committedMaxTimestamp,
        }
        // A commit still in flight from the previous assignment must land before HEAD is read again.
        const settled = before?.pipeline?.settled() ?? Promise.resolve()
        state.init = settled
          .then(() => this.openPartition(consumer, state))
          .catch((err: unknown) => this.partitionFailed(state, err, `could not start archiving ${topic}/${partition}`))
        this.partitions.set(tpKey(topic, partition), state)
      }
    }
    for (const s of previous.values()) {
      if (!assigned.has(tpKey(s.topic, s.partition))) {
        this.metrics.lag.remove(s.topic, String(s.partition))
        this.metrics.freshness.remove(s.topic, String(s.partition))
        this.metrics.retentionHeadroom.remove(s.topic, String(s.partition))
      }
    }
    // Fetching waits until HEAD is read: kafkajs would otherwise start at the group's committed offset.
    const pauses = Object.entries(toPause).map(([topic, partitions]) => ({ topic, partitions }))
    if (pauses.length > 0) consumer.pause(pauses)
    this.metrics.assignedPartitions.set(assigned.size)
    this.logger.info(
      {
        generation,
        assignment: Object.fromEntries(Object.entries(assignment).map(([t, ps]) => [t, [...ps].sort((a, b) => a - b)])),
      },
      'partitions assigned',
    )
  }

  private async openPartition(consumer: Consumer, state: PartitionState): Promise<void> {
    const { topic, partition } = state
    const c = this.config
    const store = this.store!
    // HEAD and Kafka's watermarks are read together: with many partitions their round trips add up otherwise.
    const [writer, watermarks] = await Promise.all([
      this.retrying('store', () =>
        PartitionWriter.open(store, {
          topic,
          partition,
          writer: c.writer,
          compression: c.segment.compression,
          rowGroupBytes: c.segment.rowGroupBytes,
        }),
      ),
      this.watermarks(topic, partition, { shared: true }),
    ])
    if (this.isStale(state)) return
    const hasHead = writer.head.root !== null
    const pipeline = new PartitionPipeline({
      topic,
      partition,
      sink: writer,
      encodeRowGroup: (records: PackedRecords) =>
        this.encoders
          ? this.encoders.encodeRowGroup(records, c.segment.compression)
          : encodePackedRowGroup(records, { compression: c.segment.compression }),
      assemble: (groups) => assembleSegment(groups, { topic, partition, compression: c.segment.compression }),
      rowGroupBytes: c.segment.rowGroupBytes,
      limits: c.segment,
      budget: this.budget,
      limiter: this.limiter,
      retry: c.retry,
      onCommitted: (committed) => this.onCommitted(consumer, state, committed),
      onRetry: (err, attempt, delayMs) => {
        this.metrics.retries.inc({ kind: 'store' })
        this.logger.warn({ topic, partition, err, attempt, delayMs }, 'store operation failed; retrying')
      },
      onStopped: (err) => this.onPartitionStopped(consumer, state, err),
    })
    state.highWatermark = watermarks.high
    if (!hasHead) {
      // Nothing archived yet: the archive starts where Kafka's log starts (or ends), which is not data loss.
      pipeline.position = c.startFrom === 'latest' ? watermarks.high : watermarks.low
    } else if (watermarks.low > pipeline.position) {
      this.overrun(pipeline, watermarks.low)
    }
    // A new assignment may follow a topic's deletion and creation: its ID is checked before anything is fetched.
    if (!this.recreated.has(topic)) {
      await this.verifyTopic(topic).catch((err: unknown) =>
        this.logger.warn({ topic, err }, 'could not check the topic ID; checking again at the next topic refresh'),
      )
    }
    if (this.isStale(state)) return
    if (this.recreated.has(topic)) pipeline.close()
    state.pipeline = pipeline
    if (pipeline.state !== 'running') return
    this.logger.info(
      {
        topic,
        partition,
        nextOffset: pipeline.position.toString(),
        headNextOffset: hasHead ? writer.nextOffset.toString() : null,
        logStartOffset: watermarks.low.toString(),
        highWatermark: watermarks.high.toString(),
      },
      hasHead ? 'resuming partition at HEAD' : `partition has no HEAD: starting at the ${c.startFrom} offset`,
    )
    if (this.stopping || pipeline.state !== 'running') return
    this.fetcher?.wake()
    this.checkOnceDone()
  }

  private isStale(state: PartitionState): boolean {
    return this.stopping || this.partitions.get(tpKey(state.topic, state.partition)) !== state
  }

  /**
   * Kafka's log start and end of one partition. `shared`: the answer may come from a request for the whole topic that
   * is already in flight (every partition of an assignment opens at once: one ListOffsets for all of them instead of
   * one each, which grew with the square of the partition count). Only for opening a partition, where an answer a few
   * milliseconds old is as good as a fresh one (a log start that moved meanwhile is caught by the first Fetch).
   */
  private async watermarks(
    topic: string,
    partition: number,
    { shared = false } = {},
  ): Promise<{ low: bigint; high: bigint }> {
    let request = shared ? this.topicOffsets.get(topic) : undefined
    if (!request) {
      request = this.retrying('kafka', () => this.admin!.fetchTopicOffsets(topic))
      if (shared) {
        const mine = request
        this.topicOffsets.set(topic, mine)
        const forget = () => {
          if (this.topicOffsets.get(topic) === mine) this.topicOffsets.delete(topic)
        }
        mine.then(forget, forget)
      }
    }
    const offsets = await request
    const o = offsets.find((x) => x.partition === partition)
    if (!o) throw new EverlogError('UNKNOWN_PARTITION', `Kafka has no partition ${partition} of topic "${topic}"`)
    return { low: BigInt(o.low), high: BigInt(o.high) }
  }

  /** Kafka's log now starts beyond what was archived: record the loss, loudly, then follow the policy. */
  private overrun(pipeline: PartitionPipeline, logStart: bigint): void {
    const { topic, partition } = pipeline
    const first = pipeline.position
    const last = logStart - 1n
    const lost = logStart - first
    this.metrics.dataLossOffsets.inc({ topic, partition: String(partition) }, Number(lost))
    this.countError('data_loss')
    const err = new DataLossError(topic, partition, first, last, 'retention')
    this.logger.error(
      { topic, partition, firstOffset: first.toString(), lastOffset: last.toString(), lostOffsets: lost.toString() },
      `retention overrun: Kafka deleted offsets ${first}..${last} of ${topic}/${partition} before they were archived` +
        (this.config.onDataLoss === 'fail'
          ? '; stopping (onDataLoss: fail)'
          : '; recording a gap (onDataLoss: continue)'),
    )
    if (this.config.onDataLoss === 'fail') {
      this.fail(err, 'data loss')
      return
    }
    pipeline.gap(first, last, 'retention')
  }

  // ---- fetching --------------------------------------------------------------------------------------------

  /** What the Fetcher reads from and reports to: the partitions of this consumer's assignment. */
  private fetchSource(consumer: Consumer): FetchSource {
    const current = (at: FetchPosition): PartitionState | undefined => {
      const state = this.partitions.get(tpKey(at.topic, at.partition))
      const p = state?.pipeline
      // A response for an older position (a rebalance, a gap) is stale: the fetch at the new position follows.
      if (this.stopping || this.consumer !== consumer || !p || p.state !== 'running' || p.position !== at.offset) {
        return undefined
      }
      if (this.suspect.has(at.topic) || this.recreated.has(at.topic)) return undefined
      return state
    }
    return {
      fetchable: () => {
        const out: FetchPosition[] = []
        if (this.stopping || this.consumer !== consumer) return out
        for (const s of this.partitions.values()) {
          const p = s.pipeline
          if (!p || p.state !== 'running' || this.suspect.has(s.topic) || this.recreated.has(s.topic)) continue
          const until = this.onceTargets?.get(tpKey(s.topic, s.partition))
          out.push({
            topic: s.topic,
            partition: s.partition,
            offset: p.position,
            ...(until === undefined ? {} : { until }),
          })
        }
        return out
      },
      room: () => this.room(),
      hasRoom: () => !this.budget.exhausted,
      fetched: (at, data) => {
        const state = current(at)
        if (state) this.fetched(state, data)
      },
      outOfRange: async (at) => {
        const state = current(at)
        if (state) await this.outOfRange(state)
      },
      partitionFailed: (at, err, delayMs) => {
        if (!current(at)) return
        const { topic, partition } = at
        if ((err as Partial<KafkaProtocolError>).type === 'UNKNOWN_TOPIC_OR_PARTITION') this.suspectTopic(topic)
        if (!isRetriable(err) && (err as Partial<KafkaProtocolError>).type !== 'UNKNOWN_TOPIC_OR_PARTITION') {
          this.countError('kafka')
          this.fail(err, `fetching ${topic}/${partition} failed`)
          return
        }
        this.countError('kafka')
        this.metrics.retries.inc({ kind: 'kafka' })
        this.logger.warn({ topic, partition, err, delayMs }, `fetching ${topic}/${partition} failed; retrying`)
      },
      requestFailed: (to, err, attempt, delayMs) => {
        if (this.stopping || this.consumer !== consumer) return
        this.countError('kafka')
        this.metrics.retries.inc({ kind: 'kafka' })
        const max = this.config.retry.maxAttempts
        // Metadata naming a topic that was just deleted fails until the topic refresh resubscribes without it.
        const deleted = (err as Partial<KafkaProtocolError>).type === 'UNKNOWN_TOPIC_OR_PARTITION'
        if (max > 0 && attempt >= max && !deleted) {
          this.fail(err, `fetching: requests to Kafka ${to} failed ${attempt} times`)
          return
        }
        this.logger.warn({ to, err, attempt, delayMs }, `fetching: a request to Kafka ${to} failed; retrying`)
      },
      fatal: (err) => {
        if (this.consumer === consumer && !this.stopping) this.fail(err, 'fetching from Kafka failed')
      },
    }
  }

  /** Waits while the byte budget is spent, rolling the biggest open buffers so encoding and uploads free memory. */
  private async room(): Promise<void> {
    while (this.budget.exhausted && !this.stopping) {
      this.relieveBudget()
      // Every release is a moment to decide again (an encoded row group may free little of incompressible data).
      await Promise.race([this.budget.waitForRelease(), sleepUnref(this.config.kafka.heartbeatInterval)])
    }
  }

  private fetched(state: PartitionState, data: FetchedPartition): void {
    const pipeline = state.pipeline!
    state.highWatermark = data.highWatermark
    if (data.records !== null && data.records.length > 0) {
      pipeline.appendFetched(data.records, data.abortedTransactions)
    }
    if (this.logger.isLevelEnabled('trace')) {
      this.logger.trace(
        {
          topic: state.topic,
          partition: state.partition,
          bytes: data.records?.length ?? 0,
          position: pipeline.position.toString(),
          buffered: pipeline.bufferedRecords,
        },
        'fetched',
      )
    }
    this.rollEarlyUnderPressure()
    this.rollOnceReached(state)
    this.metrics.bufferedBytes.set(this.budget.bytes)
    this.checkOnceDone()
  }

  /**
   * Kafka answered OFFSET_OUT_OF_RANGE. Below the log start, retention deleted records before they were archived: a
   * gap, or a stop (onDataLoss). Above the log end, the archive is ahead of Kafka (a topic deleted and created again
   * under the same name): archiving it would mix two logs, so the partition waits and says why.
   */
  private async outOfRange(state: PartitionState): Promise<void> {
    const pipeline = state.pipeline!
    const { topic, partition } = state
    const { low, high } = await this.watermarks(topic, partition)
    state.highWatermark = high
    if (pipeline.state !== 'running' || this.stopping) return
    if (low > pipeline.position) {
      this.overrun(pipeline, low)
      this.fetcher?.wake()
      return
    }
    if (pipeline.position > high) {
      await this.verifyTopic(topic)
      if (this.recreated.has(topic)) return
      throw new EverlogError(
        'OFFSET_ORDER',
        `the archive of ${topic}/${partition} continues at offset ${pipeline.position}, beyond Kafka's log end ${high}: ` +
          'was the topic deleted and created again? Archive the new topic to a new store, or remove the old archive',
        { retriable: true },
      )
    }
    // Within the log again (a leader change raced the fetch): the next fetch goes on.
  }

  /**
   * The budget is spent: encoding the biggest open row group frees most of its bytes without an upload (called again
   * at every release, so one group after the other). Only when no row group is open or encoding does the biggest
   * open segment roll (its upload frees the rest): incompressible data gets there quickly.
   */
  private relieveBudget(): void {
    const group = this.biggestPipeline((p) => p.openRowGroupBytes)
    if (group) return group.sealRowGroup()
    if (this.biggestPipeline((p) => p.encodingRowGroups) === undefined) {
      this.biggestPipeline((p) => p.openBufferBytes)?.roll('size')
    }
  }

  /**
   * Keeps half of the budget for buffering: once open row groups hold more than half of it, the biggest is sealed
   * and encoded early, so many partitions filling their groups together never stop fetching for long.
   */
  private rollEarlyUnderPressure(): void {
    const half = this.budget.limit / 2
    if (this.budget.bytes < half) return
    let open = 0
    for (const s of this.partitions.values()) open += s.pipeline?.openRowGroupBytes ?? 0
    if (open >= half) this.biggestPipeline((p) => p.openRowGroupBytes)?.sealRowGroup()
  }

  /** The pipeline with the largest positive `measure`, if any. */
  private biggestPipeline(measure: (p: PartitionPipeline) => number): PartitionPipeline | undefined {
    let biggest: PartitionPipeline | undefined
    let most = 0
    for (const s of this.partitions.values()) {
      const p = s.pipeline
      if (p && measure(p) > most) {
        most = measure(p)
        biggest = p
      }
    }
    return biggest
  }

  private async onCommitted(consumer: Consumer, state: PartitionState, c: Committed): Promise<void> {
    const { topic, partition } = state
    const labels = { topic }
    state.fences = 0
    if (c.kind === 'segment') {
      this.metrics.recordsArchived.inc(labels, c.records)
      this.metrics.bytesArchived.inc(labels, c.rawBytes)
      this.metrics.segmentBytes.inc(labels, c.objectBytes)
      this.metrics.segmentsCommitted.inc({ topic, reason: c.reason })
      this.metrics.uploadSeconds.observe(labels, c.uploadSeconds)
      this.totals.records += c.records
      this.totals.bytes += c.rawBytes
      this.totals.segments++
      this.iceberg?.segmentCommitted(topic)
      if (state.committedMaxTimestamp === undefined || c.maxTimestamp > state.committedMaxTimestamp) {
        state.committedMaxTimestamp = c.maxTimestamp
      }
      this.logger.debug(
        {
          topic,
          partition,
          firstOffset: c.firstOffset.toString(),
          lastOffset: c.lastOffset.toString(),
          records: c.records,
          bytes: c.objectBytes,
          reason: c.reason,
          seconds: c.uploadSeconds,
        },
        'segment committed',
      )
    } else {
      this.metrics.gapsCommitted.inc(labels)
      this.totals.gaps++
      this.logger.warn(
        {
          topic,
          partition,
          firstOffset: c.firstOffset.toString(),
          lastOffset: c.lastOffset.toString(),
          reason: c.reason,
        },
        'gap committed to the index',
      )
    }
    // The group offset only follows HEAD (lag monitoring); HEAD stays the source of truth, so a failure is harmless.
    if (this.consumer === consumer && state.generation === this.generation) {
      try {
        await consumer.commitOffsets([{ topic, partition, offset: c.head.nextOffset.toString() }])
      } catch (err) {
        this.logger.debug({ topic, partition, err }, 'committing the group offset failed (HEAD is committed)')
      }
    }
    this.updatePartitionGauges(state)
    this.checkOnceDone()
  }

  private onPartitionStopped(consumer: Consumer, state: PartitionState, err: unknown): void {
    const { topic, partition } = state
    if (err instanceof FencedError) {
      this.countError('fenced')
      this.metrics.fencedPartitions.inc()
      this.logger.error(
        { topic, partition, err },
        `fenced: another writer advanced HEAD of ${topic}/${partition}; this archiver stops writing it (other partitions continue)`,
      )
      if (this.consumer === consumer && state.generation === this.generation) {
        try {
          consumer.pause([{ topic, partitions: [partition] }])
        } catch {
          // not assigned any more
        }
      }
      this.reclaim(consumer, state)
      return
    }
    this.countError(isRetriable(err) ? 'store' : 'internal')
    this.fail(err, `archiving ${topic}/${partition} failed`)
  }

  /**
   * A fenced partition Kafka still assigns here was most likely advanced by its previous owner's last in-flight
   * commit, landing after this member read HEAD (the group protocol does not wait for it): re-read HEAD and go on
   * from there. A writer that keeps winning (a zombie, a second group on the topic) makes this member give up.
   */
  private reclaim(consumer: Consumer, state: PartitionState): void {
    const { topic, partition } = state
    const key = tpKey(topic, partition)
    const fences = (state.fences ?? 0) + 1
    if (this.stopping || this.consumer !== consumer || state.generation !== this.generation) return
    if (this.partitions.get(key) !== state || fences > MAX_RECLAIMS) return
    const next: PartitionState = { ...state, pipeline: undefined, fences }
    this.partitions.set(key, next)
    const delayMs = backoffDelay(this.config.retry, fences)
    this.logger.warn(
      { topic, partition, attempt: fences, delayMs },
      `${topic}/${partition} is still assigned to this archiver: re-reading HEAD to continue after the other writer`,
    )
    next.init = sleepUnref(delayMs)
      .then(() => (this.isStale(next) ? undefined : this.openPartition(consumer, next)))
      .then(() => {
        if (next.pipeline) this.metrics.fencedPartitions.dec()
      })
      .catch((err: unknown) =>
        this.partitionFailed(next, err, `could not resume archiving ${topic}/${partition} after being fenced`),
      )
  }

  /**
   * Opening a partition failed. A partition given up meanwhile (the archiver stopping, or a newer assignment that
   * opens it again) fails nothing: its work was abandoned, often because stopping disconnected what it used.
   */
  private partitionFailed(state: PartitionState, err: unknown, message: string): void {
    if (this.isStale(state)) {
      this.logger.debug({ topic: state.topic, partition: state.partition, err }, `${message} (given up meanwhile)`)
      return
    }
    this.fail(err, message)
  }

  private fail(cause: unknown, message: string): void {
    if (this._status === 'failed' || this._status === 'stopped') return
    const topics =
      this.subscribed.length > 0 || !Array.isArray(this.config.topics) ? this.subscribed : this.config.topics
    const err = explainKafkaError(cause, this.config, { topics, groups: [this.config.group] })
    if (!(err instanceof DataLossError))
      this.countError(
        err instanceof EverlogError && (err.code === 'CONFIG' || err.code === 'CONDITIONAL_WRITES_UNSUPPORTED')
          ? 'config'
          : 'internal',
      )
    this.logger.error({ err }, `${message}: ${(err as Error)?.message ?? err}`)
    this.failure = err
    this._status = 'failed'
    void this.stop()
  }

  private countError(kind: ErrorKind): void {
    this.metrics.errors.inc({ kind })
  }

  /** Proves the store fences HEAD before anything is written (see checkConditionalWrites); says which mode is on. */
  private async checkFencing(store: ObjectStore): Promise<void> {
    const check = await checkConditionalWrites(store, this.config.conditionalWrites, (request) =>
      this.retrying('store', request),
    )
    const mode = check.fenced ? 'fenced' : 'unsafe_single_writer'
    this.metrics.conditionalWrites.set({ mode: 'fenced' }, check.fenced ? 1 : 0)
    this.metrics.conditionalWrites.set({ mode: 'unsafe_single_writer' }, check.fenced ? 0 : 1)
    if (check.fenced) {
      this.logger.info({ store: check.store, mode, setting: check.mode }, 'conditional writes verified: HEAD is fenced')
    } else {
      this.logger.warn(
        { store: check.store, mode, setting: check.mode, unsupported: check.unsupported },
        `the store does not honour ${check.unsupported.join(' and ')}: running as the single writer without fencing ` +
          '(conditionalWrites=unsafe-single-writer); a second archiver on this archive would corrupt it',
      )
    }
  }

  private async retrying<T>(kind: ErrorKind, op: () => Promise<T>): Promise<T> {
    return withRetry(op, {
      policy: this.config.retry,
      signal: this.abort.signal,
      onRetry: (err, attempt, delayMs) => {
        this.metrics.retries.inc({ kind })
        this.logger.warn({ err, attempt, delayMs }, `${kind} operation failed; retrying`)
      },
    })
  }

  // ---- periodic work ----------------------------------------------------------------------------------------

  private startTimers(): void {
    const tick = setInterval(() => this.tick(), 1000)
    tick.unref()
    this.timers.push(tick)
    if (!this.config.once) {
      const refresh = setInterval(() => void this.refreshTopics(), this.config.topicRefreshMs)
      refresh.unref()
      this.timers.push(refresh)
    }
    const { groups, intervalMs } = this.config.groupOffsets
    if (groups.length > 0) {
      void this.snapshotGroups()
      const snapshots = setInterval(() => void this.snapshotGroups(), intervalMs)
      snapshots.unref()
      this.timers.push(snapshots)
    }
  }

  /**
   * Archives the committed offsets of the configured consumer groups (for `everlog restore-groups`). A failed
   * snapshot is logged and counted; the next interval tries again — it never stops archiving records.
   */
  private async snapshotGroups(): Promise<void> {
    const admin = this.admin
    const store = this.store
    if (!admin || !store) return
    try {
      const written = await snapshotGroupOffsets(admin, store, { groups: this.config.groupOffsets.groups })
      this.metrics.groupSnapshots.inc(written.length)
      this.logger.debug({ snapshots: written.length }, 'consumer-group offsets archived')
    } catch (err) {
      this.metrics.errors.inc({ kind: 'kafka' })
      this.logger.warn({ err, groups: this.config.groupOffsets.groups }, 'could not archive consumer-group offsets')
    }
  }

  private tick(): void {
    const now = Date.now()
    for (const s of this.partitions.values()) {
      s.pipeline?.rollIfOlderThan(now)
      this.updatePartitionGauges(s, now)
    }
    this.metrics.bufferedBytes.set(this.budget.bytes)
    if (this.config.progressIntervalMs > 0 && now - this.lastProgress.at >= this.config.progressIntervalMs) {
      this.logProgress(false)
    }
    this.checkOnceDone()
  }

  private updatePartitionGauges(s: PartitionState, now = Date.now()): void {
    const p = s.pipeline
    if (!p) return
    const labels = { topic: s.topic, partition: String(s.partition) }
    const committed = p.committedOffset
    const hw = s.highWatermark
    const lag = hw === undefined ? 0n : hw - committed > 0n ? hw - committed : 0n
    this.metrics.lag.set(labels, Number(lag))
    // Trailing control records keep HEAD below the high watermark of a transactional topic forever.
    const caughtUp = (p.idle && (hw === undefined || p.position >= hw)) || (hw !== undefined && committed >= hw)
    const newest = s.committedMaxTimestamp ?? p.head.maxTimestamp ?? undefined
    const oldestOpen = p.oldestUnarchivedTimestamp
    const freshness = caughtUp ? 0 : Math.max(0, (now - Number(newest ?? oldestOpen ?? BigInt(now))) / 1000)
    this.metrics.freshness.set(labels, freshness)
    const retentionMs = this.topics.get(s.topic)?.retentionMs
    if (retentionMs !== undefined && retentionMs >= 0) {
      const oldest = oldestOpen === undefined ? now : Number(oldestOpen)
      this.metrics.retentionHeadroom.set(labels, (oldest + retentionMs - now) / 1000)
    }
  }

  private logProgress(final: boolean): void {
    const now = Date.now()
    const seconds = Math.max(0.001, (now - this.lastProgress.at) / 1000)
    const records = this.totals.records - this.lastProgress.records
    const bytes = this.totals.bytes - this.lastProgress.bytes
    let lag = 0n
    let fenced = 0
    for (const s of this.partitions.values()) {
      const p = s.pipeline
      if (!p) continue
      if (p.state === 'fenced') fenced++
      if (s.highWatermark !== undefined && s.highWatermark > p.committedOffset)
        lag += s.highWatermark - p.committedOffset
    }
    this.logger.info(
      {
        partitions: this.assignedCount(),
        records: this.totals.records,
        segments: this.totals.segments,
        gaps: this.totals.gaps,
        recordsPerSecond: Math.round(records / seconds),
        mbPerSecond: Number((bytes / seconds / 1e6).toFixed(2)),
        lag: lag.toString(),
        bufferedBytes: this.budget.bytes,
        fenced,
        final,
      },
      `progress: ${this.totals.records} records in ${this.totals.segments} segments, lag ${lag}`,
    )
    this.lastProgress = { at: now, records: this.totals.records, bytes: this.totals.bytes }
  }

  private assignedCount(): number {
    return this.partitions.size
  }

  /**
   * --once: a partition that reached its target commits its segment now, while the others are still being fetched,
   * instead of every partition's at the end (with many partitions those commits were most of a run's time).
   */
  private rollOnceReached(state: PartitionState): void {
    const p = state.pipeline
    const target = this.onceTargets?.get(tpKey(state.topic, state.partition))
    if (target === undefined || !p || p.state !== 'running' || p.position < target || this.onceRolled.has(p)) return
    this.onceRolled.add(p)
    p.roll('flush')
  }

  /** --once: done when every partition reached the high watermark seen at start and everything is committed. */
  private checkOnceDone(): void {
    const targets = this.onceTargets
    if (!targets || this.onceDone || this._status !== 'running') return
    if (targets.size > 0 && !this.joined) return
    const pending: PartitionPipeline[] = []
    for (const [key, target] of targets) {
      const s = this.partitions.get(key)
      // Partitions another group member owns are that member's job.
      if (!s) continue
      const p = s.pipeline
      if (!p) return
      // A fenced or failed partition is reported where it stopped; it cannot get any further here.
      if (p.state !== 'running') continue
      if (p.position < target) return
      pending.push(p)
    }
    if (targets.size > 0 && this.partitions.size === 0) return
    this.onceDone = true
    this.logger.info('--once: every partition reached its start-time high watermark; flushing')
    void Promise.all(pending.map((p) => p.flush())).then(() => this.stop())
  }
}

/**
 * How long kafkajs' consumer, which only holds the group membership, sleeps between turns of its paused fetch loop.
 * A turn finds nothing to fetch (an idle archiver measured ~2 ms of CPU a second more than with 500 ms); the sleep is
 * what leaving the group waits for.
 */
const MEMBERSHIP_LOOP_MS = 20

function sleepUnref(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

// startDevBroker(): a single-node Kafka-wire broker in this process, for tests and `everlog dev-broker`.

import { allApis } from './api/modules.js'
import { ApiRegistry } from './registry.js'
import type { ApiModule } from './registry.js'
import { type BrokerLogger, type ControlFn, KafkaServer } from './server.js'
import { BrokerState, type Topic } from './state/broker-state.js'
import { applyRetention as runRetention, compactTopic } from './state/cleaner.js'
import { DataDir } from './state/persist.js'

export interface DevBrokerOptions {
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** Persist topics, batches and committed offsets here so a new broker on the same dir keeps them. */
  dataDir?: string
  defaultPartitions?: number
  autoCreateTopics?: boolean
  /** How often retention and compaction run on their own (0 disables the timer). Default 5 minutes. */
  retentionCheckIntervalMs?: number
  logger?: BrokerLogger
  /** Clock for timestamps, retention and transactions; tests pass a fake one. */
  now?: () => number
  /**
   * Serve (and advertise in ApiVersions) only these versions of the given API keys, as a broker that removed old
   * versions does; a request outside them closes the connection, as Apache Kafka does. For tests of clients'
   * version negotiation. Each range must lie within what the broker implements.
   */
  servedVersions?: Readonly<Record<number, readonly [min: number, max: number]>>
}

function narrowed(served: DevBrokerOptions['servedVersions']): readonly ApiModule[] {
  if (served === undefined) return allApis
  return allApis.map((m) => {
    const range = served[m.apiKey]
    if (range === undefined) return m
    const [minVersion, maxVersion] = range
    if (minVersion < m.minVersion || maxVersion > m.maxVersion || minVersion > maxVersion) {
      throw new Error(
        `servedVersions: ${m.name} v${minVersion}-${maxVersion} is not within v${m.minVersion}-${m.maxVersion}`,
      )
    }
    return { ...m, minVersion, maxVersion }
  })
}

export interface DevBroker {
  readonly host: string
  readonly port: number
  /** 'host:port' */
  readonly address: string
  readonly brokers: string[]
  readonly state: BrokerState
  close(): Promise<void>
  /** Intercepts requests of one API key; see ControlAction. Returns a function removing the hook. */
  control(apiKey: number, fn: ControlFn): () => void
  /** Applies retention.ms/retention.bytes now; returns how many batches were removed. */
  applyRetention(topic?: string): number
  /** Compacts cleanup.policy=compact topics now; returns how many records were removed. */
  compact(topic?: string): Promise<number>
  /** Drops every client connection, keeping all state (clients reconnect). */
  restart(): Promise<void>
  createTopic(name: string, options?: { partitions?: number; configs?: Record<string, string> }): Topic
  /** Moves log start to `offset` like DeleteRecords. */
  deleteRecords(topic: string, partition: number, offset: number): void
  highWatermark(topic: string, partition: number): number
  logStartOffset(topic: string, partition: number): number
}

export async function startDevBroker(options: DevBrokerOptions = {}): Promise<DevBroker> {
  const host = options.host ?? '127.0.0.1'
  const state = new BrokerState({
    defaultPartitions: options.defaultPartitions ?? 1,
    autoCreateTopics: options.autoCreateTopics ?? true,
    ...(options.now !== undefined ? { now: options.now } : {}),
  })
  const dataDir = options.dataDir === undefined ? undefined : new DataDir(options.dataDir, state)
  if (dataDir !== undefined) await dataDir.load()
  const server = new KafkaServer({
    host,
    port: options.port ?? 0,
    state,
    registry: new ApiRegistry(narrowed(options.servedVersions)),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  })
  const node = await server.listen()
  if (dataDir !== undefined) {
    dataDir.onError = (err) => server.log('error', { err, dataDir: options.dataDir }, 'dev broker: persisting failed')
    dataDir.start()
  }

  const interval = options.retentionCheckIntervalMs ?? 300_000
  let cleaning = false
  const timer =
    interval > 0
      ? setInterval(() => {
          if (cleaning) return
          cleaning = true
          runRetention(state)
          compactTopic(state)
            .catch((err: unknown) => server.log('warn', { err }, 'compaction failed'))
            .finally(() => {
              cleaning = false
            })
        }, interval)
      : undefined
  timer?.unref()

  const part = (topic: string, partition: number) => {
    const p = state.partition(topic, partition)
    if (p === undefined) throw new Error(`dev broker: no partition ${topic}/${partition}`)
    return p
  }

  let closed = false
  return {
    host: node.host,
    port: node.port,
    address: `${node.host}:${node.port}`,
    brokers: [`${node.host}:${node.port}`],
    state,
    async close() {
      if (closed) return
      closed = true
      if (timer !== undefined) clearInterval(timer)
      await server.close()
      await dataDir?.close()
      state.close()
    },
    control: (apiKey, fn) => server.control(apiKey, fn),
    applyRetention: (topic) => runRetention(state, topic),
    compact: (topic) => compactTopic(state, topic),
    async restart() {
      server.dropConnections()
      await dataDir?.flush()
    },
    createTopic: (name, o = {}) => state.createTopic(name, o.partitions ?? state.defaultPartitions, o.configs ?? {}),
    deleteRecords(topic, partition, offset) {
      const p = part(topic, partition)
      p.truncateBefore(Math.min(offset, p.highWatermark))
      state.changed()
    },
    highWatermark: (topic, partition) => part(topic, partition).highWatermark,
    logStartOffset: (topic, partition) => part(topic, partition).logStartOffset,
  }
}

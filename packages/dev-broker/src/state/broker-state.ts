// Everything the broker knows, apart from the handlers: topics and their partition logs, topic configs,
// producer ids and transactions, and the consumer-group coordinator.

import { randomBytes } from 'node:crypto'
import { GroupCoordinator } from './groups.js'
import { PartitionLog } from './log.js'
import { TransactionCoordinator } from './transactions.js'

/** Topic configs the broker understands, with Kafka's defaults (what DescribeConfigs reports). */
export const TOPIC_CONFIG_DEFAULTS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'delete',
  'retention.ms': '604800000',
  'retention.bytes': '-1',
  'message.timestamp.type': 'CreateTime',
  'max.message.bytes': '1048588',
  'segment.bytes': '1073741824',
  'min.insync.replicas': '1',
  'compression.type': 'producer',
  'delete.retention.ms': '86400000',
  'min.compaction.lag.ms': '0',
}

export class TopicConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TopicConfigError'
  }
}

/** Validates one topic config entry; returns an actionable message when it cannot be applied. */
export function validateTopicConfig(name: string, value: string | null): string | undefined {
  if (!(name in TOPIC_CONFIG_DEFAULTS)) return `unknown topic config '${name}'`
  if (value === null) return undefined
  switch (name) {
    case 'cleanup.policy': {
      const parts = value.split(',').map((s) => s.trim())
      if (parts.length === 0 || parts.some((p) => p !== 'delete' && p !== 'compact')) {
        return `cleanup.policy must be delete, compact or delete,compact (got '${value}')`
      }
      return undefined
    }
    case 'message.timestamp.type':
      return value === 'CreateTime' || value === 'LogAppendTime'
        ? undefined
        : `message.timestamp.type must be CreateTime or LogAppendTime (got '${value}')`
    case 'compression.type':
      return undefined
    default:
      return /^-?\d+$/.test(value) ? undefined : `${name} must be an integer (got '${value}')`
  }
}

export class Topic {
  readonly name: string
  readonly id: Buffer
  readonly partitions: PartitionLog[]
  /** Only explicitly set configs; defaults come from TOPIC_CONFIG_DEFAULTS. */
  readonly configs = new Map<string, string>()

  constructor(name: string, partitions: number, id: Buffer = randomBytes(16)) {
    this.name = name
    this.id = id
    this.partitions = Array.from({ length: partitions }, (_, p) => new PartitionLog(name, p))
  }

  config(name: string): string {
    return this.configs.get(name) ?? TOPIC_CONFIG_DEFAULTS[name] ?? ''
  }
  numberConfig(name: string): number {
    return Number(this.config(name))
  }
  get logAppendTime(): boolean {
    return this.config('message.timestamp.type') === 'LogAppendTime'
  }
  get compacted(): boolean {
    return this.config('cleanup.policy').includes('compact')
  }
  get deletes(): boolean {
    return this.config('cleanup.policy').includes('delete')
  }
}

export const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

export interface BrokerStateOptions {
  defaultPartitions?: number
  autoCreateTopics?: boolean
  now?: () => number
  groups?: GroupCoordinator
}

export class BrokerState {
  readonly topics = new Map<string, Topic>()
  readonly transactions: TransactionCoordinator
  readonly groups: GroupCoordinator
  readonly clusterId = 'everlog-dev-' + randomBytes(6).toString('hex')
  defaultPartitions: number
  autoCreateTopics: boolean
  readonly now: () => number
  /** Woken on every append, so long-polling Fetches re-check their partitions. */
  private readonly appendWaiters = new Set<(topic: string | undefined) => void>()
  /** Called after any change worth persisting (append, topic create/delete, config change, retention). */
  onChange: (() => void) | undefined

  constructor(options: BrokerStateOptions = {}) {
    this.defaultPartitions = options.defaultPartitions ?? 1
    this.autoCreateTopics = options.autoCreateTopics ?? true
    this.now = options.now ?? Date.now
    this.groups = options.groups ?? new GroupCoordinator({ now: this.now })
    this.transactions = new TransactionCoordinator(this)
  }

  createTopic(name: string, partitions = this.defaultPartitions, configs: Record<string, string> = {}): Topic {
    if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
      throw new TopicConfigError(`invalid topic name '${name}': use 1-249 of [a-zA-Z0-9._-]`)
    }
    if (this.topics.has(name)) throw new TopicConfigError(`topic '${name}' already exists`)
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new TopicConfigError(`topic '${name}': partitions must be >= 1 (got ${partitions})`)
    }
    for (const [k, v] of Object.entries(configs)) {
      const problem = validateTopicConfig(k, v)
      if (problem !== undefined) throw new TopicConfigError(`topic '${name}': ${problem}`)
    }
    const topic = new Topic(name, partitions)
    for (const [k, v] of Object.entries(configs)) topic.configs.set(k, v)
    this.topics.set(name, topic)
    this.changed()
    return topic
  }

  /** The topic, auto-created when allowed and `create` is set (Metadata, Produce). */
  topic(name: string, create = false): Topic | undefined {
    const t = this.topics.get(name)
    if (t !== undefined || !create || !this.autoCreateTopics || !TOPIC_NAME.test(name)) return t
    return this.createTopic(name)
  }

  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.partitions[partition]
  }

  deleteTopic(name: string): boolean {
    const ok = this.topics.delete(name)
    if (ok) {
      this.notifyAppend()
      this.changed()
    }
    return ok
  }

  /** fn gets the topic appended to, or undefined when anything may have changed (markers, deletes). */
  waitForAppend(fn: (topic: string | undefined) => void): () => void {
    this.appendWaiters.add(fn)
    return () => this.appendWaiters.delete(fn)
  }

  notifyAppend(topic?: string): void {
    for (const fn of [...this.appendWaiters]) fn(topic)
  }

  changed(): void {
    this.onChange?.()
  }

  close(): void {
    this.appendWaiters.clear()
    this.transactions.close()
    this.groups.close()
  }
}

// Parameters of the worker tasks (bench/worker.ts), shared by the scenarios that start them.
import type { OpenStoreOptions } from '../../packages/core/src/index.js'

export interface TopicRef {
  topic: string
  partitions: number
  records: number
}

export interface ArchiveTaskParams {
  brokers: string[]
  warm: TopicRef
  main: TopicRef
  /** file:// URL of an empty directory: the warm and the main topic are archived into it. */
  store: string
}

export interface ConsumeTaskParams {
  brokers: string[]
  warm: TopicRef
  main: TopicRef
  handler: 'eachBatch' | 'eachMessage'
  partitionsConsumedConcurrently: number
  /** Omitted: a plain kafkajs consumer reads from the broker. Given: ArchiveConsumer reads this archive. */
  archive?: { url: string; store?: OpenStoreOptions }
}

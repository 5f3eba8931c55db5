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

export type Handler = 'eachBatch' | 'eachMessage'

export interface ConsumeTaskParams {
  brokers: string[]
  warm: TopicRef
  main: TopicRef
  /** Measured in this order, each after its own warm-up, in one process. */
  handlers: Handler[]
  partitionsConsumedConcurrently: number
  /** Omitted: a plain kafkajs consumer reads from the broker. Given: ArchiveConsumer reads this archive. */
  archive?: { url: string; store?: OpenStoreOptions }
}

export interface ConsumeMeasure {
  seconds: number
  cpuSeconds: number
  records: number
  bytes: number
  /** From the start of connect() to the first record handed to the handler. */
  firstRecordSeconds: number
}

export interface ConsumeTaskResult {
  byHandler: Partial<Record<Handler, ConsumeMeasure>>
  /** Peak RSS of the worker over all its handlers. */
  maxRssBytes: number
}

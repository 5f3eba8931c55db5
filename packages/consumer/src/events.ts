// Instrumentation events: kafkajs' consumer events (re-emitted from the consumer underneath, and emitted by the
// archive side under the same names and payloads) plus Everlog's own archive.* events.
import { EventEmitter } from 'node:events'
// kafkajs is CommonJS and spreads its error classes into module.exports, which ESM named imports cannot see.
import kafkajs from 'kafkajs'
import type { Consumer, ConsumerEvents, InstrumentationEvent } from 'kafkajs'

const { KafkaJSNonRetriableError } = kafkajs

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

/** One emitter for both sides: listeners see kafkajs' emissions and the archive side's alike. */
export class EventHub {
  private readonly emitter = new EventEmitter()
  private readonly bridged = new Set<string>()
  private eventId = 0

  constructor(private readonly inner: Consumer) {}

  /** Emits an event of the archive side; nothing is built when nobody listens. */
  emit(type: string, payload: unknown): void {
    if (this.emitter.listenerCount(type) === 0) return
    const event: InstrumentationEvent<unknown> = {
      id: `archive-${++this.eventId}`,
      type,
      timestamp: Date.now(),
      payload,
    }
    this.emitter.emit(type, event)
  }

  on(eventName: string, listener: (event: never) => void): () => void {
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
}

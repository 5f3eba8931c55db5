// ArchiveConsumer's configuration: kafkajs' ConsumerConfig plus where the archive is and how to read it.
import { ConfigError } from '@everlog/core'
import type { ObjectStore, OpenStoreOptions } from '@everlog/core'
import type { ConsumerConfig, Kafka } from 'kafkajs'
import type { ReadMode } from './position.js'

/** The consumer underneath long-polls this long unless told otherwise (kafkajs: 5000). */
export const DEFAULT_MAX_WAIT_MS = 500

/** How long a rejoin waits for in-flight handlers and the final commit of what they processed. */
export const SETTLE_TIMEOUT_MS = 10_000

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
   * partition of this consumer; default 32 MiB (ArchiveReader's readBufferBytes).
   */
  readBufferBytes?: number
  /** Decoded index nodes cached per partition; default 256. */
  cacheNodes?: number
}

const MODES: readonly ReadMode[] = ['archive-first', 'kafka-first']

export function validate(config: ArchiveConsumerConfig): void {
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

// The archive's catalog: the descriptor (everlog.json), per-topic metadata (topic.json), and what `everlog ls` shows.
import {
  FormatError,
  ObjectNotFoundError,
  PreconditionFailedError,
  UnknownTopicError,
  UnsupportedFormatVersionError,
} from './errors.js'
import { readHead } from './head.js'
import type { Head } from './index/types.js'
import {
  DESCRIPTOR_KEY,
  FORMAT_VERSION,
  READABLE_FORMAT_VERSIONS,
  topicMetaKey,
  validatePartition,
  validateTopicName,
} from './layout.js'
import type { ObjectStore } from './store/types.js'

export interface ArchiveDescriptor {
  format: number
}

export interface TopicMeta {
  format: number
  topic: string
  /** Partition count of the Kafka topic when it was last seen by an archiver. */
  partitions: number
  /** Kafka's cleanup.policy ("delete", "compact", "compact,delete"). */
  cleanupPolicy?: string
  /**
   * Kafka's ID of the topic the archive holds (Kafka 2.8+): a topic deleted and created again under the same name
   * has a new one, and its offsets restart at 0. Absent when the broker has no topic IDs.
   */
  topicId?: string
  /** Other topic configs worth keeping next to the data (retention.ms, ...). */
  configs?: Record<string, string>
  /** Free-form hints for SQL/consumers, e.g. { value: "json" }. */
  schemaHints?: Record<string, string>
}

const JSON_TYPE = { contentType: 'application/json' }

async function getOptional(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  try {
    return (await store.get(key)).body
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined
    throw err
  }
}

function parseJsonObject(bytes: Uint8Array, key: string): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw new FormatError(`${key} is not valid JSON (${(err as Error).message})`, { cause: err })
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FormatError(`${key} must be a JSON object`)
  return v as Record<string, unknown>
}

function checkFormat(format: unknown, key: string): number {
  if (typeof format !== 'number' || !Number.isInteger(format)) {
    throw new FormatError(`${key} has no integer "format" field`)
  }
  if (!READABLE_FORMAT_VERSIONS.includes(format)) {
    throw new UnsupportedFormatVersionError(
      `${key} has format version ${format}; this Everlog reads versions ${READABLE_FORMAT_VERSIONS.join(', ')}` +
        (format > FORMAT_VERSION ? ' (upgrade Everlog to use this archive)' : ''),
    )
  }
  return format
}

export function parseDescriptor(bytes: Uint8Array): ArchiveDescriptor {
  const o = parseJsonObject(bytes, DESCRIPTOR_KEY)
  return { format: checkFormat(o.format, DESCRIPTOR_KEY) }
}

/** The archive descriptor, or undefined for a store nothing was archived to yet. */
export async function readDescriptor(store: ObjectStore): Promise<ArchiveDescriptor | undefined> {
  const body = await getOptional(store, DESCRIPTOR_KEY)
  return body === undefined ? undefined : parseDescriptor(body)
}

/**
 * Makes the store an Everlog archive (creating everlog.json once, race-free) or checks that it already is one of a
 * format this version can write. Called before the first write of every writer.
 */
export async function ensureArchive(store: ObjectStore): Promise<ArchiveDescriptor> {
  const existing = await readDescriptor(store)
  if (existing) return existing
  const descriptor: ArchiveDescriptor = { format: FORMAT_VERSION }
  try {
    await store.putIfAbsent(DESCRIPTOR_KEY, Buffer.from(JSON.stringify(descriptor) + '\n'), JSON_TYPE)
    return descriptor
  } catch (err) {
    // Another writer created it between our read and our write: theirs must be acceptable too.
    if (err instanceof PreconditionFailedError) {
      const raced = await readDescriptor(store)
      if (raced) return raced
    }
    throw err
  }
}

const stringMap = (v: unknown, field: string, key: string): Record<string, string> | undefined => {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new FormatError(`${key}: "${field}" must be an object`)
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') throw new FormatError(`${key}: "${field}.${k}" must be a string`)
  }
  return v as Record<string, string>
}

/** Far above any real Kafka topic (clusters top out around a few hundred thousand partitions in all). */
const MAX_TOPIC_PARTITIONS = 100_000

export function parseTopicMeta(bytes: Uint8Array, key: string): TopicMeta {
  const o = parseJsonObject(bytes, key)
  const format = checkFormat(o.format, key)
  if (typeof o.topic !== 'string') throw new FormatError(`${key}: "topic" must be a string`)
  // Readers list every declared partition, so an absurd count in a hostile or corrupt file must not be believed.
  if (typeof o.partitions !== 'number' || !Number.isInteger(o.partitions) || o.partitions < 0) {
    throw new FormatError(`${key}: "partitions" must be a non-negative integer`)
  }
  if (o.partitions > MAX_TOPIC_PARTITIONS) {
    throw new FormatError(
      `${key}: "partitions" is ${o.partitions}, more than any Kafka topic has (${MAX_TOPIC_PARTITIONS})`,
    )
  }
  if (o.cleanupPolicy !== undefined && typeof o.cleanupPolicy !== 'string') {
    throw new FormatError(`${key}: "cleanupPolicy" must be a string`)
  }
  const meta: TopicMeta = { format, topic: o.topic, partitions: o.partitions }
  if (o.cleanupPolicy !== undefined) meta.cleanupPolicy = o.cleanupPolicy as string
  if (o.topicId !== undefined && typeof o.topicId !== 'string') {
    throw new FormatError(`${key}: "topicId" must be a string`)
  }
  if (o.topicId !== undefined) meta.topicId = o.topicId as string
  const configs = stringMap(o.configs, 'configs', key)
  if (configs) meta.configs = configs
  const schemaHints = stringMap(o.schemaHints, 'schemaHints', key)
  if (schemaHints) meta.schemaHints = schemaHints
  return meta
}

export async function readTopicMeta(store: ObjectStore, topic: string): Promise<TopicMeta | undefined> {
  const key = topicMetaKey(topic)
  const body = await getOptional(store, key)
  return body === undefined ? undefined : parseTopicMeta(body, key)
}

/** Writes topic.json (last writer wins: it only records what the archiver last saw of the topic). */
export async function writeTopicMeta(store: ObjectStore, meta: Omit<TopicMeta, 'format'>): Promise<TopicMeta> {
  validateTopicName(meta.topic)
  validatePartition(meta.partitions)
  await ensureArchive(store)
  const full: TopicMeta = { format: FORMAT_VERSION, ...meta }
  await store.put(topicMetaKey(meta.topic), Buffer.from(JSON.stringify(full, null, 2) + '\n'), JSON_TYPE)
  return full
}

const TOPIC_DIR = /^([a-zA-Z0-9._-]{1,249})\/$/

/** Every topic with objects in the archive, sorted by name. */
export async function listTopics(store: ObjectStore): Promise<string[]> {
  const candidates: string[] = []
  for (const prefix of await store.listPrefixes('')) {
    const m = TOPIC_DIR.exec(prefix)
    if (m && m[1] !== '.' && m[1] !== '..') candidates.push(m[1]!)
  }
  // A topic folder holding only what a restore wrote about it (offset-map/) is not an archived topic: it has no
  // topic.json, index or data, and listing it would break every reader that describes the archive's topics.
  const archived = await Promise.all(
    candidates.map(async (topic) => {
      const inside = await store.listPrefixes(`${topic}/`)
      return inside.includes(`${topic}/index/`) || inside.includes(`${topic}/data/`)
        ? true
        : (await store.head(`${topic}/topic.json`)) !== undefined
    }),
  )
  return candidates.filter((_, i) => archived[i]).sort()
}

/** Partitions that have index objects (a HEAD or nodes), sorted numerically. */
export async function listPartitions(store: ObjectStore, topic: string): Promise<number[]> {
  const base = `${validateTopicName(topic)}/index/`
  const partitions: number[] = []
  for (const prefix of await store.listPrefixes(base)) {
    const m = /^partition=(\d{1,10})\/$/.exec(prefix.slice(base.length))
    if (m) partitions.push(Number(m[1]))
  }
  return partitions.sort((a, b) => a - b)
}

export interface PartitionDescription {
  partition: number
  /** undefined when nothing of this partition has been committed yet. */
  head: Head | undefined
}

export interface TopicDescription {
  topic: string
  meta: TopicMeta | undefined
  partitions: PartitionDescription[]
}

/**
 * Every partition of a topic with its HEAD summary: the partitions of topic.json plus any that has index objects.
 * @throws UnknownTopicError when the archive holds nothing of the topic.
 */
export async function describeTopic(store: ObjectStore, topic: string): Promise<TopicDescription> {
  validateTopicName(topic)
  const [meta, listed] = await Promise.all([readTopicMeta(store, topic), listPartitions(store, topic)])
  if (!meta && listed.length === 0)
    throw new UnknownTopicError(topic, `topic "${topic}" is not in the archive ${store.url}`)
  const numbers = new Set(listed)
  for (let p = 0; p < (meta?.partitions ?? 0); p++) numbers.add(p)
  const sorted = [...numbers].sort((a, b) => a - b)
  const partitions = await Promise.all(
    sorted.map(async (partition) => ({ partition, head: (await readHead(store, topic, partition))?.head })),
  )
  return { topic, meta, partitions }
}

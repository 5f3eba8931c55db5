// Where every object of the archive lives in the bucket (DESIGN.md "Objects in the bucket"). Every key is
// built here, from validated topic names and partition numbers only, so no input can escape the store root.
import { InvalidArgumentError, InvalidTopicNameError } from './errors.js'

/** Archive format version written into everlog.json, HEAD, index nodes and segment metadata. */
export const FORMAT_VERSION = 1
/** Readers accept the current format version and the one before (CONVENTIONS: persisted formats). */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [FORMAT_VERSION]
/**
 * Segment format version (a segment's `everlog.format` metadata), apart from the archive's: 2 stores the timestamp
 * column as Parquet TIMESTAMP(MICROS, UTC), the unit of Iceberg's `timestamptz`; 1 stored TIMESTAMP(MILLIS, UTC).
 * Both are read (docs/design.md "Segment format versions").
 */
export const SEGMENT_FORMAT_VERSION = 2
export const READABLE_SEGMENT_FORMAT_VERSIONS: readonly number[] = [1, SEGMENT_FORMAT_VERSION]

export const DESCRIPTOR_KEY = 'everlog.json'

// Kafka's own rule for topic names (kafka.common.internals.Topic): 1-249 of [a-zA-Z0-9._-], not "." or "..".
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

export function validateTopicName(topic: string): string {
  if (typeof topic !== 'string' || !TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw new InvalidTopicNameError(
      `invalid topic name ${JSON.stringify(topic)}: Kafka topic names are 1-249 characters of a-z A-Z 0-9 . _ - and not "." or ".."`,
    )
  }
  return topic
}

export function validatePartition(partition: number): number {
  if (!Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) {
    throw new InvalidArgumentError(`invalid partition ${partition}: expected an integer >= 0`)
  }
  return partition
}

const OFFSET_WIDTH = 20

/** Zero-padded to 20 digits so that lexicographic listings sort by offset. */
export function padOffset(offset: bigint): string {
  if (offset < 0n) throw new InvalidArgumentError(`invalid offset ${offset}: offsets are >= 0`)
  return offset.toString().padStart(OFFSET_WIDTH, '0')
}

export function topicMetaKey(topic: string): string {
  return `${validateTopicName(topic)}/topic.json`
}

/** The Athena table location of a topic. */
export function topicDataPrefix(topic: string): string {
  return `${validateTopicName(topic)}/data/`
}

export function segmentPrefix(topic: string, partition: number): string {
  return `${topicDataPrefix(topic)}partition=${validatePartition(partition)}/`
}

export function segmentKey(topic: string, partition: number, firstOffset: bigint, sha256: string): string {
  return `${segmentPrefix(topic, partition)}${padOffset(firstOffset)}-${sha256}.parquet`
}

export interface ParsedSegmentKey {
  topic: string
  partition: number
  firstOffset: bigint
  sha256: string
}

const SEGMENT_KEY = /^([a-zA-Z0-9._-]{1,249})\/data\/partition=(\d+)\/(\d{20})-([0-9a-f]{64})\.parquet$/

export function parseSegmentKey(key: string): ParsedSegmentKey | undefined {
  const m = SEGMENT_KEY.exec(key)
  // "." and ".." match the character class but are no topic: such a key would name a path outside the archive.
  if (!m || m[1] === '.' || m[1] === '..') return undefined
  return { topic: m[1]!, partition: Number(m[2]), firstOffset: BigInt(m[3]!), sha256: m[4]! }
}

export function indexPrefix(topic: string, partition: number): string {
  return `${validateTopicName(topic)}/index/partition=${validatePartition(partition)}/`
}

export function nodeKey(topic: string, partition: number, sha256: string): string {
  return `${indexPrefix(topic, partition)}nodes/${sha256}`
}

export function headKey(topic: string, partition: number): string {
  return `${indexPrefix(topic, partition)}HEAD`
}

/** Where a topic's Iceberg table lives (its `location`): metadata JSON, manifest lists and manifests. */
export function icebergTablePrefix(topic: string): string {
  return `${validateTopicName(topic)}/iceberg/`
}

/**
 * Where the Iceberg table keeps the format-2 copy of a format-1 segment (docs/iceberg.md "Segments written before
 * format 2"): the segment's own file name under `<topic>/iceberg/data/`, so the copy names its source; its bytes are
 * a pure function of the source's records.
 */
export function icebergSegmentCopyKey(segmentKey: string): string {
  const parsed = parseSegmentKey(segmentKey)
  if (!parsed) throw new InvalidArgumentError(`${segmentKey} is not a segment key`)
  return `${icebergTablePrefix(parsed.topic)}data/partition=${parsed.partition}/${padOffset(parsed.firstOffset)}-${parsed.sha256}.parquet`
}

/** The segment an Iceberg copy was made from (icebergSegmentCopyKey), or undefined for any other key. */
export function segmentKeyOfIcebergCopy(key: string): string | undefined {
  const m = /^([^/]+)\/iceberg\/(data\/partition=\d+\/\d{20}-[0-9a-f]{64}\.parquet)$/.exec(key)
  const source = m ? `${m[1]}/${m[2]}` : undefined
  return source !== undefined && parseSegmentKey(source) ? source : undefined
}

export function icebergMetadataKey(topic: string, version: number): string {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new InvalidArgumentError(`invalid Iceberg metadata version ${version}: expected an integer >= 1`)
  }
  return `${icebergTablePrefix(topic)}metadata/v${version}.metadata.json`
}

/** Iceberg's Hadoop-catalog pointer to the newest metadata version (a hint: readers also probe newer versions). */
export function icebergVersionHintKey(topic: string): string {
  return `${icebergTablePrefix(topic)}metadata/version-hint.text`
}

/** A manifest or manifest list, named by the hash of its bytes like every other immutable object. */
export function icebergManifestKey(topic: string, sha256: string, kind: 'manifest' | 'list'): string {
  return `${icebergTablePrefix(topic)}metadata/${kind === 'list' ? 'snap-' : ''}${sha256}${kind === 'list' ? '' : '-m0'}.avro`
}

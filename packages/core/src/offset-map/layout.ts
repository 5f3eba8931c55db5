// Where offset maps and consumer-group snapshots live in the bucket. Offset maps sit under the restore's target
// topic in a Hive-style layout (source=<topic>/partition=<p>/), so Athena and DuckDB read them as one table.
import { InvalidArgumentError } from '../errors.js'
import { padOffset, validatePartition, validateTopicName } from '../layout.js'

/** Athena/DuckDB table location of a target topic's offset maps. */
export function offsetMapPrefix(targetTopic: string): string {
  return `${validateTopicName(targetTopic)}/offset-map/`
}

export function offsetMapPartitionPrefix(targetTopic: string, sourceTopic: string, partition: number): string {
  return `${offsetMapPrefix(targetTopic)}source=${validateTopicName(sourceTopic)}/partition=${validatePartition(partition)}/`
}

export function offsetMapChunkKey(
  targetTopic: string,
  sourceTopic: string,
  partition: number,
  firstSourceOffset: bigint,
  sha256: string,
): string {
  return `${offsetMapPartitionPrefix(targetTopic, sourceTopic, partition)}${padOffset(firstSourceOffset)}-${sha256}.parquet`
}

/** Starts with '_' so Athena (and Hive) skip it when reading the table's Parquet files. */
export function offsetMapManifestKey(targetTopic: string, sourceTopic: string, partition: number): string {
  return `${offsetMapPartitionPrefix(targetTopic, sourceTopic, partition)}_manifest.json`
}

const CHUNK_NAME = /^(\d{20})-([0-9a-f]{64})\.parquet$/

export function parseOffsetMapChunkName(name: string): { firstSourceOffset: bigint; sha256: string } | undefined {
  const m = CHUNK_NAME.exec(name)
  return m ? { firstSourceOffset: BigInt(m[1]!), sha256: m[2]! } : undefined
}

// Group ids are free-form strings in Kafka; they are percent-encoded (and '.'/'..' escaped) to make one safe key part.
export function encodeGroupId(group: string): string {
  if (typeof group !== 'string' || group.length === 0 || group.length > 249 * 3) {
    throw new InvalidArgumentError(`invalid consumer group id ${JSON.stringify(group)}: expected a non-empty string`)
  }
  return encodeURIComponent(group)
    .replace(/\./g, '%2E')
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

export function decodeGroupId(encoded: string): string {
  return decodeURIComponent(encoded)
}

export function groupSnapshotsPrefix(topic: string): string {
  return `${validateTopicName(topic)}/groups/`
}

export function groupSnapshotPrefix(topic: string, group: string): string {
  return `${groupSnapshotsPrefix(topic)}group=${encodeGroupId(group)}/`
}

/** `20261122T041924.123Z`: a UTC time that sorts lexicographically, so the last key listed is the newest snapshot. */
export function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '')
}

export function groupSnapshotKey(topic: string, group: string, takenAtMs: number): string {
  return `${groupSnapshotPrefix(topic, group)}${compactTime(takenAtMs)}.json`
}

// Reading a published Iceberg table: the newest metadata version (version hint, then probing newer versions like
// Iceberg's Hadoop catalog does), a snapshot by time, and the segments a snapshot lists.
import { FormatError, InvalidArgumentError, ObjectNotFoundError } from '../errors.js'
import type { SegmentEntry } from '../index/types.js'
import {
  icebergMetadataKey,
  icebergVersionHintKey,
  parseSegmentKey,
  segmentKeyOfIcebergCopy,
  validateTopicName,
} from '../layout.js'
import type { ObjectStore } from '../store/types.js'
import { readAvroContainer } from './avro.js'
import { FieldIds } from './schema.js'

export interface IcebergSnapshot {
  'snapshot-id': bigint
  'parent-snapshot-id'?: bigint
  'sequence-number': number
  'timestamp-ms': number
  'manifest-list': string
  summary: Record<string, string>
  'schema-id': number
}

/** The parts of Iceberg's table metadata (format v2) that Everlog reads and writes; the rest is kept verbatim. */
export interface IcebergMetadata {
  'format-version': 2
  'table-uuid': string
  location: string
  'last-sequence-number': number
  'last-updated-ms': number
  'current-snapshot-id': bigint | null
  snapshots: IcebergSnapshot[]
  'snapshot-log': { 'timestamp-ms': number; 'snapshot-id': bigint }[]
  'metadata-log': { 'timestamp-ms': number; 'metadata-file': string }[]
  refs: Record<string, { 'snapshot-id': bigint; type: string }>
  properties: Record<string, string>
  [other: string]: unknown
}

export interface IcebergTableRead {
  version: number
  key: string
  metadata: IcebergMetadata
}

/** The store's URL as an absolute location prefix for Iceberg paths (no trailing slash). */
export function storeLocation(store: ObjectStore): string {
  return store.url.replace(/\/+$/, '')
}

/** Iceberg writes snapshot ids as JSON numbers beyond 2^53: parse those as bigint, keep the text exact. */
export function parseMetadataJson(bytes: Uint8Array, key: string): IcebergMetadata {
  const text = Buffer.from(bytes).toString('utf8')
  let json: unknown
  try {
    const quoted = text.replace(/("(?:snapshot-id|parent-snapshot-id|current-snapshot-id)"\s*:\s*)(-?\d+)/g, '$1"$2"')
    json = JSON.parse(quoted)
  } catch (err) {
    throw new FormatError(`${key} is not valid JSON (${(err as Error).message})`, { cause: err })
  }
  const fail = (what: string): never => {
    throw new FormatError(`${key} is not Iceberg table metadata Everlog can read: ${what}`)
  }
  if (typeof json !== 'object' || json === null) return fail('not an object')
  const m = json as Record<string, unknown>
  if (m['format-version'] !== 2) fail(`format-version ${String(m['format-version'])}, expected 2`)
  if (!Array.isArray(m.snapshots)) fail('no snapshots array')
  const big = (v: unknown, what: string): bigint => {
    if (typeof v !== 'string' || !/^-?\d+$/.test(v)) return fail(`${what} is not an integer`)
    return BigInt(v)
  }
  for (const s of m.snapshots as Record<string, unknown>[]) {
    s['snapshot-id'] = big(s['snapshot-id'], 'snapshot-id')
    if (s['parent-snapshot-id'] !== undefined)
      s['parent-snapshot-id'] = big(s['parent-snapshot-id'], 'parent-snapshot-id')
    if (typeof s['manifest-list'] !== 'string') fail('a snapshot has no manifest-list')
  }
  const cur = m['current-snapshot-id']
  m['current-snapshot-id'] = cur === null || cur === undefined ? null : big(cur, 'current-snapshot-id')
  if (m['current-snapshot-id'] === -1n) m['current-snapshot-id'] = null
  for (const e of (m['snapshot-log'] ?? []) as Record<string, unknown>[])
    e['snapshot-id'] = big(e['snapshot-id'], 'snapshot-id')
  for (const r of Object.values((m.refs ?? {}) as Record<string, Record<string, unknown>>)) {
    r['snapshot-id'] = big(r['snapshot-id'], 'snapshot-id')
  }
  m['snapshot-log'] ??= []
  m['metadata-log'] ??= []
  m.refs ??= {}
  m.properties ??= {}
  return m as IcebergMetadata
}

/** Canonical JSON with snapshot ids written as exact JSON numbers, as the Iceberg spec has them. */
export function encodeMetadataJson(metadata: IcebergMetadata): Buffer {
  const text = JSON.stringify(metadata, (_k, v: unknown) => (typeof v === 'bigint' ? `#big#${v}` : v), 2)
  return Buffer.from(text.replace(/"#big#(-?\d+)"/g, '$1') + '\n', 'utf8')
}

async function exists(store: ObjectStore, key: string): Promise<boolean> {
  return (await store.head(key)) !== undefined
}

/** The newest metadata version of a topic's table; undefined when none was published. */
export async function readIcebergTable(store: ObjectStore, topic: string): Promise<IcebergTableRead | undefined> {
  validateTopicName(topic)
  let version = 0
  try {
    const hint = (await store.get(icebergVersionHintKey(topic))).body.toString('utf8').trim()
    if (/^[1-9][0-9]{0,15}$/.test(hint)) version = Number(hint)
  } catch (err) {
    if (!(err instanceof ObjectNotFoundError)) throw err
  }
  // The hint is written after the metadata, so it may lag: newer versions win, as in Iceberg's Hadoop catalog.
  while (await exists(store, icebergMetadataKey(topic, version + 1))) version++
  if (version === 0) return undefined
  const key = icebergMetadataKey(topic, version)
  const { body } = await store.get(key)
  return { version, key, metadata: parseMetadataJson(body, key) }
}

export function currentSnapshot(metadata: IcebergMetadata): IcebergSnapshot | undefined {
  const id = metadata['current-snapshot-id']
  return id === null ? undefined : metadata.snapshots.find((s) => s['snapshot-id'] === id)
}

/** The snapshot that was current at `timeMs`: the newest one committed at or before it. */
export function snapshotAsOf(metadata: IcebergMetadata, timeMs: number): IcebergSnapshot {
  const kept = [...metadata.snapshots].sort((a, b) => a['timestamp-ms'] - b['timestamp-ms'])
  const found = kept.filter((s) => s['timestamp-ms'] <= timeMs).pop()
  if (!found) {
    const oldest = kept[0]
    throw new InvalidArgumentError(
      oldest
        ? `no Iceberg snapshot as of ${new Date(timeMs).toISOString()}: the oldest kept snapshot is from ${new Date(oldest['timestamp-ms']).toISOString()}`
        : 'the Iceberg table has no snapshot yet: run `everlog iceberg publish`',
    )
  }
  return found
}

/** A manifest list entry as decoded (longs are bigint). */
export interface ManifestFileRecord {
  manifest_path: string
  manifest_length: bigint
  partition_spec_id: number
  content: number
  sequence_number: bigint
  min_sequence_number: bigint
  added_snapshot_id: bigint
  added_files_count: number
  existing_files_count: number
  deleted_files_count: number
  added_rows_count: bigint
  existing_rows_count: bigint
  deleted_rows_count: bigint
  partitions:
    | { contains_null: boolean; contains_nan: boolean | null; lower_bound: Buffer | null; upper_bound: Buffer | null }[]
    | null
  key_metadata: Buffer | null
}

export interface DataFileRecord {
  content: number
  file_path: string
  file_format: string
  partition: { partition: number | null }
  record_count: bigint
  file_size_in_bytes: bigint
  lower_bounds: { key: number; value: Buffer }[] | null
  upper_bounds: { key: number; value: Buffer }[] | null
  [other: string]: unknown
}

export interface ManifestEntryRecord {
  status: number
  snapshot_id: bigint | null
  sequence_number: bigint | null
  file_sequence_number: bigint | null
  data_file: DataFileRecord
}

/** Maps an absolute Iceberg location of this store back to the store key. */
export function keyOfLocation(store: ObjectStore, location: string): string {
  const prefix = `${storeLocation(store)}/`
  if (!location.startsWith(prefix)) {
    throw new FormatError(
      `Iceberg file ${location} is not in the archive ${store.url}; was the table published from elsewhere?`,
    )
  }
  return location.slice(prefix.length)
}

export async function readManifestList(store: ObjectStore, location: string): Promise<ManifestFileRecord[]> {
  const key = keyOfLocation(store, location)
  return readAvroContainer((await store.get(key)).body, key).records as ManifestFileRecord[]
}

/** A manifest's live entries (status ADDED or EXISTING) with snapshot id and sequence numbers inherited. */
export async function readManifest(store: ObjectStore, manifest: ManifestFileRecord): Promise<ManifestEntryRecord[]> {
  const key = keyOfLocation(store, manifest.manifest_path)
  const entries = readAvroContainer((await store.get(key)).body, key).records as ManifestEntryRecord[]
  return entries
    .filter((e) => e.status !== 2)
    .map((e) => ({
      ...e,
      snapshot_id: e.snapshot_id ?? manifest.added_snapshot_id,
      sequence_number: e.sequence_number ?? (e.status === 1 ? manifest.sequence_number : null),
      file_sequence_number: e.file_sequence_number ?? (e.status === 1 ? manifest.sequence_number : null),
    }))
}

export interface SnapshotSegment extends SegmentEntry {
  partition: number
}

function bound(list: { key: number; value: Buffer }[] | null, id: number, path: string): bigint {
  const v = list?.find((b) => b.key === id)?.value
  if (!v || v.length !== 8) throw new FormatError(`manifest entry for ${path} has no 8-byte bound for field ${id}`)
  return v.readBigInt64LE(0)
}

/** The segments a snapshot lists, as index entries, sorted by partition and offset. */
export async function snapshotSegments(store: ObjectStore, snapshot: IcebergSnapshot): Promise<SnapshotSegment[]> {
  const out: SnapshotSegment[] = []
  for (const manifest of await readManifestList(store, snapshot['manifest-list'])) {
    if (manifest.content !== 0) continue
    for (const entry of await readManifest(store, manifest)) {
      const f = entry.data_file
      // A format-1 segment is listed as its format-2 copy (publish.ts dataFileOf): Everlog reads the segment itself.
      const listed = keyOfLocation(store, f.file_path)
      const key = segmentKeyOfIcebergCopy(listed) ?? listed
      const parsed = parseSegmentKey(key)
      if (!parsed) throw new FormatError(`Iceberg data file ${f.file_path} is not an Everlog segment`)
      out.push({
        kind: 'segment',
        partition: parsed.partition,
        firstOffset: bound(f.lower_bounds, FieldIds.offset, f.file_path),
        lastOffset: bound(f.upper_bounds, FieldIds.offset, f.file_path),
        records: Number(f.record_count),
        bytes: Number(f.file_size_in_bytes),
        minTimestamp: bound(f.lower_bounds, FieldIds.timestamp, f.file_path) / 1000n,
        maxTimestamp: bound(f.upper_bounds, FieldIds.timestamp, f.file_path) / 1000n,
        key,
      })
    }
  }
  return out.sort(
    (a, b) => a.partition - b.partition || (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0),
  )
}

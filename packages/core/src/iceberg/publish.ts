// Publishing a topic's Iceberg table from the partitions' HEADs (DESIGN.md "Iceberg tables"). Each publish appends
// one manifest per partition that grew, holding the segments committed since the previous snapshot (the index is
// append-only, so they are exactly the entries at or after the offset that snapshot recorded), and commits the next
// metadata version with a create-if-absent write. A loser of that race re-reads and retries; a crash leaves at most
// unreferenced manifests, and the next publish catches up. Nothing here runs in the archiving commit path.
import { randomBytes, randomUUID } from 'node:crypto'
import { describeTopic } from '../catalog.js'
import { EverlogError, ErrorCodes, FormatError, PreconditionFailedError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { iterateEntries } from '../index/read.js'
import { StoreNodeSource } from '../index/source.js'
import type { SegmentEntry } from '../index/types.js'
import { decodeSegment } from '../segment/decode.js'
import { encodeSegment } from '../segment/encode.js'
import { segmentCompressionOf } from '../segment/footer.js'
import { fetchSegment, readSegmentLayout } from '../segment/read.js'
import {
  icebergManifestKey,
  icebergSegmentCopyKey,
  icebergMetadataKey,
  icebergTablePrefix,
  icebergVersionHintKey,
  validatePartition,
} from '../layout.js'
import type { ObjectStore } from '../store/types.js'
import { writeAvroContainer } from './avro.js'
import {
  FieldIds,
  LAST_COLUMN_ID,
  PARTITION_FIELD_ID,
  SCHEMA_ID,
  SPEC_ID,
  icebergSchema,
  manifestEntrySchema,
  manifestFileSchema,
  nameMapping,
  partitionSpec,
} from './schema.js'
import {
  currentSnapshot,
  encodeMetadataJson,
  readIcebergTable,
  readManifest,
  readManifestList,
  storeLocation,
  type IcebergMetadata,
  type IcebergSnapshot,
  type ManifestFileRecord,
} from './table.js'

/** Snapshot summary key: per partition, the HEAD's nextOffset the snapshot covers (JSON object). */
export const NEXT_OFFSETS_SUMMARY_KEY = 'everlog.next-offsets'

export interface PublishOptions {
  /** Clock for snapshot and metadata timestamps; default Date.now. */
  now?: () => number
  /** Commit attempts before giving up when other publishers keep winning. Default 10. */
  maxAttempts?: number
  /**
   * A partition's manifests from earlier snapshots are merged into one when it has more than this many, so frequent
   * publishes do not grow the manifest list (and every reader's planning) without bound. Default 16.
   */
  maxManifestsPerPartition?: number
}

export interface PublishResult {
  topic: string
  /** false when the published snapshot already covered every HEAD. */
  published: boolean
  version: number
  metadataKey: string
  snapshotId: bigint | null
  addedFiles: number
  addedRecords: number
  totalFiles: number
  totalRecords: number
  /** Commits lost to a concurrent publisher before this one won. */
  retries: number
}

export class IcebergCommitError extends EverlogError {
  constructor(message: string) {
    super(ErrorCodes.PRECONDITION_FAILED, message, { retriable: true })
  }
}

const le64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigInt64LE(n)
  return b
}
const le32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(n)
  return b
}

function newSnapshotId(): bigint {
  // Positive 63-bit, never 0 or -1 (Iceberg's "no snapshot").
  return (randomBytes(8).readBigUInt64BE() >> 1n) | 1n
}

function parseNextOffsets(snapshot: IcebergSnapshot | undefined, key: string): Map<number, bigint> {
  const out = new Map<number, bigint>()
  const text = snapshot?.summary?.[NEXT_OFFSETS_SUMMARY_KEY]
  if (!snapshot) return out
  if (text === undefined) {
    throw new FormatError(
      `${key}: the current snapshot has no ${NEXT_OFFSETS_SUMMARY_KEY}; it was not published by Everlog`,
    )
  }
  try {
    const o = JSON.parse(text) as Record<string, string>
    for (const [p, v] of Object.entries(o)) out.set(validatePartition(Number(p)), BigInt(v))
  } catch (err) {
    throw new FormatError(`${key}: ${NEXT_OFFSETS_SUMMARY_KEY} is not a map of partitions to offsets`, { cause: err })
  }
  return out
}

/**
 * The data file the table lists for a segment: the segment itself in format 2 (TIMESTAMP(MICROS)); for a format-1
 * segment (MILLIS) a format-2 copy of it under `<topic>/iceberg/data/`, made once. Iceberg's Java reader compares a
 * row group's timestamp statistics with microsecond literals whatever the file's unit (apache/iceberg#18173), and
 * Iceberg has no per-file unit to tell it otherwise, so a table listing a MILLIS segment would drop its rows from
 * pushed-down time ranges. The copy holds the same records (checked before it is written), so the entry's bounds
 * stay the index entry's.
 */
async function dataFileOf(
  store: ObjectStore,
  topic: string,
  partition: number,
  e: SegmentEntry,
): Promise<SegmentEntry> {
  const layout = await readSegmentLayout(store, e.key)
  if (layout.timestampUnit === 'us') return e
  const key = icebergSegmentCopyKey(e.key)
  const existing = await store.head(key)
  if (existing) return { ...e, key, bytes: existing.size }
  const { bytes, layout: whole } = await fetchSegment(store, e.key)
  const records = decodeSegment(bytes, { key: e.key })
  const copy = encodeSegment(records, {
    topic,
    partition,
    compression: segmentCompressionOf(whole, e.key) ?? 'zstd',
  })
  if (copy.records !== e.records || copy.firstOffset !== e.firstOffset || copy.lastOffset !== e.lastOffset) {
    throw new FormatError(`${e.key} holds other records than its index entry; run \`everlog verify\``)
  }
  await store.put(key, copy.bytes, { contentType: 'application/vnd.apache.parquet' })
  return { ...e, key, bytes: copy.bytes.length }
}

/** The manifest entries of new segments: status ADDED, snapshot id and sequence numbers inherited from the list. */
function manifestEntries(location: string, partition: number, segments: readonly SegmentEntry[]): object[] {
  return segments.map((s) => ({
    status: 1,
    snapshot_id: null,
    sequence_number: null,
    file_sequence_number: null,
    data_file: {
      content: 0,
      file_path: `${location}/${s.key}`,
      file_format: 'PARQUET',
      partition: { partition },
      record_count: BigInt(s.records),
      file_size_in_bytes: BigInt(s.bytes),
      column_sizes: null,
      value_counts: [
        { key: FieldIds.offset, value: BigInt(s.records) },
        { key: FieldIds.timestamp, value: BigInt(s.records) },
      ],
      null_value_counts: [
        { key: FieldIds.offset, value: 0n },
        { key: FieldIds.timestamp, value: 0n },
      ],
      nan_value_counts: null,
      // Iceberg's single-value serialization: little-endian int64; timestamptz in microseconds.
      lower_bounds: [
        { key: FieldIds.offset, value: le64(s.firstOffset) },
        { key: FieldIds.timestamp, value: le64(s.minTimestamp * 1000n) },
      ],
      upper_bounds: [
        { key: FieldIds.offset, value: le64(s.lastOffset) },
        { key: FieldIds.timestamp, value: le64(s.maxTimestamp * 1000n) },
      ],
      key_metadata: null,
      split_offsets: null,
      equality_ids: null,
      sort_order_id: null,
    },
  }))
}

function tableProperties(topic: string): Record<string, string> {
  return {
    'schema.name-mapping.default': JSON.stringify(nameMapping()),
    'write.format.default': 'parquet',
    // No read.parquet.vectorization.enabled=false any more: Iceberg's vectorized reader fails on a TIMESTAMP(MILLIS)
    // column, but every file a table lists is TIMESTAMP(MICROS) (format 2, or a copy: dataFileOf). Tables created
    // by an earlier Everlog keep the property they were created with.
    'everlog.topic': topic,
    // Iceberg writers must not add files here: the table is derived from the archive's HEADs.
    'everlog.managed': 'true',
  }
}

function initialMetadata(location: string, topic: string, now: number): IcebergMetadata {
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location,
    'last-sequence-number': 0,
    'last-updated-ms': now,
    'last-column-id': LAST_COLUMN_ID,
    'current-schema-id': SCHEMA_ID,
    schemas: [icebergSchema()],
    'default-spec-id': SPEC_ID,
    'partition-specs': [partitionSpec()],
    'last-partition-id': PARTITION_FIELD_ID,
    'default-sort-order-id': 0,
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    properties: tableProperties(topic),
    'current-snapshot-id': null,
    refs: {},
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
  }
}

/**
 * Publishes the next snapshot of `topic`'s Iceberg table if any partition's HEAD moved past the current snapshot.
 * @throws IcebergCommitError when `maxAttempts` commits all lost to concurrent publishers.
 */
export async function publishIceberg(
  store: ObjectStore,
  topic: string,
  options: PublishOptions = {},
): Promise<PublishResult> {
  const now = options.now ?? Date.now
  const maxAttempts = options.maxAttempts ?? 10
  const location = storeLocation(store)
  const tableLocation = `${location}/${icebergTablePrefix(topic).replace(/\/$/, '')}`
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const table = await readIcebergTable(store, topic)
    const previous = table ? currentSnapshot(table.metadata) : undefined
    const published = parseNextOffsets(previous, table?.key ?? '')
    const description = await describeTopic(store, topic)

    const nextOffsets = new Map(published)
    const manifests: ManifestFileRecord[] = previous ? await readManifestList(store, previous['manifest-list']) : []
    const sequenceNumber = (table?.metadata['last-sequence-number'] ?? 0) + 1
    const snapshotId = newSnapshotId()
    let addedFiles = 0
    let addedRecords = 0
    let addedBytes = 0
    for (const { partition, head } of description.partitions) {
      if (!head?.root) continue
      const from = published.get(partition) ?? 0n
      if (head.nextOffset < from) {
        throw new FormatError(
          `partition ${partition} of ${topic}: HEAD ends at ${head.nextOffset}, before the ${from} already published to Iceberg; the archive was rewritten`,
        )
      }
      if (head.nextOffset === from) continue
      nextOffsets.set(partition, head.nextOffset)
      const segments: SegmentEntry[] = []
      const source = new StoreNodeSource(store, topic, partition)
      for await (const e of iterateEntries(source, head.root, { fromOffset: from })) {
        if (e.kind !== 'segment') continue
        if (e.firstOffset < from) {
          throw new FormatError(
            `partition ${partition} of ${topic}: segment ${e.key} straddles offset ${from} already published to Iceberg; the archive was rewritten`,
          )
        }
        segments.push(e)
      }
      if (segments.length === 0) continue // only gaps were added
      const files: SegmentEntry[] = []
      for (const e of segments) files.push(await dataFileOf(store, topic, partition, e))
      const bytes = writeAvroContainer(
        manifestEntrySchema(),
        manifestEntries(location, partition, files),
        manifestMetadata(),
      )
      const key = icebergManifestKey(topic, sha256Hex(bytes), 'manifest')
      await store.put(key, bytes, { contentType: 'application/avro' })
      const records = segments.reduce((n, s) => n + s.records, 0)
      manifests.push({
        manifest_path: `${location}/${key}`,
        manifest_length: BigInt(bytes.length),
        partition_spec_id: SPEC_ID,
        content: 0,
        sequence_number: BigInt(sequenceNumber),
        min_sequence_number: BigInt(sequenceNumber),
        added_snapshot_id: snapshotId,
        added_files_count: segments.length,
        existing_files_count: 0,
        deleted_files_count: 0,
        added_rows_count: BigInt(records),
        existing_rows_count: 0n,
        deleted_rows_count: 0n,
        partitions: [
          { contains_null: false, contains_nan: false, lower_bound: le32(partition), upper_bound: le32(partition) },
        ],
        key_metadata: null,
      })
      addedFiles += segments.length
      addedRecords += records
      addedBytes += files.reduce((n, s) => n + s.bytes, 0)
    }

    if (addedFiles > 0) {
      const merged = await mergeManifests(store, topic, location, manifests, {
        keep: new Set(manifests.filter((m) => m.added_snapshot_id === snapshotId)),
        max: options.maxManifestsPerPartition ?? 16,
        snapshotId,
        sequenceNumber,
      })
      manifests.splice(0, manifests.length, ...merged)
    }
    const totalFiles = manifests.reduce((n, m) => n + m.added_files_count + m.existing_files_count, 0)
    const totalRecords = manifests.reduce((n, m) => n + Number(m.added_rows_count + m.existing_rows_count), 0)
    if (table && previous && addedFiles === 0) {
      return {
        topic,
        published: false,
        version: table.version,
        metadataKey: table.key,
        snapshotId: previous['snapshot-id'],
        addedFiles: 0,
        addedRecords: 0,
        totalFiles,
        totalRecords,
        retries: attempt,
      }
    }

    const listBytes = writeAvroContainer(manifestFileSchema(), manifests, {
      'snapshot-id': snapshotId.toString(),
      'parent-snapshot-id': previous ? previous['snapshot-id'].toString() : 'null',
      'sequence-number': String(sequenceNumber),
      'format-version': '2',
    })
    const listKey = icebergManifestKey(topic, sha256Hex(listBytes), 'list')
    await store.put(listKey, listBytes, { contentType: 'application/avro' })

    const base = table?.metadata ?? initialMetadata(tableLocation, topic, now())
    const timestamp = Math.max(now(), base['last-updated-ms'])
    const prevTotals = previous?.summary ?? {}
    const snapshot: IcebergSnapshot = {
      'snapshot-id': snapshotId,
      ...(previous ? { 'parent-snapshot-id': previous['snapshot-id'] } : {}),
      'sequence-number': sequenceNumber,
      'timestamp-ms': timestamp,
      'manifest-list': `${location}/${listKey}`,
      summary: {
        operation: 'append',
        'added-data-files': String(addedFiles),
        'added-records': String(addedRecords),
        'added-files-size': String(addedBytes),
        'total-data-files': String(totalFiles),
        'total-records': String(totalRecords),
        'total-files-size': String(Number(prevTotals['total-files-size'] ?? 0) + addedBytes),
        'total-delete-files': '0',
        'total-position-deletes': '0',
        'total-equality-deletes': '0',
        [NEXT_OFFSETS_SUMMARY_KEY]: JSON.stringify(
          Object.fromEntries([...nextOffsets].sort((a, b) => a[0] - b[0]).map(([p, o]) => [String(p), o.toString()])),
        ),
      },
      'schema-id': SCHEMA_ID,
    }
    const version = (table?.version ?? 0) + 1
    const metadata: IcebergMetadata = {
      ...base,
      'last-sequence-number': sequenceNumber,
      'last-updated-ms': timestamp,
      'current-snapshot-id': snapshotId,
      refs: { ...base.refs, main: { 'snapshot-id': snapshotId, type: 'branch' } },
      snapshots: [...base.snapshots, snapshot],
      'snapshot-log': [...base['snapshot-log'], { 'timestamp-ms': timestamp, 'snapshot-id': snapshotId }],
      'metadata-log': table
        ? [
            ...base['metadata-log'],
            { 'timestamp-ms': base['last-updated-ms'], 'metadata-file': `${location}/${table.key}` },
          ]
        : [],
    }
    const committed = await commitMetadata(store, topic, version, metadata)
    if (!committed) continue
    return {
      topic,
      published: true,
      version,
      metadataKey: icebergMetadataKey(topic, version),
      snapshotId,
      addedFiles,
      addedRecords,
      totalFiles,
      totalRecords,
      retries: attempt,
    }
  }
  throw new IcebergCommitError(
    `could not publish the Iceberg table of ${topic}: ${maxAttempts} commits in a row lost to concurrent publishers; retry later`,
  )
}

/**
 * Creates metadata version `version` if no one else did (the commit point), then moves the version hint. false when
 * another publisher committed that version first: the caller re-reads and retries.
 */
export async function commitMetadata(
  store: ObjectStore,
  topic: string,
  version: number,
  metadata: IcebergMetadata,
): Promise<boolean> {
  try {
    await store.putIfAbsent(icebergMetadataKey(topic, version), encodeMetadataJson(metadata), {
      contentType: 'application/json',
    })
  } catch (err) {
    if (err instanceof PreconditionFailedError) return false
    throw err
  }
  // The hint only speeds readers up (they probe newer versions), so a failed or late hint write loses nothing.
  await store.put(icebergVersionHintKey(topic), Buffer.from(String(version), 'utf8'), { contentType: 'text/plain' })
  return true
}

const partitionOf = (m: ManifestFileRecord): number | undefined => m.partitions?.[0]?.lower_bound?.readInt32LE(0)

/**
 * Replaces a partition's manifests from earlier snapshots by one when there are more than `max`: its entries keep
 * their snapshot ids and sequence numbers, written out explicitly with status EXISTING, as Iceberg's own manifest
 * merging does. The manifests this snapshot adds (`keep`) stay as they are.
 */
async function mergeManifests(
  store: ObjectStore,
  topic: string,
  location: string,
  manifests: readonly ManifestFileRecord[],
  options: { keep: Set<ManifestFileRecord>; max: number; snapshotId: bigint; sequenceNumber: number },
): Promise<ManifestFileRecord[]> {
  const byPartition = new Map<number, ManifestFileRecord[]>()
  const out: ManifestFileRecord[] = []
  for (const m of manifests) {
    const p = partitionOf(m)
    if (options.keep.has(m) || p === undefined) continue
    let list = byPartition.get(p)
    if (!list) byPartition.set(p, (list = []))
    list.push(m)
  }
  for (const [partition, old] of [...byPartition].sort((a, b) => a[0] - b[0])) {
    if (old.length <= Math.max(1, options.max)) {
      out.push(...old)
      continue
    }
    const entries = []
    for (const m of old) {
      for (const e of await readManifest(store, m)) entries.push({ ...e, status: 0 })
    }
    entries.sort((a, b) =>
      a.data_file.file_path < b.data_file.file_path ? -1 : a.data_file.file_path > b.data_file.file_path ? 1 : 0,
    )
    const bytes = writeAvroContainer(manifestEntrySchema(), entries, manifestMetadata())
    const key = icebergManifestKey(topic, sha256Hex(bytes), 'manifest')
    await store.put(key, bytes, { contentType: 'application/avro' })
    const sequences = entries.map((e) => e.sequence_number ?? BigInt(options.sequenceNumber))
    out.push({
      manifest_path: `${location}/${key}`,
      manifest_length: BigInt(bytes.length),
      partition_spec_id: SPEC_ID,
      content: 0,
      sequence_number: BigInt(options.sequenceNumber),
      min_sequence_number: sequences.reduce((a, b) => (b < a ? b : a), BigInt(options.sequenceNumber)),
      added_snapshot_id: options.snapshotId,
      added_files_count: 0,
      existing_files_count: entries.length,
      deleted_files_count: 0,
      added_rows_count: 0n,
      existing_rows_count: entries.reduce((n, e) => n + e.data_file.record_count, 0n),
      deleted_rows_count: 0n,
      partitions: [
        { contains_null: false, contains_nan: false, lower_bound: le32(partition), upper_bound: le32(partition) },
      ],
      key_metadata: null,
    })
  }
  // Manifests without a partition summary (not written by Everlog) are kept as they are.
  for (const m of manifests) if (!options.keep.has(m) && partitionOf(m) === undefined) out.push(m)
  return [...out, ...manifests.filter((m) => options.keep.has(m))]
}

function manifestMetadata(): Record<string, string> {
  return {
    schema: JSON.stringify(icebergSchema()),
    'schema-id': String(SCHEMA_ID),
    'partition-spec': JSON.stringify(partitionSpec().fields),
    'partition-spec-id': String(SPEC_ID),
    'format-version': '2',
    content: 'data',
  }
}

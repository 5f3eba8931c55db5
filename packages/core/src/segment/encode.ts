// Records -> Parquet segment bytes. Row groups are cut by raw record bytes, every column of a row group is laid out
// as one PLAIN page straight from the records, and the file is assembled by ParquetFileWriter: no Arrow, no WASM
// Parquet writer (parquet-wasm + Arrow wrote ~65 MB/s with zstd; this is bound by compression).
import { InvalidArgumentError, OffsetOrderError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { FORMAT_VERSION, validatePartition, validateTopicName } from '../layout.js'
import type { ArchiveRecord } from '../record.js'
import { ByteArrayColumn, ParquetFileWriter } from './page-write.js'
import { DEFAULT_ROW_GROUP_BYTES, isSegmentCompression, MetadataKeys } from './schema.js'
import type { EncodedSegment, SegmentCompression, SegmentWriteOptions } from './types.js'

const INT64_MAX = (1n << 63n) - 1n
const INT64_MIN = -(1n << 63n)
const MAX_ROW_GROUP_BYTES = 1 << 30
// With groups of at most 1 GiB, a record of at most 1 GiB keeps every column of a group under 2 GiB, so a
// batch never fails to build halfway through the streaming writer.
const MAX_RECORD_BYTES = 1 << 30

interface Plan {
  records: readonly ArchiveRecord[]
  compression: SegmentCompression
  /** Raw bytes of each record. */
  sizes: Float64Array
  /** Row group g holds records [cuts[g], cuts[g + 1]). */
  cuts: number[]
  metadata: Map<string, string>
  summary: Omit<EncodedSegment, 'bytes' | 'sha256'>
}

/**
 * Encodes records as one segment file. Pure: the same records and options always give the same bytes. Memory: the
 * largest row group's uncompressed columns plus the compressed file.
 */
export function encodeSegment(records: readonly ArchiveRecord[], options: SegmentWriteOptions): EncodedSegment {
  const plan = planSegment(records, options)
  const file = new ParquetFileWriter(plan.compression)
  for (let g = 0; g + 1 < plan.cuts.length; g++) writeRowGroup(file, plan, g)
  return finish(plan, file.finish(plan.metadata))
}

/** encodeSegment for callers that prefer a promise (kept for API compatibility; the work is synchronous). */
export async function encodeSegmentAsync(
  records: readonly ArchiveRecord[],
  options: SegmentWriteOptions,
): Promise<EncodedSegment> {
  return encodeSegment(records, options)
}

function finish(plan: Plan, bytes: Uint8Array): EncodedSegment {
  return { bytes, sha256: sha256Hex(bytes), ...plan.summary }
}

/** Validates options and records, measures each record and decides the row-group cuts. */
function planSegment(records: readonly ArchiveRecord[], options: SegmentWriteOptions): Plan {
  const topic = validateTopicName(options.topic)
  const partition = validatePartition(options.partition)
  const compression = options.compression ?? 'zstd'
  if (!isSegmentCompression(compression)) {
    throw new InvalidArgumentError(
      `invalid segment compression ${JSON.stringify(compression)}: expected zstd, snappy, gzip, lz4 or none`,
    )
  }
  const rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES
  // Parquet page sizes are signed 32-bit: a group's column must stay under 2 GiB.
  if (!Number.isSafeInteger(rowGroupBytes) || rowGroupBytes < 1 || rowGroupBytes > MAX_ROW_GROUP_BYTES) {
    throw new InvalidArgumentError(`invalid rowGroupBytes ${rowGroupBytes}: expected an integer from 1 to 1 GiB`)
  }
  if (records.length === 0) {
    throw new InvalidArgumentError(`cannot encode an empty segment for ${topic}/${partition}: pass at least one record`)
  }

  // One pass validates order and ranges, measures each record, and plans the row-group cuts.
  const sizes = new Float64Array(records.length)
  const cuts: number[] = [0]
  let groupBytes = 0
  let rawBytes = 0
  let minTimestamp = INT64_MAX
  let maxTimestamp = INT64_MIN
  let prev = -1n
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const offset = r.offset
    if (typeof offset !== 'bigint' || offset < 0n || offset > INT64_MAX) {
      throw new InvalidArgumentError(`record ${i} for ${topic}/${partition} has invalid offset ${String(offset)}`)
    }
    if (offset <= prev) {
      throw new OffsetOrderError(
        `records for ${topic}/${partition} must be in strictly increasing offset order: offset ${offset} follows ${prev}`,
      )
    }
    prev = offset
    const ts = r.timestamp
    if (typeof ts !== 'bigint' || ts < INT64_MIN || ts > INT64_MAX) {
      throw new InvalidArgumentError(`record at offset ${offset} of ${topic}/${partition} has invalid timestamp`)
    }
    if (ts < minTimestamp) minTimestamp = ts
    if (ts > maxTimestamp) maxTimestamp = ts
    let n = bytesOf(r.key, 'key', offset) + bytesOf(r.value, 'value', offset)
    for (const [k, v] of r.headers) {
      if (typeof k !== 'string')
        throw new InvalidArgumentError(`record at offset ${offset} has a non-string header key`)
      n += Buffer.byteLength(k) + bytesOf(v, 'header value', offset)
    }
    if (n > MAX_RECORD_BYTES) {
      throw new InvalidArgumentError(
        `record at offset ${offset} of ${topic}/${partition} has ${n} bytes; at most 1 GiB`,
      )
    }
    sizes[i] = n
    rawBytes += n
    // Cut before a record that would overflow the group; a record larger than the bound gets a group of its own.
    if (groupBytes > 0 && groupBytes + n > rowGroupBytes) {
      cuts.push(i)
      groupBytes = 0
    }
    groupBytes += n
  }
  cuts.push(records.length)

  const first = records[0]!.offset
  const last = records[records.length - 1]!.offset
  const metadata = new Map<string, string>([
    [MetadataKeys.format, String(FORMAT_VERSION)],
    [MetadataKeys.topic, topic],
    [MetadataKeys.partition, String(partition)],
    [MetadataKeys.firstOffset, first.toString()],
    [MetadataKeys.lastOffset, last.toString()],
    [MetadataKeys.records, String(records.length)],
    [MetadataKeys.minTimestamp, minTimestamp.toString()],
    [MetadataKeys.maxTimestamp, maxTimestamp.toString()],
  ])
  return {
    records,
    compression,
    sizes,
    cuts,
    metadata,
    summary: { firstOffset: first, lastOffset: last, records: records.length, rawBytes, minTimestamp, maxTimestamp },
  }
}

// A string or number where bytes belong would be silently mangled by TypedArray.set: refuse it instead.
function bytesOf(b: Uint8Array | null, what: string, offset: bigint): number {
  if (b === null) return 0
  if (!(b instanceof Uint8Array)) {
    throw new InvalidArgumentError(`record at offset ${offset}: ${what} must be a Buffer or null`)
  }
  return b.length
}

/** Lays out the columns of records[from, to) as Parquet pages and appends them as one row group. */
function writeRowGroup(file: ParquetFileWriter, { records, sizes, cuts }: Plan, g: number): void {
  const from = cuts[g]!
  const to = cuts[g + 1]!
  const n = to - from
  let keyBytes = 0
  let valueBytes = 0
  let levels = 0
  let recordBytes = 0
  for (let i = from; i < to; i++) {
    const r = records[i]!
    keyBytes += r.key?.length ?? 0
    valueBytes += r.value?.length ?? 0
    levels += Math.max(1, r.headers.length)
    recordBytes += sizes[i]!
  }
  // Header keys and values share one byte budget: together they are exactly the record bytes left.
  const headerBytes = recordBytes - keyBytes - valueBytes

  const offsets = Buffer.allocUnsafe(n * 8)
  const timestamps = Buffer.allocUnsafe(n * 8)
  const key = new ByteArrayColumn(n, keyBytes)
  const value = new ByteArrayColumn(n, valueBytes)
  const hKey = new ByteArrayColumn(levels, headerBytes, true)
  const hValue = new ByteArrayColumn(levels, headerBytes, true)
  let minTimestamp = records[from]!.timestamp
  let maxTimestamp = minTimestamp
  for (let i = 0; i < n; i++) {
    const r = records[from + i]!
    offsets.writeBigInt64LE(r.offset, i * 8)
    timestamps.writeBigInt64LE(r.timestamp, i * 8)
    if (r.timestamp < minTimestamp) minTimestamp = r.timestamp
    if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp
    key.push(r.key, 0, 1)
    value.push(r.value, 0, 1)
    const hs = r.headers
    if (hs.length === 0) {
      // An empty list: one entry at level 0 in both header leaves, no value.
      hKey.pushNull(0, 0)
      hValue.pushNull(0, 0)
    }
    for (let h = 0; h < hs.length; h++) {
      const [k, v] = hs[h]!
      const rep = h === 0 ? 0 : 1
      hKey.pushString(k, rep, 1)
      hValue.push(v, rep, 2)
    }
  }
  const int64Stats = (min: bigint, max: bigint) => ({ min: int64Bytes(min), max: int64Bytes(max) })
  file.writeRowGroup(n, [
    { values: offsets, count: n, stats: int64Stats(records[from]!.offset, records[to - 1]!.offset) },
    { values: timestamps, count: n, stats: int64Stats(minTimestamp, maxTimestamp) },
    key.page(),
    value.page(),
    hKey.page(),
    hValue.page(),
  ])
}

function int64Bytes(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeBigInt64LE(v)
  return b
}

// Records -> Parquet segment bytes. Row groups are cut by raw record bytes, every column of a row group is laid out
// as one PLAIN page straight from the records, and the file is assembled around them: no Arrow, no WASM Parquet
// writer (parquet-wasm + Arrow wrote ~65 MB/s with zstd; this is bound by compression). A row group can also be
// encoded on its own as soon as it is full (encodeRowGroup) and placed into a file later (assembleSegment): a
// writer that streams keeps compressed bytes, not raw records, and spreads the work over the segment's lifetime.
import { InvalidArgumentError, OffsetOrderError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { SEGMENT_FORMAT_VERSION, validatePartition, validateTopicName } from '../layout.js'
import type { ArchiveRecord } from '../record.js'
import { encodeColumnChunks, rowGroupColumns, writeParquetFile } from './page-write.js'
import type { RowGroupColumns } from './page-write.js'
import { DEFAULT_ROW_GROUP_BYTES, isSegmentCompression, MetadataKeys } from './schema.js'
import type {
  EncodedRowGroup,
  EncodedSegment,
  SegmentCompression,
  SegmentWriteOptions,
  TimestampUnit,
} from './types.js'

const INT64_MAX = (1n << 63n) - 1n
const INT64_MIN = -(1n << 63n)
const MAX_ROW_GROUP_BYTES = 1 << 30
// With groups of at most 1 GiB, a record of at most 1 GiB keeps every column of a group under 2 GiB (Parquet page
// sizes are signed 32-bit).
const MAX_RECORD_BYTES = 1 << 30
/** Kafka timestamps (ms) whose microseconds still fit a signed INT64: about 292,000 years either side of 1970. */
const MAX_MICROS_MS = INT64_MAX / 1000n

// The unit new row groups store their timestamps in. Only tests change it (setSegmentTimestampUnitForTests in
// @everlog/core/testing), to write format-1 segments (milliseconds) as older Everlog did.
let writeUnit: TimestampUnit = 'us'

/** Test-only: write format-1 (TIMESTAMP(MILLIS)) segments while `unit` is 'ms'. Returns the previous unit. */
export function setSegmentTimestampUnitForTests(unit: TimestampUnit): TimestampUnit {
  const prev = writeUnit
  writeUnit = unit
  return prev
}

/**
 * Encodes records as one segment file. Pure: the same records and options always give the same bytes. Memory: the
 * largest row group's uncompressed columns plus the compressed file.
 */
export function encodeSegment(records: readonly ArchiveRecord[], options: SegmentWriteOptions): EncodedSegment {
  const { topic, partition } = segmentTarget(options)
  const compression = compressionOf(options)
  const rowGroupBytes = rowGroupBytesOf(options)
  if (records.length === 0) {
    throw new InvalidArgumentError(`cannot encode an empty segment for ${topic}/${partition}: pass at least one record`)
  }
  const sizes = measure(records, `${topic}/${partition}`)
  const groups: EncodedRowGroup[] = []
  let from = 0
  let groupBytes = 0
  for (let i = 0; i < records.length; i++) {
    if (!fitsRowGroup(groupBytes, sizes[i]!, rowGroupBytes)) {
      groups.push(encodeMeasured(records, sizes, from, i, compression))
      from = i
      groupBytes = 0
    }
    groupBytes += sizes[i]!
  }
  groups.push(encodeMeasured(records, sizes, from, records.length, compression))
  return assembleSegment(groups, options)
}

/**
 * The row-group cut rule, for writers that cut groups themselves: a group closes before the record that would
 * overflow `rowGroupBytes`; a record larger than the bound gets a group of its own. encodeSegment cuts the same way,
 * so a streaming writer fed the same records produces the same bytes.
 */
export function fitsRowGroup(groupBytes: number, recordBytes: number, rowGroupBytes: number): boolean {
  return groupBytes === 0 || groupBytes + recordBytes <= rowGroupBytes
}

/** Encodes records (in strictly increasing offset order) as ONE row group, whatever their size. */
export function encodeRowGroup(
  records: readonly ArchiveRecord[],
  options: Pick<SegmentWriteOptions, 'compression'> = {},
): EncodedRowGroup {
  if (records.length === 0) throw new InvalidArgumentError('cannot encode an empty row group')
  const sizes = measure(records, 'row group')
  return encodeMeasured(records, sizes, 0, records.length, compressionOf(options))
}

/**
 * Places encoded row groups, in offset order, into one segment file with its footer. The groups must share the
 * segment's compression and must not overlap; their bytes are copied once into the file.
 */
export function assembleSegment(
  groups: readonly EncodedRowGroup[],
  options: Pick<SegmentWriteOptions, 'topic' | 'partition' | 'compression'>,
): EncodedSegment {
  const { topic, partition } = segmentTarget(options)
  const compression = compressionOf(options)
  if (groups.length === 0) {
    throw new InvalidArgumentError(`cannot encode an empty segment for ${topic}/${partition}: pass at least one record`)
  }
  let records = 0
  let rawBytes = 0
  let minTimestamp = INT64_MAX
  let maxTimestamp = INT64_MIN
  let prev: EncodedRowGroup | undefined
  const unit = groups[0]!.timestampUnit
  for (const g of groups) {
    if (g.timestampUnit !== unit) {
      throw new InvalidArgumentError(`row groups of ${topic}/${partition} store timestamps in different units`)
    }
    if (g.compression !== compression) {
      throw new InvalidArgumentError(
        `row group compressed with ${g.compression} cannot go into a ${compression} segment of ${topic}/${partition}`,
      )
    }
    if (prev && g.firstOffset <= prev.lastOffset) {
      throw new OffsetOrderError(
        `records for ${topic}/${partition} must be in strictly increasing offset order: offset ${g.firstOffset} follows ${prev.lastOffset}`,
      )
    }
    prev = g
    records += g.rows
    rawBytes += g.rawBytes
    if (g.minTimestamp < minTimestamp) minTimestamp = g.minTimestamp
    if (g.maxTimestamp > maxTimestamp) maxTimestamp = g.maxTimestamp
  }
  const firstOffset = groups[0]!.firstOffset
  const lastOffset = groups[groups.length - 1]!.lastOffset
  const metadata = new Map<string, string>([
    [MetadataKeys.format, String(unit === 'us' ? SEGMENT_FORMAT_VERSION : 1)],
    [MetadataKeys.topic, topic],
    [MetadataKeys.partition, String(partition)],
    [MetadataKeys.firstOffset, firstOffset.toString()],
    [MetadataKeys.lastOffset, lastOffset.toString()],
    [MetadataKeys.records, String(records)],
    [MetadataKeys.minTimestamp, minTimestamp.toString()],
    [MetadataKeys.maxTimestamp, maxTimestamp.toString()],
  ])
  const bytes = writeParquetFile(groups, compression, metadata, unit)
  return { bytes, sha256: sha256Hex(bytes), firstOffset, lastOffset, records, rawBytes, minTimestamp, maxTimestamp }
}

function segmentTarget(options: Pick<SegmentWriteOptions, 'topic' | 'partition'>) {
  return { topic: validateTopicName(options.topic), partition: validatePartition(options.partition) }
}

export function compressionOf(options: Pick<SegmentWriteOptions, 'compression'>): SegmentCompression {
  const compression = options.compression ?? 'zstd'
  if (!isSegmentCompression(compression)) {
    throw new InvalidArgumentError(
      `invalid segment compression ${JSON.stringify(compression)}: expected zstd, snappy, gzip, lz4 or none`,
    )
  }
  return compression
}

function rowGroupBytesOf(options: SegmentWriteOptions): number {
  const rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES
  if (!Number.isSafeInteger(rowGroupBytes) || rowGroupBytes < 1 || rowGroupBytes > MAX_ROW_GROUP_BYTES) {
    throw new InvalidArgumentError(`invalid rowGroupBytes ${rowGroupBytes}: expected an integer from 1 to 1 GiB`)
  }
  return rowGroupBytes
}

/** Validates order, ranges and types of every record and returns each one's raw bytes (rawRecordBytes). */
function measure(records: readonly ArchiveRecord[], where: string): Float64Array {
  const sizes = new Float64Array(records.length)
  let prev = -1n
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const offset = r.offset
    if (typeof offset !== 'bigint' || offset < 0n || offset > INT64_MAX) {
      throw new InvalidArgumentError(`record ${i} for ${where} has invalid offset ${String(offset)}`)
    }
    if (offset <= prev) {
      throw new OffsetOrderError(
        `records for ${where} must be in strictly increasing offset order: offset ${offset} follows ${prev}`,
      )
    }
    prev = offset
    const ts = r.timestamp
    if (typeof ts !== 'bigint' || ts < -MAX_MICROS_MS || ts > MAX_MICROS_MS) {
      throw new InvalidArgumentError(
        `record at offset ${offset} of ${where} has invalid timestamp ${String(ts)}: segments store microseconds, ` +
          `so a timestamp must be within ±${MAX_MICROS_MS} ms`,
      )
    }
    let n = bytesOf(r.key, 'key', offset) + bytesOf(r.value, 'value', offset)
    for (const [k, v] of r.headers) {
      if (typeof k !== 'string')
        throw new InvalidArgumentError(`record at offset ${offset} has a non-string header key`)
      n += Buffer.byteLength(k) + bytesOf(v, 'header value', offset)
    }
    if (n > MAX_RECORD_BYTES) {
      throw new InvalidArgumentError(`record at offset ${offset} of ${where} has ${n} bytes; at most 1 GiB`)
    }
    sizes[i] = n
  }
  return sizes
}

// A string or number where bytes belong would be silently mangled by TypedArray.set: refuse it instead.
function bytesOf(b: Uint8Array | null, what: string, offset: bigint): number {
  if (b === null) return 0
  if (!(b instanceof Uint8Array)) {
    throw new InvalidArgumentError(`record at offset ${offset}: ${what} must be a Buffer or null`)
  }
  return b.length
}

/** Lays out the columns of records[from, to) (already measured) as Parquet pages: one row group. */
function encodeMeasured(
  records: readonly ArchiveRecord[],
  sizes: Float64Array,
  from: number,
  to: number,
  compression: SegmentCompression,
): EncodedRowGroup {
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

  const columns = rowGroupColumns(n, { keyBytes, valueBytes, headerBytes, headerEntries: levels })
  const { offsets, timestamps, key, value, headerKey: hKey, headerValue: hValue } = columns
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
  return rowGroupOf(
    columns,
    { rows: n, rawBytes: recordBytes, compression },
    { firstOffset: records[from]!.offset, lastOffset: records[to - 1]!.offset, minTimestamp, maxTimestamp },
  )
}

/**
 * Compresses a row group's laid-out columns (offsets and timestamps as PLAIN INT64, then the four byte-array
 * leaves) into its column chunks, with the statistics engines prune by. Timestamps arrive in Kafka's milliseconds
 * and are stored as microseconds (segment format 2): the one place the writers convert.
 */
export function rowGroupOf(
  columns: RowGroupColumns,
  info: { rows: number; rawBytes: number; compression: SegmentCompression },
  range: { firstOffset: bigint; lastOffset: bigint; minTimestamp: bigint; maxTimestamp: bigint },
): EncodedRowGroup {
  const n = info.rows
  const unit = writeUnit
  const scale = unit === 'us' ? 1000n : 1n
  if (unit === 'us') {
    if (range.minTimestamp < -MAX_MICROS_MS || range.maxTimestamp > MAX_MICROS_MS) {
      throw new InvalidArgumentError(
        `a record of offsets ${range.firstOffset}..${range.lastOffset} has a timestamp outside ±${MAX_MICROS_MS} ms, ` +
          'which microseconds cannot hold',
      )
    }
    millisToMicros(columns.timestamps, n)
  }
  const { bytes, columns: chunks } = encodeColumnChunks(
    [
      {
        values: columns.offsets,
        count: n,
        stats: { min: int64Bytes(range.firstOffset), max: int64Bytes(range.lastOffset) },
      },
      {
        values: columns.timestamps,
        count: n,
        stats: { min: int64Bytes(range.minTimestamp * scale), max: int64Bytes(range.maxTimestamp * scale) },
      },
      columns.key.page(),
      columns.value.page(),
      columns.headerKey.page(),
      columns.headerValue.page(),
    ],
    info.compression,
  )
  return { bytes, columns: chunks, ...info, ...range, timestampUnit: unit }
}

const TWO_32 = 4294967296

/**
 * Multiplies n little-endian INT64 values by 1000 in place, as 32-bit halves (no BigInt per value). The caller has
 * checked that every product fits.
 */
function millisToMicros(buf: Buffer, n: number): void {
  if (buf.byteOffset % 4 !== 0) {
    for (let i = 0; i < n; i++) buf.writeBigInt64LE(buf.readBigInt64LE(i * 8) * 1000n, i * 8)
    return
  }
  const words = new Int32Array(buf.buffer, buf.byteOffset, 2 * n)
  for (let i = 0; i < 2 * n; i += 2) {
    const lo = (words[i]! >>> 0) * 1000
    const carry = Math.floor(lo / TWO_32)
    words[i] = lo - carry * TWO_32
    words[i + 1] = Math.imul(words[i + 1]!, 1000) + carry
  }
}

function int64Bytes(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeBigInt64LE(v)
  return b
}

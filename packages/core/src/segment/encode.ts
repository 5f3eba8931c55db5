// Records -> Parquet segment bytes. Row groups are cut by raw record bytes here, in JS, and handed to the
// Parquet writer one record batch per row group, so every row group ends at the byte bound whatever the sizes.
import * as arrow from 'apache-arrow'
import { Table as WasmTable, transformParquetStream, writeParquet } from 'parquet-wasm'
import type { RecordBatch as WasmRecordBatch } from 'parquet-wasm'
import { InvalidArgumentError, OffsetOrderError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { FORMAT_VERSION, validatePartition, validateTopicName } from '../layout.js'
import type { ArchiveRecord } from '../record.js'
import { sortFooterMetadata } from './footer.js'
import {
  DEFAULT_ROW_GROUP_BYTES,
  headerEntryType,
  headersType,
  isSegmentCompression,
  MetadataKeys,
  segmentSchema,
  writerProperties,
} from './schema.js'
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

export function encodeSegment(records: readonly ArchiveRecord[], options: SegmentWriteOptions): EncodedSegment {
  const plan = planSegment(records, options)
  const batches: arrow.RecordBatch[] = []
  for (let g = 0; g + 1 < plan.cuts.length; g++) batches.push(buildBatch(plan, g))
  const ipc = arrow.tableToIPC(new arrow.Table(segmentSchema, batches), 'stream')
  // writeParquet takes ownership of (and frees) both WASM objects.
  const file = writeParquet(WasmTable.fromIPCStream(ipc), writerProperties(plan.compression, plan.metadata))
  return finish(plan, file)
}

/**
 * The same bytes as encodeSegment, but the Parquet writer is fed one row group at a time: WASM memory stays near
 * one row group's size instead of about twice the whole segment's (WASM memory, once grown, is never returned).
 */
export async function encodeSegmentAsync(
  records: readonly ArchiveRecord[],
  options: SegmentWriteOptions,
): Promise<EncodedSegment> {
  const plan = planSegment(records, options)
  let g = 0
  const batches = new ReadableStream<WasmRecordBatch>({
    pull(controller) {
      if (g + 1 >= plan.cuts.length) return controller.close()
      const ipc = arrow.tableToIPC(new arrow.Table(segmentSchema, [buildBatch(plan, g++)]), 'stream')
      const table = WasmTable.fromIPCStream(ipc)
      try {
        controller.enqueue(table.recordBatch(0)!)
      } finally {
        table.free()
      }
    },
  })
  const out = await transformParquetStream(batches, writerProperties(plan.compression, plan.metadata))
  const chunks: Uint8Array[] = []
  for await (const chunk of out as ReadableStream<Uint8Array>) chunks.push(chunk)
  return finish(plan, Buffer.concat(chunks))
}

function finish(plan: Plan, file: Uint8Array): EncodedSegment {
  const bytes = sortFooterMetadata(file)
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
  // Arrow Binary columns use 32-bit offsets: a group's column must stay under 2 GiB.
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

/** Builds the Arrow columns of records[from, to) straight into typed arrays: no per-record Arrow objects. */
function buildBatch({ records, sizes, cuts }: Plan, g: number): arrow.RecordBatch {
  const from = cuts[g]!
  const to = cuts[g + 1]!
  const n = to - from
  const offsets = new BigInt64Array(n)
  const timestamps = new BigInt64Array(n)
  let keyBytes = 0
  let valueBytes = 0
  let headerCount = 0
  for (let i = from; i < to; i++) {
    const r = records[i]!
    keyBytes += r.key?.length ?? 0
    valueBytes += r.value?.length ?? 0
    headerCount += r.headers.length
  }
  let headerBytes = 0
  for (let i = from; i < to; i++) headerBytes += sizes[i]!
  headerBytes -= keyBytes + valueBytes

  const key = new BinaryColumn(n, keyBytes)
  const value = new BinaryColumn(n, valueBytes)
  const listOffsets = new Int32Array(n + 1)
  // Header keys and values share one scratch budget: their total is exactly headerBytes.
  const hKey = new BinaryColumn(headerCount, headerBytes)
  const hValue = new BinaryColumn(headerCount, headerBytes)
  let h = 0
  for (let i = 0; i < n; i++) {
    const r = records[from + i]!
    offsets[i] = r.offset
    timestamps[i] = r.timestamp
    key.push(r.key)
    value.push(r.value)
    for (const [k, v] of r.headers) {
      hKey.pushString(k)
      hValue.push(v)
      h++
    }
    listOffsets[i + 1] = h
  }

  const entries = arrow.makeData({
    type: headerEntryType,
    length: headerCount,
    nullCount: 0,
    children: [hKey.utf8(), hValue.binary()],
  })
  const columns = [
    arrow.makeData({ type: new arrow.Int64(), length: n, nullCount: 0, data: offsets }),
    arrow.makeData({ type: new arrow.TimestampMillisecond('UTC'), length: n, nullCount: 0, data: timestamps }),
    key.binary(),
    value.binary(),
    arrow.makeData({ type: headersType, length: n, nullCount: 0, valueOffsets: listOffsets, child: entries }),
  ]
  const struct = arrow.makeData({
    type: new arrow.Struct(segmentSchema.fields),
    length: n,
    nullCount: 0,
    children: columns,
  })
  return new arrow.RecordBatch(segmentSchema, struct)
}

/** A nullable variable-width column filled in place: offsets, one contiguous value buffer, a validity bitmap. */
class BinaryColumn {
  private readonly offsets: Int32Array
  private readonly values: Buffer
  private bitmap: Uint8Array | undefined
  private nulls = 0
  private i = 0
  private pos = 0

  constructor(
    private readonly length: number,
    capacity: number,
  ) {
    if (capacity > 0x7fffffff) {
      throw new InvalidArgumentError(`a row group's column would exceed 2 GiB (${capacity} bytes): lower rowGroupBytes`)
    }
    this.offsets = new Int32Array(length + 1)
    this.values = Buffer.allocUnsafe(capacity)
  }

  push(bytes: Uint8Array | null): void {
    if (bytes === null) this.markNull()
    else {
      this.values.set(bytes, this.pos)
      this.pos += bytes.length
    }
    this.offsets[++this.i] = this.pos
  }

  pushString(s: string): void {
    this.pos += this.values.write(s, this.pos, 'utf8')
    this.offsets[++this.i] = this.pos
  }

  private markNull(): void {
    if (this.bitmap === undefined) {
      // Lazily: most key/value columns have no nulls, and Arrow treats a missing bitmap as all-valid.
      this.bitmap = new Uint8Array((this.length + 7) >> 3).fill(0xff)
    }
    this.bitmap[this.i >> 3]! &= ~(1 << (this.i & 7))
    this.nulls++
  }

  binary(): arrow.Data<arrow.Binary> {
    return arrow.makeData({ type: new arrow.Binary(), ...this.parts() })
  }

  utf8(): arrow.Data<arrow.Utf8> {
    return arrow.makeData({ type: new arrow.Utf8(), ...this.parts() })
  }

  private parts() {
    return {
      length: this.length,
      nullCount: this.nulls,
      nullBitmap: this.bitmap ?? null,
      valueOffsets: this.offsets,
      data: new Uint8Array(this.values.buffer, this.values.byteOffset, this.pos),
    }
  }
}

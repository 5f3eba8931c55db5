// Parquet segment bytes -> records, one row group at a time, without copying each key and value: natively for
// PLAIN pages (native-decode.ts), otherwise parquet-wasm decodes inside WASM and hands back an Arrow IPC stream
// whose buffers the records view.
import type * as Arrow from 'apache-arrow'
import type { Table as WasmTable } from 'parquet-wasm'
import { EverlogError, FormatError, IntegrityError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { apacheArrow, parquetWasm } from '../lazy-deps.js'
import type { ArchiveRecord, RecordHeader } from '../record.js'
import { footerLength, MAGIC, parseFooter, singleRowGroupFile } from './footer.js'
import { columnsToRecords, recordsToColumns, timestampsToMillis } from './columns.js'
import { checkPageCrcs, decodeRowGroupColumnsNative, NATIVE_CODECS } from './native-decode.js'
import { Codec } from './parquet.js'
import { segmentArrowTypes } from './schema.js'
import type { RecordColumns, SegmentLayout, TimestampUnit } from './types.js'

/**
 * Codecs whose pages decode faster natively than through parquet-wasm. Measured on 200k ~1 KiB records, per row
 * group, same files, native / parquet-wasm: zstd 1.5-2.2x, gzip 1.5x, uncompressed 2.2x; but snappy 0.66x and
 * LZ4_RAW 0.54x, where parquet-wasm's Rust decompressors beat ours in JS by more than the records cost.
 */
const FASTER_NATIVELY: ReadonlySet<number> = new Set([Codec.ZSTD, Codec.GZIP, Codec.UNCOMPRESSED])

const expected: Partial<Record<TimestampUnit, Map<string, string>>> = {}
/**
 * Each column's Arrow type as parquet-wasm decodes a segment whose timestamps are in `unit`, rendered (made on first
 * use: Arrow loads lazily).
 */
function expectedTypes(unit: TimestampUnit): Map<string, string> {
  return (expected[unit] ??= new Map(
    segmentArrowTypes(apacheArrow(), unit).segmentSchema.fields.map((f) => [f.name, String(f.type)]),
  ))
}

export interface DecodeSegmentOptions {
  /** When given, the bytes must hash to it (IntegrityError otherwise). */
  expectedSha256?: string
  /** The object's key, named in errors. */
  key?: string
  /**
   * Every page decoded here by strict decoders, LZ4 blocks held to the end-of-block rules liblz4 enforces (DuckDB,
   * pyarrow and polars reject blocks that break them; parquet-wasm and the default path tolerate them), every page
   * CRC checked: `everlog verify --deep`. Errors name the row group and column.
   */
  strict?: boolean
}

export function decodeSegment(bytes: Uint8Array, options: DecodeSegmentOptions = {}): ArchiveRecord[] {
  const what = options.key ?? 'segment'
  if (options.expectedSha256 !== undefined) {
    const actual = sha256Hex(bytes)
    if (actual !== options.expectedSha256) {
      throw new IntegrityError(
        what,
        `segment ${what} is corrupt: its bytes hash to ${actual}, expected ${options.expectedSha256}`,
      )
    }
  }
  const layout = layoutOf(bytes, what)
  // Row group by row group: WASM memory grows to the largest row group, never to the whole segment (WASM
  // memory is never given back, so one big segment would keep the process large for good).
  const out: ArchiveRecord[] = []
  for (const rg of layout.rowGroups) {
    const chunk = bytes.subarray(rg.byteStart, rg.byteEnd)
    const columns = options.strict
      ? decodeRowGroupColumnsStrict(layout, rg.index, chunk, what)
      : decodeRowGroupColumns(layout, rg.index, chunk, what)
    for (const r of columnsToRecords(columns)) out.push(r)
  }
  return out
}

/** Parses and validates the footer of a whole segment held in memory. */
export function layoutOf(bytes: Uint8Array, what: string): SegmentLayout {
  const size = bytes.length
  footerLength(bytes, size, what)
  if (new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) !== MAGIC) {
    throw new FormatError(`${what} is not a Parquet file: no PAR1 header`)
  }
  return parseFooter(bytes, size, what)
}

/**
 * Decodes one row group from its column-chunk bytes and the footer alone. Memory, natively: each page
 * decompressed once, which the returned records view. Through parquet-wasm (as a one-row-group Parquet file): that
 * file (chunk + footer) is copied into WASM once, WASM decodes it to Arrow columns (about the row group's raw
 * record bytes), and those are copied out as one IPC buffer that the returned records view.
 */
export function decodeRowGroup(layout: SegmentLayout, index: number, chunk: Uint8Array, what: string): ArchiveRecord[] {
  return columnsToRecords(decodeRowGroupColumns(layout, index, chunk, what))
}

/** decodeRowGroup, column by column (no object per record on the native path). */
export function decodeRowGroupColumns(
  layout: SegmentLayout,
  index: number,
  chunk: Uint8Array,
  what: string,
): RecordColumns {
  // Everlog's own PLAIN pages decode in JS, faster where decompression is not the JS part; other layouts (older
  // segments with delta and dictionary encodings) and the other codecs go through parquet-wasm, which does not
  // check page CRCs: that is done here first.
  let columns = decodeRowGroupColumnsNative(layout, index, chunk, what, FASTER_NATIVELY)
  if (!columns) {
    checkPageCrcs(layout, index, chunk, what)
    columns = recordsToColumns(decodeRowGroupWasm(layout, index, chunk, what, []))
  }
  checkRowGroup(layout, index, columns, what)
  return columns
}

/** decodeRowGroupColumns with every page decoded natively and strictly (DecodeSegmentOptions.strict). */
function decodeRowGroupColumnsStrict(
  layout: SegmentLayout,
  index: number,
  chunk: Uint8Array,
  what: string,
): RecordColumns {
  let columns = decodeRowGroupColumnsNative(layout, index, chunk, what, NATIVE_CODECS, true)
  if (!columns) {
    // A layout Everlog's writer never made (older segments with dictionary or delta pages): parquet-wasm reads it.
    checkPageCrcs(layout, index, chunk, what)
    columns = recordsToColumns(decodeRowGroupWasm(layout, index, chunk, what, []))
  }
  checkRowGroup(layout, index, columns, what)
  return columns
}

/** Row group `index` as decoded agrees with the footer's count and offset bounds. */
export function checkRowGroup(layout: SegmentLayout, index: number, columns: RecordColumns, what: string): void {
  const rg = layout.rowGroups[index]!
  checkCount(columns.length, rg.records, what)
  // Statistics are what the index and readers seek by: the data must agree with them.
  const n = columns.length
  if (n > 0 && (columns.offsets[0] !== rg.firstOffset || columns.offsets[n - 1] !== rg.lastOffset)) {
    throw new FormatError(`${what}: row group ${index} holds other offsets than its statistics declare`)
  }
}

/**
 * The parquet-wasm path alone, which reads any Parquet layout: the fallback of decodeRowGroup, exported so tests
 * and benchmarks can hold the native decoder against it. Checks nothing beyond what parquet-wasm checks.
 */
export function decodeRowGroupWasm(
  layout: SegmentLayout,
  index: number,
  chunk: Uint8Array,
  what: string,
  out: ArchiveRecord[],
): ArchiveRecord[] {
  const file = singleRowGroupFile(layout, index, chunk, what)
  const table = wasmCall(what, () => parquetWasm().readParquet(file))
  wasmTableToRecords(table, what, out, layout.timestampUnit)
  return out
}

function wasmCall<T>(what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw asFormatError(err, what)
  }
}

function checkCount(actual: number, expected: number, what: string): void {
  if (actual !== expected) {
    throw new FormatError(`${what} decoded to ${actual} records but its footer declares ${expected}`)
  }
}

function asFormatError(err: unknown, what: string): EverlogError {
  if (err instanceof EverlogError) return err
  const detail = err instanceof Error ? err.message : String(err)
  return new FormatError(`${what} is not a readable Parquet segment: ${detail}`, { cause: err })
}

function wasmTableToRecords(table: WasmTable, what: string, out: ArchiveRecord[], unit: TimestampUnit): void {
  // intoIPCStream consumes the WASM table and copies its bytes into a JS-owned buffer: the Buffers we return
  // are views over that copy, so no later WASM call can move or reuse them.
  const ipc = wasmCall(what, () => table.intoIPCStream())
  const decoded = wasmCall(what, () => apacheArrow().tableFromIPC(ipc))
  for (const batch of decoded.batches) appendBatch(batch, out, what, unit)
}

function appendBatch(batch: Arrow.RecordBatch, out: ArchiveRecord[], what: string, unit: TimestampUnit): void {
  const types = expectedTypes(unit)
  const col = (name: string): Arrow.Data => {
    const i = batch.schema.fields.findIndex((f) => f.name === name)
    const data = i < 0 ? undefined : batch.data.children[i]
    // Comparing rendered types checks the whole nested headers type, timestamp unit and zone in one go.
    if (data === undefined || String(data.type) !== types.get(name) || data.offset !== 0) {
      throw new FormatError(`${what} is not an Everlog segment: column "${name}" is missing or has another type`)
    }
    return data
  }
  const n = batch.numRows
  const offsets = col('offset').values as BigInt64Array
  const timestamps = col('timestamp').values as BigInt64Array
  // The IPC copy is ours: converted to Kafka's milliseconds in place.
  timestampsToMillis(unit, timestamps.subarray(0, n))
  const keys = new BinaryReader(col('key'))
  const values = new BinaryReader(col('value'))
  const headers = col('headers')
  const entries = headers.children[0]!
  const hk = new BinaryReader(entries.children[0]!)
  const hv = new BinaryReader(entries.children[1]!)
  const listOffsets = headers.valueOffsets as Int32Array
  for (let i = 0; i < n; i++) {
    const from = listOffsets[i]!
    const to = listOffsets[i + 1]!
    const hs: RecordHeader[] = new Array<RecordHeader>(to - from)
    for (let h = from; h < to; h++) hs[h - from] = [hk.string(h), hv.buffer(h)]
    out.push({
      offset: offsets[i]!,
      timestamp: timestamps[i]!,
      key: keys.buffer(i),
      value: values.buffer(i),
      headers: hs,
    })
  }
}

/** Reads entries of a Binary/Utf8 column as Buffer views over its one value buffer. */
class BinaryReader {
  private readonly offsets: Int32Array
  private readonly values: Buffer
  private readonly bitmap: Uint8Array | null

  constructor(data: Arrow.Data) {
    const v = data.values as Uint8Array
    this.offsets = data.valueOffsets as Int32Array
    this.values = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
    this.bitmap = data.nullCount > 0 ? data.nullBitmap : null
  }

  buffer(i: number): Buffer | null {
    if (this.bitmap !== null && ((this.bitmap[i >> 3]! >> (i & 7)) & 1) === 0) return null
    return this.values.subarray(this.offsets[i]!, this.offsets[i + 1]!)
  }

  string(i: number): string {
    return this.values.toString('utf8', this.offsets[i]!, this.offsets[i + 1]!)
  }
}

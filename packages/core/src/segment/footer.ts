// Reads a segment's Parquet footer into a SegmentLayout: row-group byte ranges (for ranged GETs), their offset
// and time bounds (from column statistics) and the file's key/value metadata. Also rewrites the footer into that
// of a one-row-group file, so a single row group fetched on its own decodes as a complete Parquet file.
import { FormatError, UnsupportedFormatVersionError } from '../errors.js'
import { READABLE_SEGMENT_FORMAT_VERSIONS } from '../layout.js'
import { MetadataKeys } from './schema.js'
import { decodeThriftStruct, encodeThriftStruct, getField, isStruct, listItems, TType } from './thrift.js'
import type { TField, TStruct, TValue } from './thrift.js'
import type { RowGroupInfo, SegmentCompression, SegmentLayout, TimestampUnit } from './types.js'
import { Codec, ConvertedType, TimeUnitField } from './parquet.js'

export const MAGIC = 0x31524150 // 'PAR1' read as a little-endian u32
/** Footer length field + trailing magic. */
export const TAIL_BYTES = 8
/** A segment footer is a few KiB; anything near this is not ours, and the cap bounds what a reader allocates. */
export const MAX_FOOTER_BYTES = 16 * 1024 * 1024

/** The footer's Thrift length as written in the object's last 8 bytes; validates the magic and the bound. */
export function footerLength(tail: Uint8Array, size: number, what: string): number {
  if (size < 12 || tail.length < TAIL_BYTES) throw new FormatError(`${what} is not a Parquet file: only ${size} bytes`)
  const view = new DataView(tail.buffer, tail.byteOffset + tail.length - TAIL_BYTES, TAIL_BYTES)
  if (view.getUint32(4, true) !== MAGIC) throw new FormatError(`${what} is not a Parquet file: no PAR1 trailer`)
  const len = view.getUint32(0, true)
  if (len === 0 || len > size - 12 || len > MAX_FOOTER_BYTES) {
    throw new FormatError(`${what} has a corrupt Parquet footer length ${len} for an object of ${size} bytes`)
  }
  return len
}

const textDecoder = new TextDecoder('utf-8', { fatal: false })

/**
 * @param footer ends with the object's Thrift footer, its length and the magic (more bytes before are ignored)
 * @param size the whole object's size
 * @returns the layout, with `footer` set to the Thrift footer + length + magic only
 */
export function parseFooter(footer: Uint8Array, size: number, what: string): SegmentLayout {
  const len = footerLength(footer, size, what)
  if (footer.length < len + TAIL_BYTES) throw new FormatError(`${what}: footer slice is too short`)
  footer = footer.subarray(footer.length - len - TAIL_BYTES)
  const meta = decodeThriftStruct(footer.subarray(0, len))
  const bad: (msg: string) => never = (msg) => {
    throw new FormatError(`${what} is not a valid Everlog segment: ${msg}`)
  }

  const metadata: Record<string, string> = {}
  for (const kv of listItems(getField(meta, 5))) {
    const k = getField(kv, 1)
    const v = getField(kv, 2)
    const name = k instanceof Uint8Array ? textDecoder.decode(k) : '__proto__'
    // '__proto__' would replace the object's prototype rather than add a key; no writer of ours uses it.
    if (name !== '__proto__' && v instanceof Uint8Array) metadata[name] = textDecoder.decode(v)
  }
  const format = metadata[MetadataKeys.format]
  if (format === undefined) bad(`no ${MetadataKeys.format} metadata`)
  if (!READABLE_SEGMENT_FORMAT_VERSIONS.includes(Number(format))) {
    throw new UnsupportedFormatVersionError(
      `${what} has segment format version ${format}; this Everlog reads versions ${READABLE_SEGMENT_FORMAT_VERSIONS.join(', ')}: upgrade Everlog`,
    )
  }
  // Format 1 stores milliseconds, format 2 microseconds: the footer must say the same, since every reader of the
  // file (ours, DuckDB, Iceberg's) goes by the footer.
  const timestampUnit = timestampUnitOf(meta)
  if (timestampUnit === undefined || timestampUnit !== (Number(format) === 1 ? 'ms' : 'us')) {
    bad(`segment format ${format} with a ${timestampUnit ?? 'missing or unknown'} timestamp unit`)
  }
  const scale = timestampUnit === 'us' ? 1000n : 1n

  const dataEnd = size - len - TAIL_BYTES
  const rowGroups: RowGroupInfo[] = []
  for (const [index, rg] of listItems(getField(meta, 4)).entries()) {
    const records = int(getField(rg, 3))
    if (records === undefined || records < 1n) bad(`row group ${index} has no rows`)
    let byteStart = Infinity
    let byteEnd = -Infinity
    let uncompressedBytes = 0
    let offsets: [bigint, bigint] | undefined
    let timestamps: [bigint, bigint] | undefined
    for (const cc of listItems(getField(rg, 1))) {
      const cmd = getField(cc, 3)
      const compressed = int(getField(cmd, 7))
      const dataPage = int(getField(cmd, 9))
      const dictPage = int(getField(cmd, 11))
      if (compressed === undefined || dataPage === undefined) bad(`row group ${index} lacks column chunk offsets`)
      const start = Number(dictPage !== undefined && dictPage > 0n && dictPage < dataPage ? dictPage : dataPage)
      const end = start + Number(compressed)
      uncompressedBytes += Number(int(getField(cmd, 6)) ?? compressed)
      if (!(start >= 4 && end > start && end <= dataEnd)) bad(`row group ${index} points outside the file`)
      byteStart = Math.min(byteStart, start)
      byteEnd = Math.max(byteEnd, end)
      const path = listItems(getField(cmd, 3))
      if (path.length !== 1 || !(path[0] instanceof Uint8Array)) continue
      const name = textDecoder.decode(path[0])
      if (name === 'offset') offsets = minMax(getField(cmd, 12))
      else if (name === 'timestamp') timestamps = minMax(getField(cmd, 12))
    }
    if (offsets === undefined || timestamps === undefined) bad(`row group ${index} lacks offset/timestamp statistics`)
    // Readers seek by these bounds, so they must be sane: ordered, disjoint, and room for every record.
    const prev = rowGroups.at(-1)
    if (offsets[0] < 0n || offsets[1] - offsets[0] + 1n < records || (prev && offsets[0] <= prev.lastOffset)) {
      bad(`row group ${index} has offsets ${offsets[0]}-${offsets[1]} out of order for ${records} records`)
    }
    rowGroups.push({
      index,
      firstOffset: offsets[0],
      lastOffset: offsets[1],
      records: Number(records),
      minTimestamp: floorDiv(timestamps[0], scale),
      maxTimestamp: floorDiv(timestamps[1], scale),
      byteStart,
      byteEnd,
      uncompressedBytes,
    })
  }
  if (rowGroups.length === 0) bad('no row groups')
  parsedFooters.set(footer, meta)
  return { size, metadata, timestampUnit, rowGroups, footer }
}

/** The unit of the top-level `timestamp` column: its LogicalType TIMESTAMP unit, else its ConvertedType. */
function timestampUnitOf(meta: TStruct): TimestampUnit | undefined {
  const column = listItems(getField(meta, 2)).find((e) => {
    const name = getField(e, 4)
    return name instanceof Uint8Array && textDecoder.decode(name) === 'timestamp'
  })
  const unit = getField(getField(getField(column, 10), 8), 2)
  if (isStruct(unit)) {
    const id = unit.fields[0]?.id
    return id === TimeUnitField.MICROS ? 'us' : id === TimeUnitField.MILLIS ? 'ms' : undefined
  }
  const converted = getField(column, 6)
  if (converted === BigInt(ConvertedType.TIMESTAMP_MICROS)) return 'us'
  if (converted === BigInt(ConvertedType.TIMESTAMP_MILLIS)) return 'ms'
  return undefined
}

/** a / b rounded towards -infinity (BigInt division truncates). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return q * b > a ? q - 1n : q
}

// Decoding a whole segment rewrites the footer once per row group: parse it once, not once per row group
// (that would be quadratic in the row-group count). Keyed by the footer bytes, which a layout never changes.
const parsedFooters = new WeakMap<Uint8Array, TStruct>()

/** The Thrift tree of a layout's footer, parsed once per layout. */
export function footerStruct(layout: SegmentLayout, what: string): TStruct {
  let meta = parsedFooters.get(layout.footer)
  if (meta === undefined) {
    const len = footerLength(layout.footer, layout.size, what)
    meta = decodeThriftStruct(layout.footer.subarray(layout.footer.length - len - TAIL_BYTES, -TAIL_BYTES))
    parsedFooters.set(layout.footer, meta)
  }
  return meta
}

/**
 * The codec of the segment's pages, read from its first column chunk (Everlog compresses a whole segment with one
 * codec); undefined for a codec Everlog does not write.
 */
export function segmentCompressionOf(layout: SegmentLayout, what: string): SegmentCompression | undefined {
  const rowGroup = listItems(getField(footerStruct(layout, what), 4))[0]
  const codec = getField(getField(listItems(getField(rowGroup, 1))[0], 3), 4)
  const names: Record<number, SegmentCompression> = {
    [Codec.ZSTD]: 'zstd',
    [Codec.SNAPPY]: 'snappy',
    [Codec.GZIP]: 'gzip',
    [Codec.LZ4_RAW]: 'lz4',
    [Codec.UNCOMPRESSED]: 'none',
  }
  return typeof codec === 'bigint' ? names[Number(codec)] : undefined
}

/**
 * A complete Parquet file holding only row group `index`: magic, that row group's column chunks, and the footer
 * rewritten to list just it at its new position. Page indexes and bloom filters are dropped (they live outside
 * the row group's range); statistics and key/value metadata stay.
 */
export function singleRowGroupFile(layout: SegmentLayout, index: number, chunk: Uint8Array, what: string): Uint8Array {
  const rg = layout.rowGroups[index]!
  const meta = footerStruct(layout, what)
  const rgStruct = listItems(getField(meta, 4))[index]
  if (!isStruct(rgStruct)) throw new FormatError(`${what}: row group ${index} is missing from the footer`)
  const shift = BigInt(rg.byteStart - 4)
  const move = (f: TField): TField =>
    typeof f.value === 'bigint' && f.value >= BigInt(rg.byteStart) ? { ...f, value: f.value - shift } : f

  const columns = listItems(getField(rgStruct, 1)).map((cc): TValue => {
    if (!isStruct(cc)) return cc
    const fields: TField[] = []
    for (const f of cc.fields) {
      // 4-7: offset/column index locations, outside the row group.
      if (f.id >= 4 && f.id <= 7) continue
      if (f.id === 2) fields.push(move(f))
      else if (f.id === 3 && isStruct(f.value)) fields.push({ ...f, value: moveColumnMeta(f.value, move) })
      else fields.push(f)
    }
    return { kind: 'struct', fields }
  })
  const newRg: TStruct = {
    kind: 'struct',
    fields: rgStruct.fields
      .filter((f) => f.id !== 7) // ordinal: only meaningful in the original file
      .map((f) =>
        f.id === 1
          ? { ...f, value: { kind: 'list', elemType: TType.STRUCT, items: columns } }
          : f.id === 5
            ? move(f)
            : f,
      ),
  }
  const newMeta: TStruct = {
    kind: 'struct',
    fields: meta.fields.map((f) =>
      f.id === 3
        ? { ...f, value: BigInt(rg.records) }
        : f.id === 4
          ? { ...f, value: { kind: 'list', elemType: TType.STRUCT, items: [newRg] } }
          : f,
    ),
  }
  const footer = encodeThriftStruct(newMeta)
  const out = new Uint8Array(4 + chunk.length + footer.length + TAIL_BYTES)
  const view = new DataView(out.buffer)
  view.setUint32(0, MAGIC, true)
  out.set(chunk, 4)
  out.set(footer, 4 + chunk.length)
  view.setUint32(out.length - 8, footer.length, true)
  view.setUint32(out.length - 4, MAGIC, true)
  return out
}

function moveColumnMeta(cmd: TStruct, move: (f: TField) => TField): TStruct {
  const fields: TField[] = []
  for (const f of cmd.fields) {
    // 14/15: bloom filter location, outside the row group.
    if (f.id === 14 || f.id === 15) continue
    fields.push(f.id === 9 || f.id === 10 || f.id === 11 ? move(f) : f)
  }
  return { kind: 'struct', fields }
}

function int(v: TValue | undefined): bigint | undefined {
  return typeof v === 'bigint' ? v : undefined
}

// Statistics: fields 6/5 are min_value/max_value; 2/1 the legacy min/max (same bytes for signed INT64).
function minMax(stats: TValue | undefined): [bigint, bigint] | undefined {
  const min = getField(stats, 6) ?? getField(stats, 2)
  const max = getField(stats, 5) ?? getField(stats, 1)
  if (!(min instanceof Uint8Array) || !(max instanceof Uint8Array) || min.length !== 8 || max.length !== 8) {
    return undefined
  }
  const le = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true)
  return [le(min), le(max)]
}

/**
 * parquet-wasm passes key/value metadata through a Rust HashMap whose iteration order changes from call to call;
 * sorting the entries by key makes the footer, and so the whole file, a pure function of the records and options.
 */
export function sortFooterMetadata(file: Uint8Array): Uint8Array {
  const len = footerLength(file, file.length, 'written segment')
  const start = file.length - len - TAIL_BYTES
  const meta = decodeThriftStruct(file.subarray(start, start + len))
  const kv = getField(meta, 5)
  if (typeof kv !== 'object' || kv instanceof Uint8Array || kv.kind !== 'list') return file
  const keyOf = (e: TValue) => {
    const k = getField(e, 1)
    return k instanceof Uint8Array ? Buffer.from(k.buffer, k.byteOffset, k.length) : Buffer.alloc(0)
  }
  kv.items.sort((a, b) => Buffer.compare(keyOf(a), keyOf(b)))
  const footer = encodeThriftStruct(meta)
  const out = footer.length === len ? file : new Uint8Array(start + footer.length + TAIL_BYTES)
  if (out !== file) out.set(file.subarray(0, start))
  out.set(footer, start)
  const view = new DataView(out.buffer, out.byteOffset, out.length)
  view.setUint32(out.length - 8, footer.length, true)
  view.setUint32(out.length - 4, MAGIC, true)
  return out
}

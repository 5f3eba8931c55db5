// Writes the Parquet file around the segment's columns: one PLAIN data page (v1) per column per row group, with
// RLE levels, compressed with the segment's codec, then the Thrift footer. Everything is a pure function of the
// input, so the same records always give the same bytes.
import { crc32, gzipSync } from 'node:zlib'
import { InvalidArgumentError } from '../errors.js'
import { lz4CompressBlock } from '../codecs/lz4.js'
import { snappyCompress } from '../codecs/snappy.js'
import { zstdCompressSync } from '../codecs/zstd.js'
import { MAGIC } from './footer.js'
import {
  bin,
  bool,
  Codec,
  Encoding,
  i32,
  i64,
  LEAVES,
  list,
  PageType,
  s,
  segmentSchemaElements,
  struct,
} from './parquet.js'
import { encodeThriftStruct, TType } from './thrift.js'
import type { TStruct, TValue } from './thrift.js'
import type { EncodedColumnChunk, EncodedRowGroup, SegmentCompression, TimestampUnit } from './types.js'

/** zstd's own default: on segment data it compresses about as fast as level 1 and a third smaller. */
const ZSTD_LEVEL = 3
const CREATED_BY = 'everlog'

const codecs: Record<SegmentCompression, { id: number; compress: (b: Buffer) => Buffer }> = {
  zstd: { id: Codec.ZSTD, compress: (b) => zstdCompressSync(b, ZSTD_LEVEL) },
  snappy: { id: Codec.SNAPPY, compress: (b) => snappyCompress(b) },
  // Level 6 is zlib's default; the gzip header written by zlib carries no time, so bytes stay deterministic.
  gzip: { id: Codec.GZIP, compress: (b) => gzipSync(b) },
  // LZ4 (the Hadoop-framed one) is deprecated by the Parquet spec, so LZ4_RAW, which Trino (and so Athena) does not
  // read: ENGINES_NOT_READING in schema.ts.
  lz4: { id: Codec.LZ4_RAW, compress: (b) => lz4CompressBlock(b) },
  none: { id: Codec.UNCOMPRESSED, compress: (b) => b },
}

/** One column's page of one row group, before compression. */
export interface ColumnPage {
  /** PLAIN values. */
  values: Buffer
  /** Level entries (= rows for a flat column). */
  count: number
  /** RLE-hybrid encoded levels, each already prefixed with its u32 length; absent for a required flat column. */
  repLevels?: Buffer
  defLevels?: Buffer
  /** Min/max as PLAIN bytes, for the columns engines prune by. */
  stats?: { min: Uint8Array; max: Uint8Array }
}

/**
 * A BYTE_ARRAY leaf filled record by record: PLAIN values (u32 length + bytes) for present values, repetition and
 * definition levels for every entry.
 */
export class ByteArrayColumn {
  private readonly values: Buffer
  private readonly rep: Uint8Array
  private readonly def: Uint8Array
  private pos = 0
  private n = 0

  /**
   * @param repeated whether the leaf sits under a repeated field (only then are repetition levels written)
   * @param slot the scratch buffer this column's values are laid out in (one per leaf of the row group)
   */
  constructor(
    entries: number,
    valueBytes: number,
    private readonly repeated = false,
    slot = 0,
  ) {
    if (valueBytes > 0x7fffffff) {
      throw new InvalidArgumentError(
        `a row group's column would exceed 2 GiB (${valueBytes} bytes): lower rowGroupBytes`,
      )
    }
    this.values = scratch(slot, valueBytes + 4 * entries)
    this.rep = new Uint8Array(entries)
    this.def = new Uint8Array(entries)
  }

  /** A value (or null) at these levels; `present` is the definition level of a non-null value. */
  push(bytes: Uint8Array | null, rep: number, present: number): void {
    if (bytes === null) return this.pushNull(rep, present - 1)
    this.rep[this.n] = rep
    this.def[this.n++] = present
    this.values.writeUInt32LE(bytes.length, this.pos)
    this.values.set(bytes, this.pos + 4)
    this.pos += 4 + bytes.length
  }

  /** A present value copied from `src[start, start + length)`, without a view object per value. */
  pushFrom(src: Buffer, start: number, length: number, rep: number, present: number): void {
    this.rep[this.n] = rep
    this.def[this.n++] = present
    const values = this.values
    let at = this.pos
    values[at++] = length
    values[at++] = length >>> 8
    values[at++] = length >>> 16
    values[at++] = length >>> 24
    // Header keys and values are a few bytes: a loop beats Buffer#copy's call overhead there. Longer values go through
    // one view, without Buffer#copy's argument checks (~100 ns instead of ~180 per KiB copied).
    if (length < 64) for (let i = 0; i < length; i++) values[at + i] = src[start + i]!
    else values.set(new Uint8Array(src.buffer, src.byteOffset + start, length), at)
    this.pos = at + length
  }

  pushString(str: string, rep: number, present: number): void {
    this.rep[this.n] = rep
    this.def[this.n++] = present
    const len = this.values.write(str, this.pos + 4, 'utf8')
    this.values.writeUInt32LE(len, this.pos)
    this.pos += 4 + len
  }

  pushNull(rep: number, def: number): void {
    this.rep[this.n] = rep
    this.def[this.n++] = def
  }

  page(): ColumnPage {
    return {
      values: this.values.subarray(0, this.pos),
      count: this.n,
      repLevels: this.repeated ? rleLevels(this.rep, this.n) : undefined,
      defLevels: rleLevels(this.def, this.n),
    }
  }
}

/** A row group being laid out: offsets and timestamps as PLAIN INT64, then the four byte-array leaves. */
export interface RowGroupColumns {
  offsets: Buffer
  timestamps: Buffer
  key: ByteArrayColumn
  value: ByteArrayColumn
  headerKey: ByteArrayColumn
  headerValue: ByteArrayColumn
}

/** A row group's columns sized exactly for `rows` records, each byte-array leaf in a scratch slot of its own. */
export function rowGroupColumns(
  rows: number,
  sizes: { keyBytes: number; valueBytes: number; headerBytes: number; headerEntries: number },
): RowGroupColumns {
  return {
    offsets: Buffer.allocUnsafe(rows * 8),
    timestamps: Buffer.allocUnsafe(rows * 8),
    key: new ByteArrayColumn(rows, sizes.keyBytes, false, 0),
    value: new ByteArrayColumn(rows, sizes.valueBytes, false, 1),
    // Header keys and values share one byte budget: together they are at most the header bytes.
    headerKey: new ByteArrayColumn(sizes.headerEntries, sizes.headerBytes, true, 2),
    headerValue: new ByteArrayColumn(sizes.headerEntries, sizes.headerBytes, true, 3),
  }
}

// Pages are laid out in per-thread scratch buffers that are reused from row group to row group: encoding is
// synchronous and nothing keeps a view of them once the group's bytes are copied out. Allocating a few MiB per column
// per group instead made the encode worker's memory grow with fragmentation, not with data.
const scratchBuffers: Buffer[] = []
const BODY_SLOT = 8

/** Scratch buffer `slot`, at least `size` bytes (contents undefined). */
export function scratch(slot: number, size: number): Buffer {
  let b = scratchBuffers[slot]
  if (b === undefined || b.length < size) {
    // Grown with headroom so row groups of slightly varying size do not reallocate every time.
    b = Buffer.allocUnsafeSlow(Math.max(size + (size >> 3), 64 * 1024))
    scratchBuffers[slot] = b
  }
  return b
}

/**
 * Levels as Parquet's RLE/bit-packed hybrid, using RLE runs only (levels here are 0-2, and long runs are the
 * common case: every key present, two headers per record), prefixed with the u32 byte length a v1 page wants.
 */
export function rleLevels(levels: Uint8Array, n: number): Buffer {
  // Worst case: a run per entry, each a varint header (at most 5 bytes) and one value byte.
  const out = Buffer.allocUnsafe(4 + n * 6)
  let pos = 4
  let i = 0
  while (i < n) {
    const v = levels[i]!
    let j = i + 1
    while (j < n && levels[j] === v) j++
    let header = (j - i) * 2
    while (header >= 0x80) {
      out[pos++] = (header & 0x7f) | 0x80
      header = Math.floor(header / 128)
    }
    out[pos++] = header
    out[pos++] = v
    i = j
  }
  out.writeUInt32LE(pos - 4, 0)
  return out.subarray(0, pos)
}

/** Compresses one page per leaf (in LEAVES order) and lays the column chunks of one row group back to back. */
export function encodeColumnChunks(
  pages: readonly ColumnPage[],
  compression: SegmentCompression,
): { bytes: Buffer; columns: EncodedColumnChunk[] } {
  const codec = codecs[compression]
  const parts: Buffer[] = []
  const columns: EncodedColumnChunk[] = []
  let size = 0
  for (const page of pages) {
    const length = (page.repLevels?.length ?? 0) + (page.defLevels?.length ?? 0) + page.values.length
    const body = scratch(BODY_SLOT, length).subarray(0, length)
    let at = 0
    for (const part of [page.repLevels, page.defLevels, page.values]) {
      if (part === undefined) continue
      body.set(part, at)
      at += part.length
    }
    let compressed = codec.compress(body)
    // 'none' hands the scratch body back, which the next page overwrites: keep a copy.
    if (compressed.buffer === body.buffer) compressed = Buffer.from(compressed)
    const header = encodeThriftStruct(
      s([
        i32(1, PageType.DATA_PAGE),
        i32(2, body.length),
        i32(3, compressed.length),
        // Parquet's page CRC (CRC-32 of the page bytes as stored): readers check it, so a row group read on its
        // own, which the segment's sha256 cannot vouch for, still detects corruption, whatever the codec.
        i32(4, crc32(compressed) | 0),
        struct(5, [i32(1, page.count), i32(2, Encoding.PLAIN), i32(3, Encoding.RLE), i32(4, Encoding.RLE)]),
      ]),
    )
    columns.push({
      count: page.count,
      start: size,
      uncompressed: header.length + body.length,
      compressed: header.length + compressed.length,
      stats: page.stats,
    })
    parts.push(Buffer.from(header.buffer, header.byteOffset, header.length), compressed)
    size += header.length + compressed.length
  }
  const bytes = ownedBuffer(size)
  let pos = 0
  for (const part of parts) {
    bytes.set(part, pos)
    pos += part.length
  }
  return { bytes, columns }
}

/** The whole file: magic, the row groups' chunks, footer (key/value metadata sorted by key), its length, magic. */
export function writeParquetFile(
  groups: readonly EncodedRowGroup[],
  compression: SegmentCompression,
  metadata: ReadonlyMap<string, string>,
  timestampUnit: TimestampUnit,
): Buffer {
  const codec = codecs[compression].id
  const kv = [...metadata].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  let position = 4
  let rows = 0
  const rowGroups: TValue[] = groups.map((g, ordinal) => {
    if (g.columns.length !== LEAVES.length) {
      throw new InvalidArgumentError(`row group has ${g.columns.length} column chunks; a segment has ${LEAVES.length}`)
    }
    const rg = rowGroupStruct(g, position, ordinal, codec)
    position += g.bytes.length
    rows += g.rows
    return rg
  })
  const footer = encodeThriftStruct(
    s([
      i32(1, 1),
      list(2, TType.STRUCT, segmentSchemaElements(timestampUnit)),
      i64(3, rows),
      list(4, TType.STRUCT, rowGroups),
      list(
        5,
        TType.STRUCT,
        kv.map(([k, v]) => s([bin(1, k), bin(2, v)])),
      ),
      bin(6, CREATED_BY),
      // TypeDefinedOrder for every leaf: min/max statistics compare signed INT64 and unsigned bytes.
      list(
        7,
        TType.STRUCT,
        LEAVES.map(() => s([struct(1, [])])),
      ),
    ]),
  )
  const out = ownedBuffer(position + footer.length + 8)
  out.write('PAR1', 0, 'latin1')
  let pos = 4
  for (const g of groups) {
    out.set(g.bytes, pos)
    pos += g.bytes.length
  }
  out.set(footer, pos)
  out.writeUInt32LE(footer.length, pos + footer.length)
  out.writeUInt32LE(MAGIC, pos + footer.length + 4)
  return out
}

/**
 * A Buffer over an ArrayBuffer of its own: encoded bytes are often transferred between threads, and a small
 * Buffer.allocUnsafe/concat result views Node's shared pool, whose transfer would detach every other pooled Buffer.
 */
function ownedBuffer(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size))
}

function rowGroupStruct(g: EncodedRowGroup, position: number, ordinal: number, codec: number): TStruct {
  let uncompressed = 0
  let compressed = 0
  const columns: TValue[] = g.columns.map((c, i) => {
    const leaf = LEAVES[i]!
    const start = position + c.start
    uncompressed += c.uncompressed
    compressed += c.compressed
    const encodings = leaf.maxDef > 0 ? [Encoding.PLAIN, Encoding.RLE] : [Encoding.PLAIN]
    const meta = [
      i32(1, leaf.type),
      list(
        2,
        TType.I32,
        encodings.map((e) => BigInt(e)),
      ),
      list(
        3,
        TType.BINARY,
        leaf.path.map((p) => Buffer.from(p)),
      ),
      i32(4, codec),
      i64(5, c.count),
      i64(6, c.uncompressed),
      i64(7, c.compressed),
      i64(9, start),
    ]
    // Statistics: legacy max/min (1/2, identical for signed INT64), null count, max_value/min_value (5/6).
    if (c.stats) {
      const { min, max } = c.stats
      meta.push(struct(12, [bin(1, max), bin(2, min), i64(3, 0), bin(5, max), bin(6, min)]))
    }
    return s([i64(2, start), struct(3, meta)])
  })
  return s([
    list(1, TType.STRUCT, columns),
    i64(2, uncompressed),
    i64(3, g.rows),
    // Sorted by offset (column 0), ascending: engines may skip sorting work.
    list(4, TType.STRUCT, [s([i32(1, 0), bool(2, false), bool(3, false)])]),
    i64(5, position),
    i64(6, compressed),
    { id: 7, type: TType.I16, value: BigInt(ordinal) },
  ])
}

// Decodes a row group of PLAIN-encoded pages straight into records, in JS: pages are decompressed once and keys,
// values and header values come back as views over those buffers. Files this does not cover (dictionary pages,
// delta encodings, another schema) are reported as unsupported, for the parquet-wasm path to read instead.
import { isUtf8 } from 'node:buffer'
import { crc32, gunzipSync } from 'node:zlib'
import { lz4DecompressBlock } from '../codecs/lz4.js'
import { snappyDecompressBlock } from '../codecs/snappy.js'
import { zstdDecompressSized } from '../codecs/zstd.js'
import { EverlogError, FormatError } from '../errors.js'
import type { ArchiveRecord } from '../record.js'
import { ByteColumn, columnsToRecords, timestampsToMillis } from './columns.js'
import { footerStruct } from './footer.js'
import { Codec, Encoding, LEAVES, PageType, Repetition } from './parquet.js'
import type { LeafColumn } from './parquet.js'
import { getField, isStruct, listItems } from './thrift.js'
import type { TStruct } from './thrift.js'
import type { RecordColumns, SegmentLayout } from './types.js'

// Deflate cannot expand more than about 1032:1; a page declaring more is corrupt (checked before allocating).
const GZIP_MAX_EXPANSION = 1032
const MAX_THRIFT_DEPTH = 8
const CODECS: readonly number[] = Object.values(Codec)
const LEAF_PATHS = LEAVES.map((l) => l.path.join('.'))

const [OFFSET, TIMESTAMP, KEY, VALUE, HEADER_KEY, HEADER_VALUE] = [0, 1, 2, 3, 4, 5] as const

/** Where a column chunk sits in the row group's bytes and how its pages are compressed. */
export interface ChunkPlan {
  start: number
  end: number
  codec: number
}

// Schema checks and chunk positions come from the footer alone: worked out once per footer, not per row group.
const plans = new WeakMap<Uint8Array, (ChunkPlan[] | null)[] | null>()

/** Every codec this decoder reads (parquet.thrift CompressionCodec values). */
export const NATIVE_CODECS: ReadonlySet<number> = new Set(CODECS)

/**
 * Appends row group `index`'s records to `out` and returns true, or returns false (leaving `out` untouched) when
 * the file uses something this decoder does not read, or a codec outside `codecs`. Corrupt bytes throw
 * FormatError naming `what`.
 */
export function decodeRowGroupNative(
  layout: SegmentLayout,
  index: number,
  chunk: Uint8Array,
  what: string,
  out: ArchiveRecord[],
  codecs: ReadonlySet<number> = NATIVE_CODECS,
): boolean {
  const columns = decodeRowGroupColumnsNative(layout, index, chunk, what, codecs)
  if (!columns) return false
  for (const r of columnsToRecords(columns)) out.push(r)
  return true
}

/** decodeRowGroupNative's columns, or null where it would return false. */
export function decodeRowGroupColumnsNative(
  layout: SegmentLayout,
  index: number,
  chunk: Uint8Array,
  what: string,
  codecs: ReadonlySet<number> = NATIVE_CODECS,
  strict = false,
): RecordColumns | null {
  const chunks = planRowGroup(layout, index, what, codecs)
  if (!chunks) return null
  const pages = readRowGroupPages(chunks, chunk, index, what, strict)
  if (!pages) return null
  const columns = assembleRowGroupColumns(pages, layout.rowGroups[index]!.records, index, what)
  timestampsToMillis(layout.timestampUnit, columns.timestamps)
  return columns
}

/**
 * Checks the CRC of every page of row group `index` that carries one, without decompressing anything: for row
 * groups another decoder reads. Does nothing for files whose layout this decoder does not know.
 */
export function checkPageCrcs(layout: SegmentLayout, index: number, chunk: Uint8Array, what: string): void {
  const chunks = planRowGroup(layout, index, what)
  if (!chunks) return
  guarded(index, what, () => {
    for (const [c, plan] of chunks.entries()) {
      const bad = corrupt(index, what, LEAF_PATHS[c])
      if (!(plan.start >= 0 && plan.end > plan.start && plan.end <= chunk.length)) bad('a column chunk lies outside it')
      for (let pos = plan.start; pos < plan.end;) {
        const h = readPageHeader(chunk, pos, plan.end, bad)
        pageBody(h, chunk, plan.end, bad)
        pos = h.end + h.compressed
      }
    }
  })
}

/**
 * Step 1 (footer only, cached): where row group `index`'s column chunks are, or null when the file is not one this
 * decoder reads (another schema, other encodings, a codec outside `codecs`).
 */
export function planRowGroup(
  layout: SegmentLayout,
  index: number,
  what: string,
  codecs: ReadonlySet<number> = NATIVE_CODECS,
): ChunkPlan[] | null {
  const chunks = planOf(layout, what)?.[index]
  return chunks && chunks.every((c) => codecs.has(c.codec)) ? chunks : null
}

/**
 * Step 2 (pure, safe in a worker thread): every page of the row group's column chunks, decompressed; null when a
 * page is of a kind or encoding not read here. `strict`: LZ4 blocks must also follow the end-of-block rules that
 * liblz4 enforces (lz4DecompressBlock), as DuckDB, pyarrow and polars require.
 */
export function readRowGroupPages(
  chunks: readonly ChunkPlan[],
  chunk: Uint8Array,
  index: number,
  what: string,
  strict = false,
): Page[][] | null {
  return guarded(index, what, () => {
    const pages: Page[][] = []
    for (let c = 0; c < LEAVES.length; c++) {
      const bad = corrupt(index, what, LEAF_PATHS[c])
      const p = readPages(chunks[c]!, LEAVES[c]!, chunk, bad, strict)
      // Header keys are a STRING column: DuckDB, polars and pyarrow refuse bytes that are not UTF-8 there.
      if (strict && p !== null && c === HEADER_KEY) for (const page of p) checkUtf8(page, bad)
      if (p === null) return null
      pages.push(p)
    }
    return pages
  })
}

/**
 * Step 3: the row group's columns from its decompressed pages, timestamps still in the file's unit (the caller
 * converts them with timestampsToMillis), no object per record (keys, values and header values are page views,
 * made when first asked for).
 */
export function assembleRowGroupColumns(
  pages: readonly Page[][],
  records: number,
  index: number,
  what: string,
): RecordColumns {
  return columnsFromIndex(indexRowGroupPages(pages, records, index, what), pages)
}

/**
 * Step 3a (pure, safe in a worker thread): where every record's fields sit in the row group's pages, checked,
 * as typed arrays that cross threads without a copy; no Buffer or string per record is made here.
 */
export function indexRowGroupPages(
  pages: readonly Page[][],
  records: number,
  index: number,
  what: string,
): RowGroupIndex {
  return guarded(index, what, () => indexChunks(pages, records, corrupt(index, what)))
}

/** Step 3b: the columns of an index, over the pages it was made from (those of the key, value and header value leaves). */
export function columnsFromIndex(ix: RowGroupIndex, pages: readonly Page[][]): RecordColumns {
  const buffers = (c: number) => pages[c]!.map((p) => p.buf)
  const table = ix.headerKeyTable
  const headerKeys = new Array<string>(ix.headerKeyIds.length)
  for (let h = 0; h < headerKeys.length; h++) headerKeys[h] = table[ix.headerKeyIds[h]!]!
  return new IndexedColumns(
    ix.length,
    ix.offsets,
    ix.timestamps,
    new ByteColumn(buffers(KEY), ix.keys),
    new ByteColumn(buffers(VALUE), ix.values),
    ix.headerStart,
    headerKeys,
    new ByteColumn(buffers(HEADER_VALUE), ix.headerValues),
  )
}

/** The leaves whose pages columnsFromIndex reads: the others are fully copied into the index. */
export const INDEXED_LEAVES: readonly number[] = [KEY, VALUE, HEADER_VALUE]

function corrupt(index: number, what: string, column?: string): (msg: string) => never {
  const where = column === undefined ? `row group ${index}` : `row group ${index}, column ${column},`
  return (msg) => {
    throw new FormatError(`${what}: ${where} is corrupt: ${msg}`)
  }
}

function guarded<T>(index: number, what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof EverlogError) throw err
    // Anything else from a codec or a view is still the file's fault, never a crash of the reader.
    throw new FormatError(`${what}: row group ${index} is corrupt: ${(err as Error).message}`, { cause: err })
  }
}

function planOf(layout: SegmentLayout, what: string): (ChunkPlan[] | null)[] | null {
  let plan = plans.get(layout.footer)
  if (plan === undefined) {
    const meta = footerStruct(layout, what)
    plan = schemaMatches(meta) ? layout.rowGroups.map((rg) => chunkPlans(meta, rg.index, rg.byteStart)) : null
    plans.set(layout.footer, plan)
  }
  return plan
}

/** Whether the file's schema has exactly the segment's leaves, with the same types and levels. */
function schemaMatches(meta: TStruct): boolean {
  const elements = listItems(getField(meta, 2))
  const leaves: { path: string; type: number; maxRep: number; maxDef: number }[] = []
  let next = 1
  const walk = (prefix: string, rep: number, def: number, depth: number): boolean => {
    const el = elements[next++]
    if (!isStruct(el) || depth > MAX_THRIFT_DEPTH) return false
    const name = getField(el, 4)
    const repetition = Number(getField(el, 3) ?? -1n)
    const children = getField(el, 5)
    if (!(name instanceof Uint8Array) || repetition < 0 || repetition > Repetition.REPEATED) return false
    const path = prefix + Buffer.from(name).toString('latin1')
    const r = rep + (repetition === Repetition.REPEATED ? 1 : 0)
    const d = def + (repetition === Repetition.REQUIRED ? 0 : 1)
    if (typeof children === 'bigint' && children > 0n) {
      if (children > 8n) return false
      for (let i = 0; i < Number(children); i++) if (!walk(`${path}.`, r, d, depth + 1)) return false
      return true
    }
    leaves.push({ path, type: Number(getField(el, 1) ?? -1n), maxRep: r, maxDef: d })
    return leaves.length <= LEAVES.length
  }
  const root = elements[0]
  const top = getField(root, 5)
  if (typeof top !== 'bigint' || top !== 5n) return false
  for (let i = 0; i < 5; i++) if (!walk('', 0, 0, 0)) return false
  return (
    next === elements.length &&
    leaves.length === LEAVES.length &&
    leaves.every(
      (l, i) =>
        l.path === LEAF_PATHS[i] &&
        l.type === LEAVES[i]!.type &&
        l.maxRep === LEAVES[i]!.maxRep &&
        l.maxDef === LEAVES[i]!.maxDef,
    )
  )
}

/** The row group's column chunks in leaf order, or null when one is not ours to read. */
function chunkPlans(meta: TStruct, index: number, byteStart: number): ChunkPlan[] | null {
  const columns = listItems(getField(listItems(getField(meta, 4))[index], 1))
  if (columns.length !== LEAVES.length) return null
  const out: ChunkPlan[] = []
  for (const [c, cc] of columns.entries()) {
    const cmd = getField(cc, 3)
    const path = listItems(getField(cmd, 3))
    const name = path.map((p) => (p instanceof Uint8Array ? Buffer.from(p).toString('latin1') : '\0')).join('.')
    const codec = Number(getField(cmd, 4) ?? -1n)
    const encodings = listItems(getField(cmd, 2))
    const dataPage = getField(cmd, 9)
    const dictPage = getField(cmd, 11)
    const size = getField(cmd, 7)
    if (
      name !== LEAF_PATHS[c] ||
      getField(cmd, 1) !== BigInt(LEAVES[c]!.type) ||
      !CODECS.includes(codec) ||
      !encodings.every((e) => e === BigInt(Encoding.PLAIN) || e === BigInt(Encoding.RLE)) ||
      (typeof dictPage === 'bigint' && dictPage > 0n) ||
      getField(cc, 1) !== undefined // the chunk lives in another file
    ) {
      return null
    }
    if (typeof dataPage !== 'bigint' || typeof size !== 'bigint') return null
    // parseFooter already placed every chunk inside the row group's range; these stay numbers from here on.
    const start = Number(dataPage) - byteStart
    const end = start + Number(size)
    out.push({ start, end, codec })
  }
  return out
}

/** A data page, decompressed: levels and PLAIN values as byte ranges of `buf`. */
export interface Page {
  buf: Buffer
  /** Level entries (values and nulls). */
  count: number
  rep: Range | null
  def: Range | null
  values: Range
}
export interface Range {
  start: number
  end: number
}

/**
 * A row group as typed arrays: int64 columns copied out of their pages, and byte arrays as positions in their
 * column's pages (see ByteColumn); header keys as ids into a small table of distinct strings.
 */
export interface RowGroupIndex {
  length: number
  offsets: BigInt64Array
  timestamps: BigInt64Array
  keys: Int32Array
  values: Int32Array
  headerStart: Int32Array
  headerKeyIds: Int32Array
  headerKeyTable: string[]
  headerValues: Int32Array
}

function indexChunks(pages: readonly Page[][], records: number, bad: (msg: string) => never): RowGroupIndex {
  // The offset column is 8 real bytes per record: its count bounds every allocation below.
  const offsets = int64Column(pages[OFFSET]!, bad)
  const n = offsets.length
  if (n !== records) bad(`it decoded to ${n} records but its footer declares ${records}`)
  const timestamps = int64Column(pages[TIMESTAMP]!, bad)
  if (timestamps.length !== n) bad(`${timestamps.length} timestamps for ${n} records`)
  const keys = optionalBytes(pages[KEY]!, n, bad)
  const values = optionalBytes(pages[VALUE]!, n, bad)
  const headers = headerColumns(pages[HEADER_KEY]!, pages[HEADER_VALUE]!, n, bad)
  return { length: n, offsets, timestamps, keys, values, ...headers }
}

/** RecordColumns whose byte arrays are ByteColumns: the arrays of Buffers are made on first use. */
class IndexedColumns implements RecordColumns {
  private keyArray: (Buffer | null)[] | undefined
  private valueArray: (Buffer | null)[] | undefined
  private headerValueArray: (Buffer | null)[] | undefined
  readonly bytes: NonNullable<RecordColumns['bytes']>

  constructor(
    readonly length: number,
    readonly offsets: BigInt64Array,
    readonly timestamps: BigInt64Array,
    keys: ByteColumn,
    values: ByteColumn,
    readonly headerStart: Int32Array,
    readonly headerKeys: string[],
    headerValues: ByteColumn,
  ) {
    this.bytes = { keys, values, headerValues }
  }

  get keys(): (Buffer | null)[] {
    return (this.keyArray ??= this.bytes.keys.toArray())
  }

  get values(): (Buffer | null)[] {
    return (this.valueArray ??= this.bytes.values.toArray())
  }

  get headerValues(): (Buffer | null)[] {
    return (this.headerValueArray ??= this.bytes.headerValues.toArray())
  }
}

/** A page header's body (bytes after it), checked against the header's CRC when it carries one. */
function pageBody(h: PageHeader, chunk: Uint8Array, end: number, bad: (msg: string) => never): Uint8Array {
  const bodyEnd = h.end + h.compressed
  if (h.compressed < 0 || h.uncompressed < 0 || bodyEnd > end) bad('a page overruns its column chunk')
  const body = chunk.subarray(h.end, bodyEnd)
  if (h.crc !== null && (crc32(body) | 0) !== h.crc) bad('a page fails its CRC check (its bytes changed after writing)')
  return body
}

/** Every page of one column chunk, decompressed; null when a page is of a kind or encoding not read here. */
function readPages(
  plan: ChunkPlan,
  leaf: LeafColumn,
  chunk: Uint8Array,
  bad: (msg: string) => never,
  strict: boolean,
): Page[] | null {
  if (!(plan.start >= 0 && plan.end > plan.start && plan.end <= chunk.length)) bad('a column chunk lies outside it')
  const pages: Page[] = []
  let pos = plan.start
  while (pos < plan.end) {
    const h = readPageHeader(chunk, pos, plan.end, bad)
    const body = pageBody(h, chunk, plan.end, bad)
    pos = h.end + h.compressed
    if (h.type === PageType.DATA_PAGE) {
      if (
        h.encoding !== Encoding.PLAIN ||
        (leaf.maxRep > 0 && h.repEncoding !== Encoding.RLE) ||
        (leaf.maxDef > 0 && h.defEncoding !== Encoding.RLE)
      ) {
        return null
      }
      const buf = decompress(body, h.uncompressed, plan.codec, bad, strict)
      let p = 0
      const levels = (present: boolean): Range | null => {
        if (!present) return null
        if (p + 4 > buf.length) bad('a page ends inside its levels')
        const len = buf.readUInt32LE(p)
        if (p + 4 + len > buf.length) bad('levels overrun their page')
        const r = { start: p + 4, end: p + 4 + len }
        p = r.end
        return r
      }
      const rep = levels(leaf.maxRep > 0)
      const def = levels(leaf.maxDef > 0)
      pages.push({ buf, count: h.numValues, rep, def, values: { start: p, end: buf.length } })
    } else if (h.type === PageType.DATA_PAGE_V2) {
      if (h.encoding !== Encoding.PLAIN) return null
      const levelBytes = h.repLength + h.defLength
      if (h.repLength < 0 || h.defLength < 0 || levelBytes > h.compressed || levelBytes > h.uncompressed) {
        bad('page levels overrun their page')
      }
      if ((leaf.maxRep === 0 && h.repLength > 0) || (leaf.maxDef === 0 && h.defLength > 0)) {
        bad('a page has levels its column cannot have')
      }
      const valuesSize = h.uncompressed - levelBytes
      const valueBytes = body.subarray(levelBytes)
      const decoded = h.compressed_ ? decompress(valueBytes, valuesSize, plan.codec, bad, strict) : asBuffer(valueBytes)
      if (decoded.length !== valuesSize) bad('a page is not the size its header declares')
      // Levels stay in the (uncompressed) page bytes; values come from the decompressed part. One buffer keeps the
      // page shape uniform: levels are small, so copying them is cheaper than a second representation.
      const buf = levelBytes === 0 ? decoded : Buffer.concat([body.subarray(0, levelBytes), decoded])
      pages.push({
        buf,
        count: h.numValues,
        rep: leaf.maxRep > 0 ? { start: 0, end: h.repLength } : null,
        def: leaf.maxDef > 0 ? { start: h.repLength, end: levelBytes } : null,
        values: { start: levelBytes, end: buf.length },
      })
    } else {
      // Dictionary and index pages: not written by Everlog's writer.
      return null
    }
  }
  return pages
}

/** Every PLAIN value of a page is valid UTF-8. */
function checkUtf8(page: Page, bad: (msg: string) => never): void {
  const { buf, values } = page
  for (let pos = values.start; pos < values.end;) {
    if (pos + 4 > values.end) bad('a value length runs past its page')
    const len = buf.readUInt32LE(pos)
    if (pos + 4 + len > values.end) bad('a value runs past its page')
    if (!isUtf8(buf.subarray(pos + 4, pos + 4 + len))) {
      bad(`a value is not UTF-8 (0x${buf.toString('hex', pos + 4, pos + 4 + Math.min(len, 32))}) in a STRING column`)
    }
    pos += 4 + len
  }
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}

/** A page's body decompressed; a codec's complaint is reported as this row group's corruption (naming the object). */
function decompress(
  body: Uint8Array,
  size: number,
  codec: number,
  bad: (msg: string) => never,
  strict: boolean,
): Buffer {
  try {
    return decompressWith(body, size, codec, strict)
  } catch (err) {
    return bad(`a page does not decompress: ${(err as Error).message}`)
  }
}

function decompressWith(body: Uint8Array, size: number, codec: number, strict: boolean): Buffer {
  let out: Buffer
  switch (codec) {
    case Codec.UNCOMPRESSED:
      out = asBuffer(body)
      break
    case Codec.ZSTD:
      return zstdDecompressSized(body, size)
    case Codec.SNAPPY:
      out = snappyDecompressBlock(body)
      break
    case Codec.LZ4_RAW:
      return lz4DecompressBlock(body, size, strict)
    default: // GZIP, the only other codec a plan admits
      if (size > body.length * GZIP_MAX_EXPANSION + 1024) {
        throw new FormatError(`invalid gzip data: ${body.length} bytes cannot hold ${size} decompressed bytes`)
      }
      try {
        out = gunzipSync(body, { maxOutputLength: Math.max(size, 1) })
      } catch (err) {
        throw new FormatError(`invalid gzip data: ${(err as Error).message}`, { cause: err })
      }
  }
  if (out.length !== size) {
    throw new FormatError(`a page decompressed to ${out.length} bytes but its header declares ${size}`)
  }
  return out
}

interface PageHeader {
  type: number
  uncompressed: number
  compressed: number
  numValues: number
  encoding: number
  defEncoding: number
  repEncoding: number
  defLength: number
  repLength: number
  /** DATA_PAGE_V2's is_compressed (default true). */
  compressed_: boolean
  /** CRC-32 of the page's stored bytes, as a signed i32, when the writer gave one. */
  crc: number | null
  /** First byte after the header. */
  end: number
}

/**
 * Reads a Thrift compact PageHeader (parquet.thrift) at `pos`, taking only the fields decoding needs and skipping
 * the rest (statistics, CRC). Every read is checked against `end`.
 */
function readPageHeader(buf: Uint8Array, pos: number, end: number, bad: (msg: string) => never): PageHeader {
  const h: PageHeader = {
    type: -1,
    uncompressed: -1,
    compressed: -1,
    numValues: -1,
    encoding: -1,
    defEncoding: -1,
    repEncoding: -1,
    defLength: 0,
    repLength: 0,
    compressed_: true,
    crc: null,
    end: 0,
  }
  const byte = (): number => {
    if (pos >= end) bad('a page header is truncated')
    return buf[pos++]!
  }
  const varint = (): number => {
    let n = 0
    for (let shift = 0; ; shift += 7) {
      const b = byte()
      if (shift > 63) bad('a page header has an overlong integer')
      n += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return n
    }
  }
  // Zigzag over doubles: fields we use are i32, and anything beyond 2^53 fails the range checks that follow.
  const int = (): number => {
    const v = varint()
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2
  }
  const i32 = (): number => {
    const v = int()
    if (v < -0x80000000 || v > 0x7fffffff) bad('a page header integer is out of range')
    return v
  }
  const skip = (type: number, depth: number): void => {
    if (depth > MAX_THRIFT_DEPTH) bad('a page header nests too deep')
    switch (type) {
      case 1:
      case 2:
        return
      case 3:
        pos += 1
        break
      case 4:
      case 5:
      case 6:
        varint()
        return
      case 7:
        pos += 8
        break
      case 8: {
        const n = varint()
        pos += n
        break
      }
      case 9:
      case 10: {
        const head = byte()
        const n = head >> 4 === 15 ? varint() : head >> 4
        if (n > end - pos) bad('a page header list is longer than its bytes')
        // Inside lists a bool is a whole byte.
        for (let i = 0; i < n; i++) skip((head & 15) === 1 || (head & 15) === 2 ? 3 : head & 15, depth + 1)
        return
      }
      case 11: {
        const n = varint()
        if (n > end - pos) bad('a page header map is longer than its bytes')
        if (n === 0) return
        const kv = byte()
        for (let i = 0; i < n; i++) {
          skip(kv >> 4, depth + 1)
          skip(kv & 15, depth + 1)
        }
        return
      }
      case 12:
        struct(depth + 1, () => false)
        return
      default:
        bad(`a page header has unknown Thrift type ${type}`)
    }
    if (pos > end) bad('a page header is truncated')
  }
  /** Walks a struct's fields; `take` reads the ones it knows and returns true, the rest are skipped. */
  const struct = (depth: number, take: (id: number, type: number) => boolean): void => {
    let id = 0
    for (;;) {
      const b = byte()
      const type = b & 15
      if (type === 0) return
      id = b >> 4 === 0 ? i32() : id + (b >> 4)
      if (!take(id, type)) skip(type, depth)
    }
  }
  const isInt = (type: number) => type === 5 || type === 6 || type === 4
  struct(0, (id, type) => {
    if (!isInt(type) && type !== 12) return false
    if (type === 12 && (id === 5 || id === 8)) {
      const v2 = id === 8
      struct(1, (f, t) => {
        if (t === 1 || t === 2) {
          if (v2 && f === 7) h.compressed_ = t === 1
          return true
        }
        if (!isInt(t)) return false
        const v = i32()
        if (f === 1) h.numValues = v
        else if (!v2 && f === 2) h.encoding = v
        else if (!v2 && f === 3) h.defEncoding = v
        else if (!v2 && f === 4) h.repEncoding = v
        else if (v2 && f === 4) h.encoding = v
        else if (v2 && f === 5) h.defLength = v
        else if (v2 && f === 6) h.repLength = v
        return true
      })
      return true
    }
    if (type === 12) return false
    const v = i32()
    if (id === 1) h.type = v
    else if (id === 2) h.uncompressed = v
    else if (id === 3) h.compressed = v
    else if (id === 4) h.crc = v
    return true
  })
  if (h.type < 0 || h.uncompressed < 0 || h.compressed < 0) bad('a page header lacks its type or sizes')
  if ((h.type === PageType.DATA_PAGE || h.type === PageType.DATA_PAGE_V2) && h.numValues < 0)
    bad('a data page lacks its value count')
  h.end = pos
  return h
}

/**
 * Reads `count` levels of the RLE/bit-packed hybrid encoding from buf[start, end) into out[at, at + count).
 * `max` is the column's maximum level: it fixes the bit width, and larger values are corrupt.
 */
function readLevels(
  buf: Buffer,
  range: Range,
  max: number,
  out: Uint8Array,
  at: number,
  count: number,
  bad: (msg: string) => never,
): void {
  const width = max === 1 ? 1 : max <= 3 ? 2 : 8
  let pos = range.start
  const end = range.end
  const stop = at + count
  let i = at
  while (i < stop) {
    let header = 0
    for (let shift = 0; ; shift += 7) {
      if (pos >= end || shift > 28) bad('levels are truncated')
      const b = buf[pos++]!
      header += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) break
    }
    if (header % 2 === 0) {
      const run = header / 2
      if (pos >= end) bad('levels are truncated')
      const v = buf[pos++]!
      if (v > max || run > stop - i) bad('a level run is out of range')
      // Header levels come as runs of one or two (0,1,0,1 for two headers a record): fill() costs more there.
      if (run < 16) for (const stop = i + run; i < stop;) out[i++] = v
      else {
        out.fill(v, i, i + run)
        i += run
      }
    } else {
      // Bit-packed: groups of 8 values, `width` bytes per group, least significant bit first.
      const groups = (header - 1) / 2
      const take = Math.min(groups * 8, stop - i)
      if (pos + Math.ceil((take * width) / 8) > end) bad('bit-packed levels are truncated')
      const mask = (1 << width) - 1
      for (let k = 0; k < take; k++) {
        const bit = k * width
        const v = (buf[pos + (bit >> 3)]! >> (bit & 7)) & mask
        if (v > max) bad('a level is out of range')
        out[i++] = v
      }
      pos = Math.min(pos + groups * width, end)
    }
  }
}

/** A required INT64 column's values, in one aligned array. */
function int64Column(pages: Page[], bad: (msg: string) => never): BigInt64Array {
  let n = 0
  for (const p of pages) {
    if (p.values.end - p.values.start !== p.count * 8)
      bad(`a page of ${p.count} INT64 values is not ${p.count * 8} bytes`)
    n += p.count
  }
  const out = new BigInt64Array(n)
  const bytes = new Uint8Array(out.buffer)
  let at = 0
  for (const p of pages) {
    // Copied as bytes: a page's values need not sit at an 8-byte boundary. Parquet is little-endian, as is every
    // platform Node runs on.
    bytes.set(p.buf.subarray(p.values.start, p.values.end), at)
    at += p.values.end - p.values.start
  }
  return out
}

/** An optional BYTE_ARRAY column of exactly `n` entries: positions in its pages (see ByteColumn). */
function optionalBytes(pages: Page[], n: number, bad: (msg: string) => never): Int32Array {
  let total = 0
  for (const p of pages) total += p.count
  if (total !== n) bad(`a column holds ${total} entries for ${n} records`)
  const out = new Int32Array(3 * n)
  const defs = new Uint8Array(n)
  let i = 0
  for (let page = 0; page < pages.length; page++) {
    const p = pages[page]!
    readLevels(p.buf, p.def!, 1, defs, i, p.count, bad)
    const buf = p.buf
    let pos = p.values.start
    const end = p.values.end
    for (const stop = i + p.count; i < stop; i++) {
      const k = 3 * i
      out[k] = page
      if (defs[i] === 0) {
        out[k + 2] = -1
        continue
      }
      if (pos + 4 > end) bad('byte array values are truncated')
      const len = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0
      pos += 4
      if (len > end - pos) bad('a byte array value overruns its page')
      out[k + 1] = pos
      out[k + 2] = len
      pos += len
    }
    if (pos !== end) bad('a page has bytes after its values')
  }
  return out
}

/**
 * Every record's headers from the two header leaves, which share their repetition levels (rep 0 starts a record,
 * definition 0 is an empty list, and the value leaf's definition 1 is a null value): flat arrays of keys and
 * values, record i's being entries headerStart[i] to headerStart[i + 1] - 1.
 */
function headerColumns(
  keyPages: Page[],
  valuePages: Page[],
  n: number,
  bad: (msg: string) => never,
): Pick<RowGroupIndex, 'headerStart' | 'headerKeyIds' | 'headerKeyTable' | 'headerValues'> {
  // Entries beyond one per record each hold a key (at least its 4-byte length) in the key column's values, so
  // this bound on the entry count is backed by real bytes before anything is allocated from it.
  let m = 0
  let keyBytes = 0
  for (const p of keyPages) {
    m += p.count
    keyBytes += p.values.end - p.values.start
  }
  if (m > n + keyBytes / 4) bad(`${m} header entries for ${n} records and ${keyBytes} key bytes`)
  let mv = 0
  for (const p of valuePages) mv += p.count
  if (mv !== m) bad(`${m} header keys but ${mv} header values`)

  const keyRep = new Uint8Array(m)
  const keyDef = new Uint8Array(m)
  const valueRep = new Uint8Array(m)
  const valueDef = new Uint8Array(m)
  let at = 0
  for (const p of keyPages) {
    readLevels(p.buf, p.rep!, 1, keyRep, at, p.count, bad)
    readLevels(p.buf, p.def!, 1, keyDef, at, p.count, bad)
    at += p.count
  }
  at = 0
  for (const p of valuePages) {
    readLevels(p.buf, p.rep!, 1, valueRep, at, p.count, bad)
    readLevels(p.buf, p.def!, 2, valueDef, at, p.count, bad)
    at += p.count
  }

  const keys = new ValueCursor(keyPages, bad)
  const values = new ValueCursor(valuePages, bad)
  const headerStart = new Int32Array(n + 1)
  const headerKeyIds = new Int32Array(m)
  const headerKeyTable: string[] = []
  const headerValues = new Int32Array(3 * m)
  let h = 0
  let r = -1
  for (let e = 0; e < m; e++) {
    const rep = keyRep[e]!
    const def = keyDef[e]!
    const vdef = valueDef[e]!
    if (valueRep[e] !== rep || (def === 0) !== (vdef === 0)) bad('header keys and values disagree')
    if (rep === 0) {
      if (++r >= n) bad(`header lists for more than ${n} records`)
      headerStart[r] = h
      if (def === 0) continue
    } else if (r < 0 || def === 0) bad('a header entry continues no list')
    headerKeyIds[h] = keys.stringId(headerKeyTable)
    if (vdef === 2) values.position(headerValues, 3 * h)
    else headerValues[3 * h + 2] = -1
    h++
  }
  if (r !== n - 1) bad(`header lists for ${r + 1} records, expected ${n}`)
  headerStart[n] = h
  keys.finish()
  values.finish()
  return {
    headerStart,
    headerKeyIds: headerKeyIds.subarray(0, h),
    headerKeyTable,
    headerValues: headerValues.subarray(0, 3 * h),
  }
}

/** Walks the PLAIN byte array values of a column's pages in order. */
class ValueCursor {
  private page = -1
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  private end = 0

  constructor(
    private readonly pages: Page[],
    private readonly bad: (msg: string) => never,
  ) {}

  private next(): void {
    while (this.pos >= this.end) {
      if (this.pos !== this.end) this.bad('a byte array value overruns its page')
      if (++this.page >= this.pages.length) this.bad('header values run out')
      const p = this.pages[this.page]!
      this.buf = p.buf
      this.pos = p.values.start
      this.end = p.values.end
    }
  }

  private length(): number {
    this.next()
    const { buf, pos } = this
    if (pos + 4 > this.end) this.bad('byte array values are truncated')
    const len = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0
    this.pos = pos + 4
    if (len > this.end - this.pos) this.bad('a byte array value overruns its page')
    return len
  }

  /** The next value's place, written as ByteColumn keeps it (page, start, length) at out[k..k+2]. */
  position(out: Int32Array, k: number): void {
    const len = this.length()
    out[k] = this.page
    out[k + 1] = this.pos
    out[k + 2] = len
    this.pos += len
  }

  // Header keys repeat from record to record: comparing a few bytes against the last distinct keys is several
  // times cheaper than decoding each one again.
  private readonly recent: { bytes: Buffer; id: number }[] = []
  private evict = 0

  /** The next value as UTF-8 text, as its index in `table` (a text seen lately keeps its index). */
  stringId(table: string[]): number {
    const len = this.length()
    const { buf, pos } = this
    this.pos += len
    const recent = this.recent
    search: for (let k = 0; k < recent.length; k++) {
      const { bytes, id } = recent[k]!
      if (bytes.length !== len) continue
      for (let i = 0; i < len; i++) if (bytes[i] !== buf[pos + i]) continue search
      return id
    }
    const bytes = buf.subarray(pos, pos + len)
    const id = table.push(bytes.toString('utf8')) - 1
    if (len <= 64) {
      if (recent.length < 8) recent.push({ bytes, id })
      else recent[this.evict++ & 7] = { bytes, id }
    }
    return id
  }

  /** Every value was consumed: leftovers mean the levels and values disagree. */
  finish(): void {
    if (this.pos !== this.end) this.bad('a page has bytes after its values')
    for (let p = this.page + 1; p < this.pages.length; p++) {
      const { start, end } = this.pages[p]!.values
      if (end !== start) this.bad('a page has bytes after its values')
    }
  }
}

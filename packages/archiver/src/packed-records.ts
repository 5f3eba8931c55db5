// Records packed into a few ArrayBuffers (offsets and timestamps, lengths, and chunks of key/value/header bytes) so a
// segment moves to a worker thread by transfer. A partition's open buffer is a PackedRecordsBuilder: fetched records
// are copied once, straight from the Fetch response into its chunks, with no object made per record.
import { isUtf8 } from 'node:buffer'
import { rawRecordBytes } from '@everlog/core'
import type { ArchiveRecord, PackedRecords } from '@everlog/core'
import type { BatchRecords, WireReader } from './fetch/record-batches.js'

/**
 * Byte chunks start small and double up to MAX_CHUNK: a quiet partition holds little, and the unused tail of a
 * partition's last chunk (not charged to the budget) stays small even with hundreds of partitions.
 */
const MIN_CHUNK = 32 * 1024
const MAX_CHUNK = 256 * 1024

/**
 * Full-size chunks whose row group was encoded on this thread, ready for the next records: archiving at full speed
 * otherwise allocates (and the GC chases) a quarter MiB every 250 records. The partitions of one fetch fill their row
 * groups together and seal them one after the other, so the next round needs the chunks of every partition's group at
 * once: with room for only two groups (8 MiB), two thirds of the chunks were allocated anew at 8 partitions (390 MiB
 * for 550 MiB archived). Bounded at 32 MiB (half the default byte budget); a chunk is only made when none is spare,
 * so the chunks that exist never exceed the most that were being filled at one time.
 */
const spareChunks: Buffer[] = []
const MAX_SPARE_CHUNKS = 128

/**
 * Appends records into growable typed arrays and byte chunks. Growing never copies record bytes: a full chunk is
 * closed and a new one started; only the small per-record arrays double.
 */
export class PackedRecordsBuilder {
  private numbers: BigInt64Array<ArrayBuffer> = new BigInt64Array(64)
  // The same memory as 32-bit halves (little-endian: low word first): offsets and timestamps that are safe integers
  // are written as two numbers, with no BigInt made per record.
  private words = new Int32Array(this.numbers.buffer)
  private lengths: Int32Array<ArrayBuffer> = new Int32Array(256)
  private n = 0
  private l = 0
  private chunks: Uint8Array[] = []
  private chunk: Buffer = EMPTY
  private used = 0
  private nextChunkSize = MIN_CHUNK
  private _count = 0
  private _rawBytes = 0

  get count(): number {
    return this._count
  }

  /** Key + value + header key and value bytes (rawRecordBytes) of every record added. */
  get rawBytes(): number {
    return this._rawBytes
  }

  /** Found when asked (once per row group, and by metrics): tracking it per record cost a BigInt comparison each. */
  get minTimestamp(): bigint | undefined {
    if (this._count === 0) return undefined
    const w = this.words
    let min = 0
    for (let i = 1; i < this._count; i++) {
      const hi = w[4 * i + 3]!
      const minHi = w[4 * min + 3]!
      if (hi < minHi || (hi === minHi && w[4 * i + 2]! >>> 0 < w[4 * min + 2]! >>> 0)) min = i
    }
    return this.numbers[2 * min + 1]!
  }

  /**
   * Adds a record; returns its raw bytes. `beforeAdd` is told the record's raw bytes before anything of it is written
   * (it may `finish` the builder first: that is how row groups are cut before the record that would overflow them).
   */
  addRecord(r: ArchiveRecord, beforeAdd?: (rawBytes: number) => void): number {
    let bound = (r.key?.length ?? 0) + (r.value?.length ?? 0)
    for (const [k, v] of r.headers) bound += k.length * 3 + (v?.length ?? 0)
    beforeAdd?.(rawRecordBytes(r))
    this.begin(3 + r.headers.length * 2, bound)
    this.numbers[this.n++] = r.offset
    this.numbers[this.n++] = r.timestamp
    const start = this.used
    this.lengths[this.l++] = this.putBytes(r.key)
    this.lengths[this.l++] = this.putBytes(r.value)
    this.lengths[this.l++] = r.headers.length
    for (const [k, v] of r.headers) {
      this.lengths[this.l++] = this.putString(k)
      this.lengths[this.l++] = this.putBytes(v)
    }
    return this.end(start)
  }

  /**
   * Adds the record `records` stands on: its key, value and headers are read from the fetched batch and copied once,
   * with no object made for them (every read stays inside the record). Returns its raw bytes; `beforeAdd` as for
   * addRecord.
   */
  addWireRecord(records: BatchRecords, beforeAdd?: (rawBytes: number) => void): number {
    const r = records.reader
    const src = r.buf
    const at = r.pos
    // First every length is read and checked against the record's end, so a corrupt record throws before anything of
    // it is written; then the bytes are copied.
    checkWireRecord(r)
    const headerCount = checked.headers
    const repair = checked.repairedBytes > 0
    r.pos = at
    beforeAdd?.(checked.rawBytes)
    this.begin(3 + headerCount * 2, r.end - at + checked.repairedBytes)
    this.putNumber(records.offset)
    this.putNumber(records.timestamp)
    const start = this.used
    const keyLength = r.varint()
    this.lengths[this.l++] = this.copy(src, r.take(Math.max(0, keyLength)), keyLength)
    const valueLength = r.varint()
    this.lengths[this.l++] = this.copy(src, r.take(Math.max(0, valueLength)), valueLength)
    this.lengths[this.l++] = r.varint()
    for (let h = 0; h < headerCount; h++) {
      // A header name is a non-null string on the wire; a null one is kept as empty, as kafkajs reads it.
      const nameLength = r.varint()
      const nameAt = r.take(Math.max(0, nameLength))
      this.lengths[this.l++] =
        repair && !isUtf8Name(src, nameAt, nameLength)
          ? this.putString(src.toString('utf8', nameAt, nameAt + nameLength))
          : Math.max(0, this.copy(src, nameAt, nameLength))
      const headerLength = r.varint()
      this.lengths[this.l++] = this.copy(src, r.take(Math.max(0, headerLength)), headerLength)
    }
    return this.end(start)
  }

  /** Hands the records over (for transfer) and leaves the builder empty, ready for the next segment. */
  finish(): PackedRecords {
    const packed: PackedRecords = {
      count: this._count,
      numbers: this.numbers.slice(0, this.n),
      lengths: this.lengths.slice(0, this.l),
      chunks: this.closeChunks(),
    }
    this.reset()
    return packed
  }

  /** Drops every record (the partition was revoked or stopped). */
  clear(): void {
    this.reset()
  }

  private reset(): void {
    if (this.numbers.length > 64) {
      this.numbers = new BigInt64Array(64)
      this.words = new Int32Array(this.numbers.buffer)
    }
    if (this.lengths.length > 256) this.lengths = new Int32Array(256)
    this.n = 0
    this.l = 0
    this.chunks = []
    this.chunk = EMPTY
    this.used = 0
    this.nextChunkSize = MIN_CHUNK
    this._count = 0
    this._rawBytes = 0
  }

  private closeChunks(): Uint8Array[] {
    if (this.used > 0) this.chunks.push(this.chunk.subarray(0, this.used))
    return this.chunks
  }

  /** Makes room for one record's numbers, lengths and at most `bytes` bytes. */
  private begin(lengthSlots: number, bytes: number): void {
    if (this.n + 2 > this.numbers.length) {
      this.numbers = grow64(this.numbers, this.n + 2)
      this.words = new Int32Array(this.numbers.buffer)
    }
    if (this.l + lengthSlots > this.lengths.length) this.lengths = grow32(this.lengths, this.l + lengthSlots)
    if (this.used + bytes > this.chunk.length) {
      if (this.used > 0) this.chunks.push(this.chunk.subarray(0, this.used))
      const size = Math.max(bytes, this.nextChunkSize)
      this.nextChunkSize = Math.min(MAX_CHUNK, this.nextChunkSize * 2)
      // Not from Buffer's shared pool: the chunk's ArrayBuffer is transferred to the worker whole.
      this.chunk = (size === MAX_CHUNK ? spareChunks.pop() : undefined) ?? Buffer.allocUnsafeSlow(size)
      this.used = 0
    }
  }

  /** The next int64 slot, a safe integer written as its two 32-bit halves (no BigInt made). */
  private putNumber(v: number): void {
    const hi = Math.floor(v / 4294967296)
    this.words[2 * this.n] = v - hi * 4294967296
    this.words[2 * this.n + 1] = hi
    this.n++
  }

  private end(start: number): number {
    this._count++
    const raw = this.used - start
    this._rawBytes += raw
    return raw
  }

  private putBytes(v: Uint8Array | null): number {
    if (v === null) return -1
    this.chunk.set(v, this.used)
    this.used += v.length
    return v.length
  }

  /** Copies `length` bytes of `src` from `at`; a negative length is null. */
  private copy(src: Buffer, at: number, length: number): number {
    if (length < 0) return -1
    const chunk = this.chunk
    const to = this.used
    // Keys, header names and header values are a few bytes: five of a record's six copies. Buffer#copy makes a view
    // object per call (Node's _copyActual) and costs more than the bytes there; a loop makes nothing. A value is
    // copied through one view of our own, without Buffer#copy's argument checks (~100 ns instead of ~180 per KiB).
    if (length < 64) for (let i = 0; i < length; i++) chunk[to + i] = src[at + i]!
    else chunk.set(new Uint8Array(src.buffer, src.byteOffset + at, length), to)
    this.used = to + length
    return length
  }

  private putString(s: string): number {
    const n = this.chunk.write(s, this.used)
    this.used += n
    return n
  }
}

const EMPTY = Buffer.alloc(0)

/** What checkWireRecord found (one object reused: this runs for every archived record). */
const checked = { headers: 0, rawBytes: 0, repairedBytes: 0 }

/**
 * Whether header name bytes are UTF-8. Segments store header keys in a STRING column, which DuckDB, polars and
 * pyarrow refuse to read when a value is not UTF-8, and every Everlog reader returns them as strings anyway: a name
 * that is not UTF-8 (a client may send any bytes) is archived as its decoding, invalid sequences as U+FFFD.
 */
function isUtf8Name(src: Buffer, at: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (src[at + i]! >= 0x80) return isUtf8(src.subarray(at, at + length))
  return true
}

/** Reads a wire record's key, value and headers without copying them: its header count and raw bytes. */
function checkWireRecord(r: WireReader): void {
  // Lengths below zero are nulls; a null header name is kept as empty, as kafkajs reads it.
  let n = Math.max(0, r.varint())
  r.take(n)
  let raw = n
  n = Math.max(0, r.varint())
  r.take(n)
  raw += n
  const headerCount = r.varint()
  // Each header takes at least two bytes: a larger count is a corrupt record, not a reason to allocate.
  if (headerCount < 0 || headerCount * 2 > r.end - r.pos) throw r.malformed(`header count ${headerCount}`)
  let repaired = 0
  for (let h = 0; h < headerCount; h++) {
    n = Math.max(0, r.varint())
    const name = r.take(n)
    if (isUtf8Name(r.buf, name, n)) raw += n
    else {
      const utf8 = Buffer.byteLength(r.buf.toString('utf8', name, name + n))
      raw += utf8
      repaired += utf8
    }
    n = Math.max(0, r.varint())
    r.take(n)
    raw += n
  }
  checked.headers = headerCount
  checked.rawBytes = raw
  checked.repairedBytes = repaired
}

function grow64(a: BigInt64Array<ArrayBuffer>, need: number): BigInt64Array<ArrayBuffer> {
  const b = new BigInt64Array(Math.max(need, a.length * 2))
  b.set(a)
  return b
}

function grow32(a: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(need, a.length * 2))
  b.set(a)
  return b
}

/** Packs records into one chunk (tests, and callers that hold ArchiveRecords). */
export function packRecords(records: readonly ArchiveRecord[]): PackedRecords {
  const b = new PackedRecordsBuilder()
  for (const r of records) b.addRecord(r)
  return b.finish()
}

/**
 * Hands the full-size chunks of `p` back for reuse. Only for records nothing reads any more: encoded on this thread
 * (the encoder copies what it keeps), never transferred.
 */
export function recycleChunks(p: PackedRecords): void {
  for (const c of p.chunks) {
    if (spareChunks.length >= MAX_SPARE_CHUNKS) return
    if (c.buffer.byteLength === MAX_CHUNK) spareChunks.push(Buffer.from(c.buffer as ArrayBuffer, 0, MAX_CHUNK))
  }
}

export function packedTransferList(p: PackedRecords): ArrayBuffer[] {
  const list = [p.numbers.buffer as ArrayBuffer, p.lengths.buffer as ArrayBuffer]
  for (const c of p.chunks) list.push(c.buffer as ArrayBuffer)
  return list
}

// Records packed into a few transferable buffers, and a row group encoded straight from them. The archiver buffers a
// partition this way and hands full row groups to its encode worker; laying the pages out from the packed bytes
// skips an ArchiveRecord, two BigInts and a decoded header key per row, which cost the worker as much as zstd did.
import { InvalidArgumentError, OffsetOrderError } from '../errors.js'
import type { ArchiveRecord, RecordHeader } from '../record.js'
import { compressionOf, rowGroupOf } from './encode.js'
import { rowGroupColumns } from './page-write.js'
import type { EncodedRowGroup, SegmentWriteOptions } from './types.js'

export interface PackedRecords {
  count: number
  /** offset, timestamp per record. */
  numbers: BigInt64Array
  /** Per record: key length, value length (-1 = null), header count; per header: key length, value length (-1 = null). */
  lengths: Int32Array
  /** Key, value, header key and header value bytes in record order; a record never spans two chunks. */
  chunks: Uint8Array[]
}

const MAX_RECORD_BYTES = 1 << 30

/**
 * Encodes packed records (strictly increasing offsets) as ONE row group: the same bytes encodeRowGroup gives for
 * the same records. Packed input that does not add up (lengths past their chunk, a negative offset) is refused
 * with InvalidArgumentError before anything is written.
 */
export function encodePackedRowGroup(
  packed: PackedRecords,
  options: Pick<SegmentWriteOptions, 'compression'> = {},
): EncodedRowGroup {
  const compression = compressionOf(options)
  const { count: n, lengths } = packed
  if (n === 0) throw new InvalidArgumentError('cannot encode an empty row group')
  const bad = (msg: string): never => {
    throw new InvalidArgumentError(`packed records do not add up: ${msg}`)
  }
  if (!Number.isSafeInteger(n) || n < 0 || packed.numbers.length < 2 * n) bad(`${n} records need ${2 * n} numbers`)
  // Offsets and timestamps as 32-bit halves (little-endian: low word first): compared and copied without a BigInt
  // per value.
  const words = new Int32Array(packed.numbers.buffer, packed.numbers.byteOffset, 4 * n)

  // Pass 1: sizes of each column, and every length checked, so the pages below are allocated once and exactly.
  let keyBytes = 0
  let valueBytes = 0
  let headerBytes = 0
  let levels = 0
  let l = 0
  for (let i = 0; i < n; i++) {
    if (l + 3 > lengths.length) bad(`lengths end at record ${i} of ${n}`)
    const k = lengths[l++]!
    const v = lengths[l++]!
    const h = lengths[l++]!
    if (k < -1 || v < -1 || h < 0 || l + 2 * h > lengths.length) bad(`record ${i} has impossible lengths`)
    let record = Math.max(k, 0) + Math.max(v, 0)
    keyBytes += Math.max(k, 0)
    valueBytes += Math.max(v, 0)
    levels += Math.max(1, h)
    for (let j = 0; j < h; j++) {
      const hk = lengths[l++]!
      const hv = lengths[l++]!
      if (hk < 0 || hv < -1) bad(`record ${i} has an impossible header length`)
      record += hk + Math.max(hv, 0)
    }
    if (record > MAX_RECORD_BYTES) {
      throw new InvalidArgumentError(`record ${i} of a row group has ${record} bytes; at most 1 GiB`)
    }
    headerBytes += record - Math.max(k, 0) - Math.max(v, 0)
  }
  if (l !== lengths.length) bad(`${lengths.length - l} lengths after the last record`)

  const columns = rowGroupColumns(n, { keyBytes, valueBytes, headerBytes, headerEntries: levels })
  const { offsets, timestamps, key, value, headerKey: hKey, headerValue: hValue } = columns
  let minTs = 0
  let maxTs = 0
  for (let i = 0; i < n; i++) {
    const oLo = words[4 * i]!
    const oHi = words[4 * i + 1]!
    if (oHi < 0) throw new InvalidArgumentError(`record ${i} of a row group has a negative offset`)
    if (i > 0) {
      const pHi = words[4 * i - 3]!
      if (oHi < pHi || (oHi === pHi && oLo >>> 0 <= words[4 * i - 4]! >>> 0)) {
        throw new OffsetOrderError(
          `records must be in strictly increasing offset order: offset ${packed.numbers[2 * i]} follows ${packed.numbers[2 * i - 2]}`,
        )
      }
      if (less(words, i, minTs)) minTs = i
      if (less(words, maxTs, i)) maxTs = i
    }
    offsets.writeInt32LE(oLo, i * 8)
    offsets.writeInt32LE(oHi, i * 8 + 4)
    timestamps.writeInt32LE(words[4 * i + 2]!, i * 8)
    timestamps.writeInt32LE(words[4 * i + 3]!, i * 8 + 4)
  }

  // Pass 2: the byte columns, copied from the chunks in record order.
  const { chunks } = packed
  let c = 0
  let chunk = chunks.length > 0 ? asBuffer(chunks[0]!) : EMPTY
  let b = 0
  l = 0
  const take = (len: number): number => {
    const at = b
    if (at + len > chunk.length) bad('a value runs past the end of its chunk')
    b += len
    return at
  }
  for (let i = 0; i < n; i++) {
    while (b >= chunk.length && c + 1 < chunks.length) {
      chunk = asBuffer(chunks[++c]!)
      b = 0
    }
    const k = lengths[l++]!
    if (k < 0) key.pushNull(0, 0)
    else key.pushFrom(chunk, take(k), k, 0, 1)
    const v = lengths[l++]!
    if (v < 0) value.pushNull(0, 0)
    else value.pushFrom(chunk, take(v), v, 0, 1)
    const h = lengths[l++]!
    if (h === 0) {
      // An empty list: one entry at level 0 in both header leaves, no value.
      hKey.pushNull(0, 0)
      hValue.pushNull(0, 0)
    }
    for (let j = 0; j < h; j++) {
      const rep = j === 0 ? 0 : 1
      const hk = lengths[l++]!
      hKey.pushFrom(chunk, take(hk), hk, rep, 1)
      const hv = lengths[l++]!
      if (hv < 0) hValue.pushNull(rep, 1)
      else hValue.pushFrom(chunk, take(hv), hv, rep, 2)
    }
  }
  let left = chunk.length - b
  for (let k = c + 1; k < chunks.length; k++) left += chunks[k]!.length
  if (left !== 0) bad(`${left} bytes are left over after the last record`)

  const rawBytes = keyBytes + valueBytes + headerBytes
  return rowGroupOf(
    columns,
    { rows: n, rawBytes, compression },
    {
      firstOffset: packed.numbers[0]!,
      lastOffset: packed.numbers[2 * n - 2]!,
      minTimestamp: packed.numbers[2 * minTs + 1]!,
      maxTimestamp: packed.numbers[2 * maxTs + 1]!,
    },
  )
}

/** Records whose key, value and header values are views into the packed chunks (no copies). */
export function unpackRecords(p: PackedRecords): ArchiveRecord[] {
  const out: ArchiveRecord[] = new Array(p.count)
  const { numbers, lengths, chunks } = p
  let n = 0
  let l = 0
  let c = 0
  let chunk = chunks.length > 0 ? asBuffer(chunks[0]!) : EMPTY
  let b = 0
  const take = (len: number): Buffer | null => {
    if (len < 0) return null
    if (b + len > chunk.length)
      throw new InvalidArgumentError('packed records do not add up: a value runs past the end of its chunk')
    const v = chunk.subarray(b, b + len)
    b += len
    return v
  }
  for (let i = 0; i < p.count; i++) {
    const offset = numbers[n++]!
    const timestamp = numbers[n++]!
    // A record never spans chunks: the next chunk starts when this one is used up.
    while (b >= chunk.length && c + 1 < chunks.length) {
      chunk = asBuffer(chunks[++c]!)
      b = 0
    }
    const key = take(lengths[l++]!)
    const value = take(lengths[l++]!)
    const headerCount = lengths[l++]!
    const headers: RecordHeader[] = []
    for (let h = 0; h < headerCount; h++) {
      const k = take(lengths[l++]!)!.toString('utf8')
      headers.push([k, take(lengths[l++]!)])
    }
    out[i] = { offset, timestamp, key, value, headers }
  }
  return out
}

/** Timestamp of record a < timestamp of record b, as signed 64-bit numbers read in halves. */
function less(words: Int32Array, a: number, b: number): boolean {
  const ah = words[4 * a + 3]!
  const bh = words[4 * b + 3]!
  return ah < bh || (ah === bh && words[4 * a + 2]! >>> 0 < words[4 * b + 2]! >>> 0)
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

const EMPTY = Buffer.alloc(0)

// Records packed into one ArrayBuffer (offsets, timestamps, lengths and all bytes) so a batch moves to a worker
// thread by transfer, without structured-cloning thousands of small Buffers.
import type { ArchiveRecord, RecordHeader } from '@everlog/core'

export interface PackedRecords {
  count: number
  /** offset, timestamp per record. */
  numbers: BigInt64Array
  /** Per record: key length, value length (-1 = null), header count; per header: key length, value length. */
  lengths: Int32Array
  bytes: Uint8Array
}

export function packRecords(records: readonly ArchiveRecord[]): PackedRecords {
  let lengthSlots = records.length * 3
  let byteCount = 0
  for (const r of records) {
    byteCount += (r.key?.length ?? 0) + (r.value?.length ?? 0)
    lengthSlots += r.headers.length * 2
    for (const [k, v] of r.headers) byteCount += Buffer.byteLength(k) + (v?.length ?? 0)
  }
  const numbers = new BigInt64Array(records.length * 2)
  const lengths = new Int32Array(lengthSlots)
  const bytes = Buffer.allocUnsafeSlow(byteCount)
  let n = 0
  let l = 0
  let b = 0
  const put = (buf: Buffer | null) => {
    if (buf === null) return -1
    buf.copy(bytes, b)
    b += buf.length
    return buf.length
  }
  for (const r of records) {
    numbers[n++] = r.offset
    numbers[n++] = r.timestamp
    lengths[l++] = put(r.key)
    lengths[l++] = put(r.value)
    lengths[l++] = r.headers.length
    for (const [k, v] of r.headers) {
      lengths[l++] = bytes.write(k, b, 'utf8')
      b += lengths[l - 1]!
      lengths[l++] = put(v)
    }
  }
  return { count: records.length, numbers, lengths, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, b) }
}

export function packedTransferList(p: PackedRecords): ArrayBuffer[] {
  return [p.numbers.buffer as ArrayBuffer, p.lengths.buffer as ArrayBuffer, p.bytes.buffer as ArrayBuffer]
}

export function unpackRecords(p: PackedRecords): ArchiveRecord[] {
  const bytes = Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength)
  const out: ArchiveRecord[] = new Array(p.count)
  let n = 0
  let l = 0
  let b = 0
  const take = (len: number): Buffer | null => {
    if (len < 0) return null
    const v = bytes.subarray(b, b + len)
    b += len
    return v
  }
  for (let i = 0; i < p.count; i++) {
    const offset = p.numbers[n++]!
    const timestamp = p.numbers[n++]!
    const key = take(p.lengths[l++]!)
    const value = take(p.lengths[l++]!)
    const headerCount = p.lengths[l++]!
    const headers: RecordHeader[] = []
    for (let h = 0; h < headerCount; h++) {
      const k = take(p.lengths[l++]!)!.toString('utf8')
      headers.push([k, take(p.lengths[l++]!)])
    }
    out[i] = { offset, timestamp, key, value, headers }
  }
  return out
}

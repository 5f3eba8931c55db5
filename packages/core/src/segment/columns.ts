// RecordColumns <-> ArchiveRecords, slices of columns, and int64 columns read without a BigInt per value.
import type { ArchiveRecord, RecordHeader } from '../record.js'
import type { RecordColumns, TimestampUnit } from './types.js'

/** Rows [from, to) as ArchiveRecords (views, no copies). */
export function columnsToRecords(c: RecordColumns, from = 0, to = c.length): ArchiveRecord[] {
  const out = new Array<ArchiveRecord>(Math.max(0, to - from))
  const { offsets, timestamps, keys, values, headerStart, headerKeys, headerValues } = c
  for (let i = from; i < to; i++) {
    const h0 = headerStart[i]!
    const h1 = headerStart[i + 1]!
    const headers = new Array<RecordHeader>(h1 - h0)
    for (let h = h0; h < h1; h++) headers[h - h0] = [headerKeys[h]!, headerValues[h]!]
    out[i - from] = { offset: offsets[i]!, timestamp: timestamps[i]!, key: keys[i]!, value: values[i]!, headers }
  }
  return out
}

/** Records (in order) as columns: for the decoders that produce records. */
export function recordsToColumns(records: readonly ArchiveRecord[]): RecordColumns {
  const n = records.length
  const offsets = new BigInt64Array(n)
  const timestamps = new BigInt64Array(n)
  const keys = new Array<Buffer | null>(n)
  const values = new Array<Buffer | null>(n)
  const headerStart = new Int32Array(n + 1)
  const headerKeys: string[] = []
  const headerValues: (Buffer | null)[] = []
  for (let i = 0; i < n; i++) {
    const r = records[i]!
    offsets[i] = r.offset
    timestamps[i] = r.timestamp
    keys[i] = r.key
    values[i] = r.value
    headerStart[i] = headerKeys.length
    for (const [k, v] of r.headers) {
      headerKeys.push(k)
      headerValues.push(v)
    }
  }
  headerStart[n] = headerKeys.length
  return { length: n, offsets, timestamps, keys, values, headerStart, headerKeys, headerValues }
}

/** Rows [from, to) as columns of their own (the typed arrays are views; header entries keep their indexes). */
export function sliceColumns(c: RecordColumns, from: number, to: number): RecordColumns {
  if (from <= 0 && to >= c.length) return c
  const base = {
    length: to - from,
    offsets: c.offsets.subarray(from, to),
    timestamps: c.timestamps.subarray(from, to),
    headerStart: c.headerStart.subarray(from, to + 1),
    headerKeys: c.headerKeys,
  }
  const bytes = c.bytes
  if (!bytes)
    return { ...base, keys: c.keys.slice(from, to), values: c.values.slice(from, to), headerValues: c.headerValues }
  // Kept as positions: the slice's Buffers are made on first use, like the whole row group's.
  const keys = bytes.keys.slice(from, to)
  const values = bytes.values.slice(from, to)
  let keyArray: (Buffer | null)[] | undefined
  let valueArray: (Buffer | null)[] | undefined
  return {
    ...base,
    get keys() {
      return (keyArray ??= keys.toArray())
    },
    get values() {
      return (valueArray ??= values.toArray())
    },
    get headerValues() {
      return c.headerValues
    },
    bytes: { keys, values, headerValues: bytes.headerValues },
  }
}

/** The first row whose offset is >= `offset` (offsets ascend), or length. */
export function lowerBound(offsets: BigInt64Array, offset: bigint): number {
  let lo = 0
  let hi = offsets.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (offsets[mid]! < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * A BYTE_ARRAY column as positions in its pages, three int32 per value (page, start, length; length -1 is null):
 * a Buffer is made only for a value someone reads. Building them all up front made every row group's views live
 * through a whole chunk's delivery, so they outlived young-generation collections and were copied and promoted.
 */
export class ByteColumn {
  constructor(
    readonly pages: readonly Buffer[],
    readonly positions: Int32Array,
  ) {}

  get length(): number {
    return this.positions.length / 3
  }

  at(i: number): Buffer | null {
    const p = this.positions
    const k = 3 * i
    const length = p[k + 2]!
    if (length < 0) return null
    const start = p[k + 1]!
    return this.pages[p[k]!]!.subarray(start, start + length)
  }

  toArray(): (Buffer | null)[] {
    const out = new Array<Buffer | null>(this.length)
    for (let i = 0; i < out.length; i++) out[i] = this.at(i)
    return out
  }

  /** Values [from, to) (views of the same positions). */
  slice(from: number, to: number): ByteColumn {
    return new ByteColumn(this.pages, this.positions.subarray(3 * from, 3 * to))
  }
}

const TWO_32 = 4294967296

/** "0000" to "9999", made on first use. */
let fourDigits: string[] | undefined

/**
 * Reads an int64 column as decimal strings, or numbers, without making a BigInt per value while the values are
 * safe integers (offsets and millisecond timestamps always are in practice).
 */
export class Int64Text {
  private readonly words: Int32Array
  // Neighbouring offsets and timestamps share all but their last four digits: that prefix is made once and the
  // last four come from a table. String(n) of a number past 2^31 (every millisecond timestamp) costs ~150 ns.
  private prefixOf = -1
  private prefix = ''

  constructor(private readonly values: BigInt64Array) {
    this.words = new Int32Array(values.buffer, values.byteOffset, values.length * 2)
  }

  /** Value i as a number, exact; NaN when it is not a safe integer. */
  number(i: number): number {
    const hi = this.words[2 * i + 1]!
    // |hi| < 2^21 keeps hi * 2^32 + lo below 2^53.
    if (hi >= 0x200000 || hi < -0x200000) return NaN
    return hi * TWO_32 + (this.words[2 * i]! >>> 0)
  }

  string(i: number): string {
    const n = this.number(i)
    if (n >= 10000) {
      const high = Math.floor(n / 10000)
      // Exact unless the division rounded across an integer (possible only near 2^53): then this is out of range.
      const low = n - high * 10000
      if (low >= 0 && low < 10000) {
        if (high !== this.prefixOf) {
          this.prefixOf = high
          this.prefix = String(high)
        }
        fourDigits ??= Array.from({ length: 10000 }, (_, d) => String(d).padStart(4, '0'))
        return this.prefix + fourDigits[low]!
      }
    }
    return n === n ? String(n) : this.values[i]!.toString()
  }
}

/**
 * A row group's timestamps in Kafka's milliseconds: microseconds (segment format 2) are divided by 1000 in place,
 * rounding down; milliseconds (format 1) stay. Every decoder's columns pass through here, so records, consumers and
 * tools never see the file's unit.
 */
export function timestampsToMillis(unit: TimestampUnit, timestamps: BigInt64Array): void {
  if (unit === 'ms') return
  const words = new Int32Array(timestamps.buffer, timestamps.byteOffset, timestamps.length * 2)
  for (let i = 0; i < timestamps.length; i++) {
    const hi = words[2 * i + 1]!
    // |hi| < 2^21: the value is a safe integer, so the arithmetic below is exact in doubles.
    if (hi >= 0x200000 || hi < -0x200000) {
      const v = timestamps[i]!
      const q = v / 1000n
      timestamps[i] = q * 1000n > v ? q - 1n : q
      continue
    }
    const v = hi * TWO_32 + (words[2 * i]! >>> 0)
    let ms = Math.floor(v / 1000)
    // v / 1000 is within 0.001 of an integer only when exact, and doubles below 2^44 are spaced at most 2^-9 apart,
    // so the rounded quotient never reaches the next integer; the check costs nothing and keeps that argument honest.
    if (ms * 1000 > v) ms--
    const msHi = Math.floor(ms / TWO_32)
    words[2 * i] = ms - msHi * TWO_32
    words[2 * i + 1] = msHi
  }
}

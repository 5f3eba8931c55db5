import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  assembleSegment,
  decodeSegment,
  encodePackedRowGroup,
  encodeRowGroup,
  InvalidArgumentError,
  OffsetOrderError,
  unpackRecords,
} from '../src/index.js'
import type { ArchiveRecord, PackedRecords, RecordHeader, SegmentCompression } from '../src/index.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'

/** The packed layout written independently of the archiver's builder, optionally split into several chunks. */
function pack(records: readonly ArchiveRecord[], recordsPerChunk = Infinity): PackedRecords {
  const numbers = new BigInt64Array(records.length * 2)
  const lengths: number[] = []
  const chunks: Uint8Array[] = []
  let parts: Buffer[] = []
  const put = (b: Buffer | null) => {
    if (b === null) return -1
    parts.push(b)
    return b.length
  }
  records.forEach((r, i) => {
    numbers[2 * i] = r.offset
    numbers[2 * i + 1] = r.timestamp
    lengths.push(put(r.key), put(r.value), r.headers.length)
    for (const [k, v] of r.headers) lengths.push(put(Buffer.from(k)), put(v))
    if ((i + 1) % recordsPerChunk === 0) {
      chunks.push(Buffer.concat(parts))
      parts = []
    }
  })
  if (parts.length > 0) chunks.push(Buffer.concat(parts))
  return { count: records.length, numbers, lengths: Int32Array.from(lengths), chunks }
}

const rec = (offset: bigint, timestamp: bigint, key: string | null, value: string | null, headers: RecordHeader[]) => ({
  offset,
  timestamp,
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  headers,
})

describe('encodePackedRowGroup', () => {
  it('gives the same bytes as encodeRowGroup for the same records (property: nulls, headers, chunking, codecs)', () => {
    const buf = fc.option(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      { nil: null },
    )
    const header = fc.tuple(fc.string({ unit: 'grapheme', maxLength: 10 }), buf).map(([k, v]): RecordHeader => [k, v])
    const body = fc.record({
      gap: fc.bigInt(1n, 1n << 40n),
      // The widest timestamps a segment stores: microseconds that fill a signed INT64.
      timestamp: fc.bigInt(-((1n << 63n) - 1n) / 1000n, ((1n << 63n) - 1n) / 1000n),
      key: buf,
      value: buf,
      headers: fc.array(header, { maxLength: 4 }),
    })
    fc.assert(
      fc.property(
        fc.bigInt(0n, 1n << 61n),
        fc.array(body, { minLength: 1, maxLength: 50 }),
        fc.constantFrom<SegmentCompression>('zstd', 'snappy', 'none'),
        fc.integer({ min: 1, max: 60 }),
        (start, bodies, compression, perChunk) => {
          let offset = start
          const records = bodies.map(({ gap, ...r }) => ({ ...r, offset: (offset += gap) }))
          const packed = pack(records, perChunk)
          assert.deepEqual(unpackRecords(packed), records)
          assert.deepEqual(encodePackedRowGroup(packed, { compression }), encodeRowGroup(records, { compression }))
        },
      ),
      { numRuns: LONG ? 1000 : 80 },
    )
  })

  it('writes a segment that decodes back to the records, with the timestamp range of unordered timestamps', () => {
    const records = [
      rec(7n, 50n, 'a', 'x', [['h', Buffer.from('1')]]),
      rec(8n, -3n, null, null, []),
      rec(2n ** 40n, 99n, 'c', '', [
        ['h', null],
        ['h', Buffer.from('2')],
      ]),
    ]
    const group = encodePackedRowGroup(pack(records, 1), { compression: 'zstd' })
    assert.equal(group.minTimestamp, -3n)
    assert.equal(group.maxTimestamp, 99n)
    assert.equal(group.firstOffset, 7n)
    assert.equal(group.lastOffset, 2n ** 40n)
    const segment = assembleSegment([group], { topic: 't', partition: 0, compression: 'zstd' })
    assert.deepEqual(decodeSegment(segment.bytes), records)
  })

  it('refuses packed input that does not add up, and offsets out of order, before writing anything', () => {
    const records = [rec(1n, 1n, 'k', 'v', [['a', Buffer.from('b')]]), rec(2n, 2n, 'k2', 'v2', [])]
    const good = pack(records)
    const short = { ...good, chunks: [good.chunks[0]!.subarray(0, 5)] }
    assert.throws(() => encodePackedRowGroup(short), InvalidArgumentError)
    const extra = { ...good, chunks: [Buffer.concat([good.chunks[0]!, Buffer.from('zz')])] }
    assert.throws(() => encodePackedRowGroup(extra), /2 bytes are left over/)
    const lengths = Int32Array.from(good.lengths)
    lengths[2] = 1_000_000
    assert.throws(() => encodePackedRowGroup({ ...good, lengths }), InvalidArgumentError)
    assert.throws(() => encodePackedRowGroup({ ...good, count: 3 }), InvalidArgumentError)
    assert.throws(() => encodePackedRowGroup({ ...good, count: 0 }), /empty row group/)
    assert.throws(() => encodePackedRowGroup(pack([records[1]!, records[0]!])), OffsetOrderError)
    assert.throws(() => encodePackedRowGroup(pack([rec(-1n, 0n, null, null, [])])), /negative offset/)
  })
})

import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  columnsToRecords,
  decodeRowGroupColumns,
  encodeSegment,
  Int64Text,
  lowerBound,
  decodeSegment,
  recordsToColumns,
  sliceColumns,
} from '../src/index.js'
import fc from 'fast-check'
import { timestampsToMillis } from '../src/segment/columns.js'
import { layoutOf } from '../src/segment/decode.js'
import type { ArchiveRecord, SegmentCompression } from '../src/index.js'

const records: ArchiveRecord[] = Array.from({ length: 300 }, (_, i) => ({
  offset: 1000n + BigInt(i * 3),
  timestamp: 1_700_000_000_000n - BigInt(i),
  key: i % 5 === 0 ? null : Buffer.from(`k${i}`),
  value: i % 7 === 0 ? null : Buffer.from(`value ${i}`),
  headers:
    i % 3 === 0
      ? []
      : [
          ['a', Buffer.from(String(i))],
          ['b', null],
          ['a', Buffer.from('again')],
        ],
}))

describe('record columns', () => {
  for (const compression of ['zstd', 'snappy'] as SegmentCompression[]) {
    it(`a row group decodes to columns holding exactly its records (${compression}: native and parquet-wasm paths)`, () => {
      const { bytes } = encodeSegment(records, { topic: 't', partition: 0, compression, rowGroupBytes: 2048 })
      const layout = layoutOf(bytes, 'seg')
      assert.ok(layout.rowGroups.length > 2)
      const all: ArchiveRecord[] = []
      for (const rg of layout.rowGroups) {
        const columns = decodeRowGroupColumns(layout, rg.index, bytes.subarray(rg.byteStart, rg.byteEnd), 'seg')
        assert.equal(columns.length, rg.records)
        all.push(...columnsToRecords(columns))
      }
      assert.deepEqual(all, records)
      assert.deepEqual(all, decodeSegment(bytes))
    })
  }

  it('records -> columns -> records round-trips; slices keep their rows and headers; lowerBound finds offsets', () => {
    const c = recordsToColumns(records)
    assert.deepEqual(columnsToRecords(c), records)
    const s = sliceColumns(c, 10, 20)
    assert.equal(s.length, 10)
    assert.deepEqual(columnsToRecords(s), records.slice(10, 20))
    assert.equal(lowerBound(c.offsets, 999n), 0)
    assert.equal(lowerBound(c.offsets, 1003n), 1)
    assert.equal(lowerBound(c.offsets, 1004n), 2)
    assert.equal(lowerBound(c.offsets, 5000n), records.length)
  })

  it('timestampsToMillis divides microseconds by 1000 rounding down, for every INT64 (property)', () => {
    const floorDiv = (v: bigint) => (v < 0n && v % 1000n !== 0n ? v / 1000n - 1n : v / 1000n)
    const int64 = fc.bigInt(-(1n << 63n), (1n << 63n) - 1n)
    // Around the safe-integer edge, multiples of 1000 and values just off them: where a double quotient rounds.
    const edgy = fc
      .tuple(fc.bigInt(-(1n << 54n) / 1000n, (1n << 54n) / 1000n), fc.integer({ min: -2, max: 2 }))
      .map(([k, d]) => k * 1000n + BigInt(d))
    fc.assert(
      fc.property(fc.array(fc.oneof(int64, edgy), { maxLength: 40 }), (values) => {
        const a = BigInt64Array.from(values)
        timestampsToMillis('us', a)
        assert.deepEqual([...a], values.map(floorDiv))
        const ms = BigInt64Array.from(values)
        timestampsToMillis('ms', ms)
        assert.deepEqual([...ms], values)
      }),
      { numRuns: 300 },
    )
  })

  it('Int64Text gives BigInt.toString() for every size and sign, and numbers only when exact', () => {
    const values = [
      0n,
      1n,
      -1n,
      4_294_967_295n,
      -4_294_967_296n,
      2n ** 53n - 1n,
      -(2n ** 53n) + 1n,
      2n ** 53n,
      -(2n ** 63n),
    ]
    const t = new Int64Text(BigInt64Array.from(values).subarray(0))
    values.forEach((v, i) => assert.equal(t.string(i), v.toString()))
    assert.equal(t.number(5), 2 ** 53 - 1)
    assert.ok(Number.isNaN(t.number(7)))
  })
})

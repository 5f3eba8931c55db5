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

  it('Int64Text.string is BigInt.toString() for runs of neighbouring values anywhere in int64 (property)', () => {
    // Runs share all but their last digits (the prefix Int64Text reuses); starts anywhere, including where a double
    // quotient by 10^4 rounds (near 2^53) and across sign and the 10^4 boundary.
    const start = fc.oneof(
      fc.bigInt(-(1n << 63n), (1n << 63n) - 100n),
      fc.bigInt((1n << 53n) - 30_000n, (1n << 53n) + 10n),
      fc.bigInt(-20_000n, 20_000n),
      fc.bigInt(1_600_000_000_000n, 1_800_000_000_000n),
    )
    fc.assert(
      fc.property(start, fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 60 }), (from, steps) => {
        const values = [from]
        for (const d of steps) values.push(values.at(-1)! + BigInt(d))
        const t = new Int64Text(BigInt64Array.from(values))
        values.forEach((v, i) => assert.equal(t.string(i), v.toString()))
      }),
      { numRuns: 500 },
    )
  })

  it('natively decoded columns keep byte arrays as positions, the same Buffers whole or sliced', () => {
    const { bytes } = encodeSegment(records, { topic: 't', partition: 0, compression: 'zstd' })
    const layout = layoutOf(bytes, 'seg')
    const rg = layout.rowGroups[0]!
    const c = decodeRowGroupColumns(layout, 0, bytes.subarray(rg.byteStart, rg.byteEnd), 'seg')
    assert.ok(c.bytes, 'the native decoder keeps positions')
    assert.equal(c.bytes.keys.length, c.length)
    for (let i = 0; i < c.length; i++) {
      assert.deepEqual(c.bytes.keys.at(i), records[i]!.key)
      assert.deepEqual(c.bytes.values.at(i), records[i]!.value)
    }
    assert.deepEqual(
      c.keys,
      records.map((r) => r.key),
    )
    assert.equal(c.keys, c.keys, 'the array is made once')
    const s = sliceColumns(c, 7, 40)
    assert.equal(s.bytes!.keys.length, 33)
    assert.deepEqual(s.bytes!.values.at(0), records[7]!.value)
    assert.deepEqual(columnsToRecords(s), records.slice(7, 40))
  })
})

// Segment encode/decode: lossless round trips, determinism, byte-bounded row groups and hostile input.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import {
  FormatError,
  IntegrityError,
  InvalidArgumentError,
  OffsetOrderError,
  UnsupportedFormatVersionError,
} from '../src/errors.js'
import { rawRecordBytes } from '../src/record.js'
import type { ArchiveRecord, RecordHeader } from '../src/record.js'
import { decodeSegment } from '../src/segment/decode.js'
import { assembleSegment, encodeRowGroup, encodeSegment, fitsRowGroup } from '../src/segment/encode.js'
import { layoutOf } from '../src/segment/decode.js'
import { decodeThriftStruct, encodeThriftStruct, getField, listItems } from '../src/segment/thrift.js'
import type { TStruct } from '../src/segment/thrift.js'
import type { SegmentCompression } from '../src/segment/types.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const INT64_MAX = (1n << 63n) - 1n
/** The widest Kafka timestamps (ms) a segment stores: their microseconds fill a signed INT64. */
const MAX_TS = INT64_MAX / 1000n
const opts = { topic: 'orders', partition: 3 }

function rec(offset: bigint, fields: Partial<ArchiveRecord> = {}): ArchiveRecord {
  return { offset, timestamp: 1_700_000_000_000n, key: null, value: null, headers: [], ...fields }
}

function roundTrip(records: ArchiveRecord[], compression?: SegmentCompression, rowGroupBytes?: number) {
  const enc = encodeSegment(records, { ...opts, compression, rowGroupBytes })
  return { enc, out: decodeSegment(enc.bytes, { expectedSha256: enc.sha256, key: 'k' }) }
}

describe('segment round trip', () => {
  it('keeps null vs empty keys and values, every byte value, 1 MiB values and header quirks', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const big = randomBytes(1024 * 1024)
    const records: ArchiveRecord[] = [
      rec(0n, { key: null, value: null }),
      rec(1n, { key: Buffer.alloc(0), value: Buffer.alloc(0) }),
      rec(2n, { key: all, value: Buffer.concat([all, all]) }),
      rec(3n, { key: Buffer.from('big'), value: big }),
      rec(4n, {
        headers: [
          ['dup', Buffer.from('1')],
          ['dup', Buffer.from('2')],
          ['ключ-🔑', Buffer.from('unicode')],
          ['null-value', null],
          ['', Buffer.alloc(0)],
          ['dup', null],
        ],
      }),
      rec(5n, { timestamp: -1n, value: Buffer.from('no timestamp') }),
      rec(6n, { timestamp: 0n }),
      rec(INT64_MAX - 1n, { timestamp: MAX_TS }),
      rec(INT64_MAX, { timestamp: -MAX_TS }),
    ]
    for (const compression of ['zstd', 'snappy', 'gzip', 'lz4', 'none'] as const) {
      const { enc, out } = roundTrip(records, compression)
      assert.deepEqual(out, records, compression)
      assert.equal(enc.firstOffset, 0n)
      assert.equal(enc.lastOffset, INT64_MAX)
      assert.equal(enc.records, records.length)
      assert.equal(enc.minTimestamp, -MAX_TS)
      assert.equal(enc.maxTimestamp, MAX_TS)
      assert.equal(
        enc.rawBytes,
        records.reduce((n, r) => n + rawRecordBytes(r), 0),
      )
    }
  })

  it('returned Buffers stay intact after later encodes and decodes', () => {
    const records = Array.from({ length: 200 }, (_, i) =>
      rec(BigInt(i), { key: Buffer.from(`k${i}`), value: randomBytes(300) }),
    )
    const { out } = roundTrip(records)
    for (let i = 0; i < 5; i++) roundTrip(records.map((r) => ({ ...r, value: randomBytes(5000) })))
    assert.deepEqual(out, records)
  })

  it('round-trips arbitrary records (property)', () => {
    const buf = fc.option(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      { nil: null },
    )
    const header = fc.tuple(fc.string({ unit: 'grapheme', maxLength: 12 }), buf).map(([k, v]): RecordHeader => [k, v])
    const body = fc.record({
      gap: fc.bigInt(1n, 1000n),
      timestamp: fc.bigInt(-1n, 1n << 45n),
      key: buf,
      value: buf,
      headers: fc.array(header, { maxLength: 4 }),
    })
    fc.assert(
      fc.property(
        fc.bigInt(0n, 1n << 62n),
        fc.array(body, { minLength: 1, maxLength: 60 }),
        fc.constantFrom<SegmentCompression>('zstd', 'snappy', 'gzip', 'lz4', 'none'),
        fc.integer({ min: 1, max: 4000 }),
        (start, bodies, compression, rowGroupBytes) => {
          let offset = start
          const records = bodies.map(({ gap, ...r }) => ({ ...r, offset: (offset += gap) }))
          assert.deepEqual(roundTrip(records, compression, rowGroupBytes).out, records)
        },
      ),
      { numRuns: LONG ? 1000 : 60 },
    )
  })
})

describe('segment determinism', () => {
  const records = Array.from({ length: 500 }, (_, i) =>
    rec(BigInt(1000 + i), {
      key: Buffer.from(`user-${i % 17}`),
      value: Buffer.from(JSON.stringify({ i })),
      headers: [['trace', Buffer.from(String(i))]],
    }),
  )

  it('same records and options give identical bytes; another codec gives other bytes', () => {
    const a = encodeSegment(records, opts)
    const b = encodeSegment(
      records.map((r) => ({ ...r })),
      opts,
    )
    assert.equal(a.sha256, b.sha256)
    assert.deepEqual(a.bytes, b.bytes)
    const shas = new Set(
      (['zstd', 'snappy', 'gzip', 'lz4', 'none'] as const).map(
        (compression) => encodeSegment(records, { ...opts, compression }).sha256,
      ),
    )
    assert.equal(shas.size, 5)
    assert.notEqual(encodeSegment(records, { ...opts, partition: 4 }).sha256, a.sha256)
  })

  it('row groups encoded one by one (and sent through structured clone) assemble into the very same segment', async () => {
    const varied = records.map((r, i) => ({ ...r, value: Buffer.alloc((i * 37) % 3000, i) }))
    for (const compression of ['zstd', 'snappy', 'none'] as const) {
      for (const rowGroupBytes of [1, 50_000, undefined]) {
        const whole = encodeSegment(varied, { ...opts, compression, rowGroupBytes })
        // A streaming writer: cut by the shared rule, encode each full group at once, assemble at the end.
        const groups = []
        let group: ArchiveRecord[] = []
        let bytes = 0
        for (const r of varied) {
          const n = rawRecordBytes(r)
          if (!fitsRowGroup(bytes, n, rowGroupBytes ?? 4 * 1024 * 1024)) {
            groups.push(structuredClone(encodeRowGroup(group, { compression })))
            group = []
            bytes = 0
          }
          group.push(r)
          bytes += n
        }
        groups.push(structuredClone(encodeRowGroup(group, { compression })))
        const streamed = assembleSegment(groups, { ...opts, compression })
        assert.equal(streamed.sha256, whole.sha256, `${compression} ${rowGroupBytes}`)
        assert.deepEqual({ ...streamed, bytes: undefined }, { ...whole, bytes: undefined })
        assert.deepEqual(decodeSegment(streamed.bytes), varied)
      }
    }
    assert.throws(() => encodeSegment([rec(2n), rec(1n)], opts), OffsetOrderError)
    const g1 = encodeRowGroup([rec(1n), rec(2n)])
    assert.throws(() => assembleSegment([g1, encodeRowGroup([rec(2n)])], opts), OffsetOrderError)
    assert.throws(() => assembleSegment([g1, encodeRowGroup([rec(3n)], { compression: 'snappy' })], opts), /snappy/)
    assert.throws(() => assembleSegment([], opts), InvalidArgumentError)
    assert.throws(() => encodeRowGroup([]), InvalidArgumentError)
  })

  it('another process writes the same bytes (nothing host- or run-dependent)', () => {
    const script = `
      import { encodeSegment } from ${JSON.stringify(fileURLToPath(new URL('../src/segment/encode.js', import.meta.url)))}
      const records = Array.from({ length: 500 }, (_, i) => ({ offset: BigInt(1000 + i), timestamp: 1700000000000n, key: Buffer.from('user-' + (i % 17)), value: Buffer.from(JSON.stringify({ i })), headers: [['trace', Buffer.from(String(i))]] }))
      console.log(encodeSegment(records, { topic: 'orders', partition: 3 }).sha256)`
    const child = spawnSync(
      process.execPath,
      ['--conditions=everlog-source', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(child.stderr, '')
    assert.equal(child.stdout.trim(), encodeSegment(records, opts).sha256)
  })
})

describe('segment row groups', () => {
  it('each row group ends at the raw-byte bound, whatever the record sizes', () => {
    const rnd = fc.sample(fc.integer({ min: 0, max: 40_000 }), { numRuns: 400, seed: 42 })
    const records = rnd.map((n, i) =>
      rec(BigInt(i), { value: Buffer.alloc(n, i), key: i % 3 ? Buffer.from(`k${i}`) : null }),
    )
    const bound = 256 * 1024
    const enc = encodeSegment(records, { ...opts, rowGroupBytes: bound, compression: 'snappy' })
    const layout = layoutOf(enc.bytes, 'x')
    // Greedy reference: a group closes when the next record would overflow it.
    const expected: number[] = []
    let group = 0
    let count = 0
    for (const r of records) {
      const n = rawRecordBytes(r)
      if (count > 0 && group + n > bound) {
        expected.push(count)
        group = 0
        count = 0
      }
      group += n
      count++
    }
    expected.push(count)
    assert.deepEqual(
      layout.rowGroups.map((g) => g.records),
      expected,
    )
    assert.ok(expected.length > 10)
    let first = 0
    for (const g of layout.rowGroups) {
      const raw = records.slice(first, first + g.records).reduce((n, r) => n + rawRecordBytes(r), 0)
      assert.ok(raw <= bound, `row group ${g.index} holds ${raw} raw bytes`)
      if (first + g.records < records.length) assert.ok(raw + rawRecordBytes(records[first + g.records]!) > bound)
      assert.equal(g.firstOffset, records[first]!.offset)
      assert.equal(g.lastOffset, records[first + g.records - 1]!.offset)
      first += g.records
    }
  })

  it('defaults to 4 MiB groups; a record larger than the bound gets a group of its own', () => {
    const records = Array.from({ length: 10 }, (_, i) => rec(BigInt(i), { value: Buffer.alloc(1024 * 1024, i) }))
    const layout = layoutOf(encodeSegment(records, opts).bytes, 'x')
    assert.deepEqual(
      layout.rowGroups.map((g) => g.records),
      [4, 4, 2],
    )
    const huge = [
      rec(0n, { value: Buffer.alloc(10) }),
      rec(1n, { value: Buffer.alloc(5000) }),
      rec(2n, { value: Buffer.alloc(10) }),
    ]
    const l2 = layoutOf(encodeSegment(huge, { ...opts, rowGroupBytes: 1000 }).bytes, 'x')
    assert.deepEqual(
      l2.rowGroups.map((g) => g.records),
      [1, 1, 1],
    )
  })

  it('many small records fill each group up to the bound (the writer never splits a group by rows)', () => {
    const records = Array.from({ length: 60_000 }, (_, i) => rec(BigInt(i), { value: Buffer.alloc(100, i) }))
    const layout = layoutOf(
      encodeSegment(records, { ...opts, rowGroupBytes: 1024 * 1024, compression: 'none' }).bytes,
      'x',
    )
    const full = Math.floor((1024 * 1024) / 100)
    assert.deepEqual(
      layout.rowGroups.map((g) => g.records),
      [...Array<number>(Math.floor(60_000 / full)).fill(full), 60_000 % full],
    )
  })

  it('row groups carry offset and timestamp bounds, and byte ranges that tile the data', () => {
    const records = Array.from({ length: 300 }, (_, i) =>
      rec(BigInt(i * 3), { timestamp: BigInt(5000 - i * (i % 2 ? 1 : -1)), value: Buffer.alloc(100) }),
    )
    const enc = encodeSegment(records, { ...opts, rowGroupBytes: 2000 })
    const layout = layoutOf(enc.bytes, 'x')
    let at = 4
    let first = 0
    for (const g of layout.rowGroups) {
      assert.equal(g.byteStart, at)
      assert.ok(g.byteEnd > g.byteStart)
      at = g.byteEnd
      const ts = records.slice(first, first + g.records).map((r) => r.timestamp)
      assert.equal(
        g.minTimestamp,
        ts.reduce((a, b) => (a < b ? a : b)),
      )
      assert.equal(
        g.maxTimestamp,
        ts.reduce((a, b) => (a > b ? a : b)),
      )
      first += g.records
    }
    assert.equal(first, records.length)
    assert.deepEqual(Object.fromEntries(Object.entries(layout.metadata).filter(([k]) => k.startsWith('everlog.'))), {
      'everlog.format': '2',
      'everlog.topic': 'orders',
      'everlog.partition': '3',
      'everlog.firstOffset': '0',
      'everlog.lastOffset': '897',
      'everlog.records': '300',
      'everlog.minTimestamp': String(enc.minTimestamp),
      'everlog.maxTimestamp': String(enc.maxTimestamp),
    })
  })
})

describe('segment input validation', () => {
  it('rejects empty input, unordered offsets and bad options with typed errors', () => {
    assert.throws(() => encodeSegment([], opts), InvalidArgumentError)
    assert.throws(() => encodeSegment([rec(5n), rec(5n)], opts), OffsetOrderError)
    assert.throws(() => encodeSegment([rec(5n), rec(4n)], opts), /offset 4 follows 5/)
    assert.throws(() => encodeSegment([rec(-1n)], opts), InvalidArgumentError)
    assert.throws(() => encodeSegment([rec(1n, { timestamp: 1n << 63n })], opts), InvalidArgumentError)
    // Microseconds of these would overflow INT64: refused by name, never wrapped.
    assert.throws(() => encodeSegment([rec(1n, { timestamp: MAX_TS + 1n })], opts), /within ±9223372036854775 ms/)
    assert.throws(() => encodeSegment([rec(1n, { timestamp: -MAX_TS - 1n })], opts), InvalidArgumentError)
    assert.throws(
      () => encodeSegment([rec(1n)], { ...opts, compression: 'brotli' as SegmentCompression }),
      InvalidArgumentError,
    )
    assert.throws(() => encodeSegment([rec(1n)], { ...opts, rowGroupBytes: 0 }), InvalidArgumentError)
    assert.throws(() => encodeSegment([rec(1n)], { ...opts, rowGroupBytes: 2 ** 31 }), InvalidArgumentError)
    assert.throws(() => encodeSegment([rec(1n)], { ...opts, topic: 'bad/topic' }))
    // Strings where bytes belong would be mangled silently by a typed-array copy.
    const notBytes = 'text' as unknown as Buffer
    assert.throws(() => encodeSegment([rec(1n, { value: notBytes })], opts), /value must be a Buffer/)
    assert.throws(() => encodeSegment([rec(1n, { key: notBytes })], opts), /key must be a Buffer/)
    assert.throws(() => encodeSegment([rec(1n, { headers: [['h', notBytes]] })], opts), /header value must be a Buffer/)
  })
})

describe('segment corruption', () => {
  const records = Array.from({ length: 400 }, (_, i) =>
    rec(BigInt(i), {
      key: Buffer.from(`k${i}`),
      value: Buffer.from('x'.repeat(i % 90)),
      headers: i % 4 ? [] : [['h', Buffer.from('v')]],
    }),
  )
  const enc = encodeSegment(records, { ...opts, rowGroupBytes: 4000 })

  it('a hash mismatch is an IntegrityError naming the key', () => {
    const bad = Uint8Array.from(enc.bytes)
    bad[100]! ^= 0xff
    assert.throws(
      () => decodeSegment(bad, { expectedSha256: enc.sha256, key: 'orders/data/partition=3/x.parquet' }),
      (err: unknown) =>
        err instanceof IntegrityError &&
        err.key === 'orders/data/partition=3/x.parquet' &&
        /orders\/data/.test(err.message),
    )
  })

  it('garbage, truncated and footer-damaged input is a FormatError', () => {
    const inputs: Uint8Array[] = [
      new Uint8Array(0),
      Buffer.from('PAR1'),
      Buffer.from('PAR1PAR1'),
      Buffer.from('not parquet at all, just text'),
      enc.bytes.subarray(0, enc.bytes.length - 1),
      enc.bytes.subarray(0, enc.bytes.length / 2),
      enc.bytes.subarray(1),
      randomBytes(5000),
      Buffer.concat([Buffer.from('PAR1'), randomBytes(1000), Buffer.from([200, 0, 0, 0]), Buffer.from('PAR1')]),
    ]
    const footerLen = Buffer.from(enc.bytes).readUInt32LE(enc.bytes.length - 8)
    for (let i = 0; i < 200; i++) {
      const b = Uint8Array.from(enc.bytes)
      b[b.length - 8 - 1 - ((i * 7919) % footerLen)]! ^= 1 + (i % 255)
      inputs.push(b)
    }
    let decoded = 0
    for (const input of inputs) {
      try {
        decodeSegment(input)
        decoded++
      } catch (err) {
        assert.ok(err instanceof FormatError || err instanceof UnsupportedFormatVersionError, `${String(err)}`)
      }
    }
    // The hand-crafted ones can never decode.
    assert.ok(decoded <= inputs.length - 9)
  })

  it('damaged column data never crashes: FormatError or records, and the hash always catches it', () => {
    const dataEnd = layoutOf(enc.bytes, 'x').rowGroups.at(-1)!.byteEnd
    for (let i = 0; i < (LONG ? 3000 : 300); i++) {
      const b = Uint8Array.from(enc.bytes)
      b[4 + ((i * 104729) % (dataEnd - 4))]! ^= 1 + (i % 255)
      try {
        decodeSegment(b)
      } catch (err) {
        assert.ok(err instanceof FormatError, String(err))
      }
      assert.throws(() => decodeSegment(b, { expectedSha256: enc.sha256 }), IntegrityError)
    }
    assert.deepEqual(decodeSegment(enc.bytes), records)
  })

  it('a segment of a future format version is refused with UnsupportedFormatVersionError', () => {
    const b = Buffer.from(enc.bytes)
    const len = b.readUInt32LE(b.length - 8)
    const meta = decodeThriftStruct(b.subarray(b.length - 8 - len, b.length - 8))
    for (const kv of listItems(getField(meta, 5))) {
      const k = getField(kv, 1)
      if (k instanceof Uint8Array && Buffer.from(k).toString() === 'everlog.format') {
        ;(kv as TStruct).fields.find((f) => f.id === 2)!.value = Buffer.from('99')
      }
    }
    const footer = encodeThriftStruct(meta)
    const tail = Buffer.alloc(8)
    tail.writeUInt32LE(footer.length, 0)
    tail.write('PAR1', 4)
    const future = Buffer.concat([b.subarray(0, b.length - 8 - len), footer, tail])
    assert.throws(() => decodeSegment(future), UnsupportedFormatVersionError)
  })
})

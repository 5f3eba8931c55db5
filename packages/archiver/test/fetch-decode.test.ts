// The archiver's own Fetch decoding, judged against kafkajs' record batch encoder (an implementation nobody here
// wrote): every codec, null and empty keys and values, headers, transactions, LogAppendTime, a batch cut off at the
// end of a response, and malformed input that must throw before anything of it is buffered.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FormatError, unpackRecords } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { decodeFetchResponse } from '../src/fetch/fetch-response.js'
import { BatchRecords, forEachArchivableBatch, offsetAfterWholeBatches } from '../src/fetch/record-batches.js'
import type { AbortedTransaction } from '../src/fetch/record-batches.js'
import { PackedRecordsBuilder } from '../src/packed-records.js'
import { ATTRIBUTES, decodeInto, encodeBatch as encode, markerBatch as marker } from './record-batches.js'

function decode(records: Buffer, aborted: AbortedTransaction[] | null = null) {
  const builder = new PackedRecordsBuilder()
  const next = decodeInto(builder, records, aborted)
  return { next, records: unpackRecords(builder.finish()) }
}

function record(offset: number, i: number): ArchiveRecord {
  const pick = i % 5
  return {
    offset: BigInt(offset),
    timestamp: BigInt(1_700_000_000_000 + offset * 7),
    key: pick === 0 ? null : pick === 1 ? Buffer.alloc(0) : Buffer.from(`key-${offset}`),
    value: pick === 2 ? null : Buffer.from(`value ${offset} ${'é'.repeat(i % 40)}`),
    headers:
      pick === 3
        ? [
            ['trace', Buffer.from(`t${offset}`)],
            ['trace', Buffer.from('again')],
            ['ünï', Buffer.alloc(0)],
          ]
        : [],
  }
}

const plain = (rs: ArchiveRecord[]) =>
  rs.map((r) => ({
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key === null ? null : Buffer.from(r.key).toString('hex'),
    value: r.value === null ? null : Buffer.from(r.value).toString('hex'),
    headers: r.headers.map(([k, v]) => [k, v === null ? null : Buffer.from(v).toString('hex')]),
  }))

describe('fetch decoding against kafkajs-encoded record batches', () => {
  for (const [name, compression] of [
    ['none', 0],
    ['gzip', 1],
    ['snappy', 2],
    ['lz4', 3],
    ['zstd', 4],
  ] as const) {
    test(`codec ${name}: keys, values, nulls, empties and headers come out exactly`, async () => {
      const expected: ArchiveRecord[] = []
      const batches: Buffer[] = []
      let offset = 100
      for (let b = 0; b < 6; b++) {
        const rs = Array.from({ length: 1 + ((b * 7) % 23) }, (_, i) => record(offset + i * (b % 2 === 0 ? 1 : 3), i))
        batches.push(
          await encode({ baseOffset: offset, baseTimestamp: Number(rs[0]!.timestamp) - 5, records: rs, compression }),
        )
        expected.push(...rs)
        offset = Number(rs.at(-1)!.offset) + 1
      }
      const { next, records } = decode(Buffer.concat(batches))
      assert.deepEqual(plain(records), plain(expected))
      assert.equal(next, offset)
      assert.equal(offsetAfterWholeBatches(Buffer.concat(batches)), offset)
    })
  }

  test('a batch cut off at the end of the response is left for the next fetch', async () => {
    const a = await encode({ baseOffset: 0, baseTimestamp: 0, records: [record(0, 2), record(1, 3)] })
    const b = await encode({ baseOffset: 2, baseTimestamp: 0, records: [record(2, 2), record(3, 4)] })
    for (const cut of [1, 30, 61, b.length - 1]) {
      const { next, records } = decode(Buffer.concat([a, b.subarray(0, cut)]))
      assert.deepEqual(
        records.map((r) => r.offset),
        [0n, 1n],
        `cut at ${cut}`,
      )
      assert.equal(next, 2)
    }
    assert.equal(decode(b.subarray(0, 40)).next, -1)
  })

  test("read_committed: aborted data and control batches are dropped, as Kafka's consumer drops them", async () => {
    const txn = (offset: number, producerId: number, n: number) =>
      encode({
        baseOffset: offset,
        baseTimestamp: 0,
        producerId,
        transactional: true,
        records: Array.from({ length: n }, (_, i) => record(offset + i, 4)),
      })
    const response = Buffer.concat([
      await txn(0, 7, 3), // 0-2 aborted
      await txn(3, 8, 2), // 3-4 committed
      await encode({ baseOffset: 5, baseTimestamp: 0, records: [record(5, 4)] }), // not transactional
      await marker(6, 7, false),
      await marker(7, 8, true),
      await txn(8, 7, 2), // 8-9: producer 7's next transaction, committed
      await marker(10, 7, true),
    ])
    const aborted = [{ producerId: 7n, firstOffset: 0n }]
    const { next, records } = decode(response, aborted)
    assert.deepEqual(
      records.map((r) => r.offset),
      [3n, 4n, 5n, 8n, 9n],
    )
    assert.equal(next, 11)
    // read without the aborted list (nothing aborted in range), only control batches go
    assert.deepEqual(
      decode(response, []).records.map((r) => r.offset),
      [0n, 1n, 2n, 3n, 4n, 5n, 8n, 9n],
    )
  })

  test('LogAppendTime: every record carries the batch max timestamp', async () => {
    const b = await encode({ baseOffset: 0, baseTimestamp: 1000, records: [record(0, 4), record(1, 4)] })
    b.writeInt16BE(b.readInt16BE(ATTRIBUTES) | 0x08, ATTRIBUTES)
    assert.deepEqual(
      decode(b).records.map((r) => r.timestamp),
      [2000n, 2000n],
    )
  })

  test('malformed input throws a FormatError before anything of the bad record is buffered', async () => {
    const good = await encode({ baseOffset: 0, baseTimestamp: 0, records: [record(0, 4), record(1, 4)] })
    // The second record's length runs past the batch: the first record is kept, the second never half-written.
    const longRecord = Buffer.from(good)
    const second = 61 + 1 + longRecord[61]! / 2 // after the first record (its length is a one-byte zigzag varint)
    longRecord[second] = 0x7e // zigzag 63... beyond the bytes left
    longRecord[second + 1] = 0x01
    const builder = new PackedRecordsBuilder()
    const cursor = new BatchRecords()
    assert.throws(
      () =>
        forEachArchivableBatch(longRecord, null, (batch) => {
          cursor.start(batch)
          while (cursor.next()) builder.addWireRecord(cursor)
        }),
      FormatError,
    )
    assert.equal(builder.count, 1)
    assert.deepEqual(
      unpackRecords(builder.finish()).map((r) => r.offset),
      [0n],
    )

    const oldFormat = Buffer.from(good)
    oldFormat.writeInt8(1, 16)
    assert.throws(() => decode(oldFormat), /message format v1 .*format v2 only/)

    const badCodec = Buffer.from(good)
    badCodec.writeInt16BE(7, ATTRIBUTES)
    assert.throws(() => decode(badCodec), /unknown compression codec 7/)
  })
})

describe('Fetch response decoding', () => {
  /** A response built field by field, as the protocol guide lays it out. */
  function response(version: number, records: Buffer | null): Buffer {
    const parts: Buffer[] = []
    const i16 = (v: number) => parts.push(Buffer.from([(v >> 8) & 0xff, v & 0xff]))
    const i32 = (v: number) => {
      const b = Buffer.alloc(4)
      b.writeInt32BE(v)
      parts.push(b)
    }
    const i64 = (v: bigint) => {
      const b = Buffer.alloc(8)
      b.writeBigInt64BE(v)
      parts.push(b)
    }
    const str = (s: string) => {
      i16(Buffer.byteLength(s))
      parts.push(Buffer.from(s))
    }
    i32(0) // throttle
    if (version >= 7) {
      i16(0)
      i32(0)
    }
    i32(2) // topics
    for (const topic of ['orders', 'payments']) {
      str(topic)
      i32(1)
      i32(topic === 'orders' ? 3 : 0) // partition
      i16(topic === 'orders' ? 0 : 1) // error: OFFSET_OUT_OF_RANGE for payments
      i64(42n) // high watermark
      i64(40n) // last stable offset
      if (version >= 5) i64(7n)
      if (topic === 'orders') {
        i32(1)
        i64(99n)
        i64(5n)
      } else i32(-1)
      if (version >= 11) i32(-1)
      const r = topic === 'orders' ? records : null
      i32(r === null ? -1 : r.length)
      if (r) parts.push(r)
    }
    return Buffer.concat(parts)
  }

  for (const version of [4, 5, 7, 11]) {
    test(`v${version}: partition headers, aborted transactions and a view of the records`, async () => {
      const records = await encode({ baseOffset: 0, baseTimestamp: 0, records: [record(0, 3)] })
      const decoded = decodeFetchResponse(response(version, records), version)
      assert.equal(decoded.errorCode, 0)
      const [orders, payments] = decoded.partitions
      assert.equal(orders!.topic, 'orders')
      assert.equal(orders!.partition, 3)
      assert.equal(orders!.highWatermark, 42n)
      assert.equal(orders!.lastStableOffset, 40n)
      assert.equal(orders!.logStartOffset, version >= 5 ? 7n : -1n)
      assert.deepEqual(orders!.abortedTransactions, [{ producerId: 99n, firstOffset: 5n }])
      assert.deepEqual(orders!.records, records)
      assert.equal(payments!.errorCode, 1)
      assert.equal(payments!.abortedTransactions, null)
      assert.equal(payments!.records, null)
    })
  }

  test('a truncated response throws a FormatError naming what was being read', () => {
    const full = response(11, Buffer.alloc(100))
    for (const cut of [2, 20, full.length - 50]) {
      assert.throws(() => decodeFetchResponse(full.subarray(0, cut), 11), FormatError)
    }
    assert.throws(() => decodeFetchResponse(full, 3), /Fetch v3 responses cannot be decoded/)
  })
})

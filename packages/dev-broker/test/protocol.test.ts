// Wire primitives (property-tested round trips, CRC32C vector) and the API versions no bundled client exercises:
// Metadata v0 and flexible v9, ListOffsets v0, Produce v0 and Fetch v0 framing, DescribeConfigs v0.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { startDevBroker, type DevBroker } from '../src/broker.js'
import { KafkaErrors } from '../src/protocol/errors.js'
import { Reader, MalformedFrameError } from '../src/protocol/reader.js'
import { crc32c, encodeBatch, decodeRecords, readBatchInfo, splitBatches } from '../src/protocol/record-batch.js'
import { Writer } from '../src/protocol/writer.js'
import { WireClient } from '../src/testing/wire-client.js'

describe('wire primitives', () => {
  test('CRC32C matches the standard check value and detects a flipped bit', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
    const data = Buffer.from('the quick brown fox jumps over the lazy dog, twice over')
    const before = crc32c(data)
    data[17] ^= 0x04
    assert.notEqual(crc32c(data), before)
  })

  test('every primitive round-trips, classic and flexible', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.string(),
        fc.option(fc.string(), { nil: null }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 20 }),
        fc.boolean(),
        (i32, i64, u32, s, ns, bytes, shorts, flexible) => {
          const w = new Writer(16)
          w.int32(i32).int64(i64).uint32(u32).varint(i32).varlong(i64).uvarint(u32)
          w.str(flexible, s).nstr(flexible, ns).byts(flexible, bytes).nbytes(flexible, null)
          w.array(flexible, shorts, (w, v) => w.int16(v)).tags(flexible)
          w.uuid(Buffer.alloc(16, 7))
          const r = new Reader(w.toBuffer())
          assert.equal(r.int32(), i32)
          assert.equal(r.int64(), i64)
          assert.equal(r.uint32(), u32)
          assert.equal(r.varint(), i32)
          assert.equal(r.varlong(), i64)
          assert.equal(r.uvarint(), u32)
          assert.equal(r.str(flexible), s)
          assert.equal(r.nstr(flexible), ns)
          assert.deepEqual(new Uint8Array(r.byts(flexible)), bytes)
          assert.equal(r.nbytes(flexible), null)
          assert.deepEqual(
            r.array(flexible, (r) => r.int16()),
            shorts,
          )
          r.taggedFields(flexible)
          assert.deepEqual(r.uuid(), Buffer.alloc(16, 7))
          assert.equal(r.remaining, 0)
        },
      ),
      { numRuns: process.env.EVERLOG_LONG_TESTS === '1' ? 20_000 : 300 },
    )
  })

  test('reads past the frame and lying array lengths throw MalformedFrameError', () => {
    assert.throws(() => new Reader(Buffer.from([0, 5, 65])).string(), MalformedFrameError)
    assert.throws(
      () => new Reader(Buffer.from([0x7f, 0xff, 0xff, 0xff])).array(false, (r) => r.int8()),
      MalformedFrameError,
    )
    assert.throws(() => new Reader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).uvarint(), MalformedFrameError)
  })

  test('encoded batches split, verify and decode back with offset holes kept', () => {
    const recs = [0, 3, 4].map((d) => ({
      offset: 100 + d,
      timestamp: 5000 + d,
      key: Buffer.from(`k${d}`),
      value: d === 3 ? null : Buffer.from(`v${d}`),
      headers: [['h', Buffer.from('x')]] as Array<[string, Buffer | null]>,
    }))
    const b = encodeBatch(recs, {
      baseOffset: 100,
      lastOffset: 106,
      attributes: 0,
      producerId: 9n,
      producerEpoch: 1,
      baseSequence: 4,
    })
    const twice = Buffer.concat([b, b])
    const split = splitBatches(twice)
    assert.equal(split.error, undefined)
    assert.equal(split.batches.length, 2)
    const info = readBatchInfo(b)
    assert.equal(info.lastOffsetDelta, 6)
    assert.equal(info.producerId, 9n)
    assert.deepEqual(decodeRecords(info, b.subarray(61)), recs)
  })
})

describe('old and flexible API versions on the wire', () => {
  let broker: DevBroker
  let c: WireClient
  before(async () => {
    broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
    broker.createTopic('wire', { partitions: 2 })
    c = await WireClient.connect(broker.host, broker.port)
  })
  after(async () => {
    c.close()
    await broker.close()
  })

  test('Metadata v0 (empty list = all topics) and flexible v9 with auto-creation', async () => {
    const r0 = await c.request(3, 0, (w) => w.int32(0))
    const brokers0 = r0.array(false, (r) => [r.int32(), r.string(), r.int32()])
    assert.deepEqual(brokers0, [[0, '127.0.0.1', broker.port]])
    const topics0 = r0.array(false, (r) => {
      const t = { error: r.int16(), name: r.string() }
      const parts = r.array(false, (r) => {
        const p = [r.int16(), r.int32(), r.int32()]
        r.array(false, (r) => r.int32())
        r.array(false, (r) => r.int32())
        return p
      })
      return { ...t, parts }
    })
    assert.deepEqual(topics0, [
      {
        error: 0,
        name: 'wire',
        parts: [
          [0, 0, 0],
          [0, 1, 0],
        ],
      },
    ])
    assert.equal(r0.remaining, 0)

    const r9 = await c.request(
      3,
      9,
      (w) => {
        w.uvarint(3).compactString('wire').tags().compactString('auto9').tags()
        w.bool(true).bool(false).bool(false).tags()
      },
      { flexibleHeader: true },
    )
    r9.taggedFields() // response header v1
    assert.equal(r9.int32(), 0)
    const brokers9 = r9.array(true, (r) => {
      const b = [r.int32(), r.compactString(), r.int32(), r.compactNullableString()]
      r.taggedFields()
      return b
    })
    assert.deepEqual(brokers9, [[0, '127.0.0.1', broker.port, null]])
    assert.match(r9.compactNullableString() ?? '', /^everlog-dev-/)
    assert.equal(r9.int32(), 0)
    const topics9 = r9.array(true, (r) => {
      const error = r.int16()
      const name = r.compactString()
      r.bool()
      const parts = r.array(true, (r) => {
        const p = { error: r.int16(), index: r.int32(), leader: r.int32(), epoch: r.int32() }
        r.array(true, (r) => r.int32())
        r.array(true, (r) => r.int32())
        r.array(true, (r) => r.int32())
        r.taggedFields()
        return p
      })
      r.int32()
      r.taggedFields()
      return { error, name, parts: parts.length }
    })
    r9.int32()
    r9.taggedFields()
    assert.equal(r9.remaining, 0)
    assert.deepEqual(topics9, [
      { error: 0, name: 'wire', parts: 2 },
      { error: 0, name: 'auto9', parts: 1 },
    ])
    assert.ok(broker.state.topics.has('auto9'))
  })

  test('Produce v0 and Fetch v0 frame their older responses; ListOffsets v0 answers old-style offsets', async () => {
    const batch = encodeBatch([{ offset: 0, timestamp: 1, key: null, value: Buffer.from('old'), headers: [] }], {
      baseOffset: 0,
      attributes: 0,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
    })
    const p = await c.request(0, 0, (w) =>
      w.int16(1).int32(1000).int32(1).string('wire').int32(1).int32(1).bytes(batch),
    )
    assert.equal(p.int32(), 1)
    assert.equal(p.string(), 'wire')
    assert.equal(p.int32(), 1)
    assert.deepEqual([p.int32(), p.int16(), p.int64n()], [1, 0, 0])
    assert.equal(p.remaining, 0, 'v0 has no throttle time or append time')

    const f = await c.request(1, 0, (w) =>
      w
        .int32(-1)
        .int32(0)
        .int32(0)
        .int32(1)
        .string('wire')
        .int32(1)
        .int32(1)
        .int64(0)
        .int32(1 << 20),
    )
    f.int32()
    f.string()
    f.int32()
    assert.deepEqual([f.int32(), f.int16(), f.int64n()], [1, 0, 1])
    assert.deepEqual(f.bytes(), batch)
    assert.equal(f.remaining, 0)

    const l = await c.request(2, 0, (w) => w.int32(-1).int32(1).string('wire').int32(1).int32(1).int64(-1).int32(1))
    l.int32()
    l.string()
    l.int32()
    assert.deepEqual([l.int32(), l.int16()], [1, 0])
    assert.deepEqual(
      l.array(false, (r) => r.int64n()),
      [1],
    )
    const u = await c.request(2, 1, (w) => w.int32(-1).int32(1).string('nope').int32(1).int32(0).int64(-1))
    u.int32()
    u.string()
    u.int32()
    assert.deepEqual([u.int32(), u.int16()], [0, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code])
  })

  test('a Metadata response far larger than the writer scratch buffer decodes intact', async () => {
    for (let i = 0; i < 300; i++) broker.createTopic(`many-${String(i).padStart(3, '0')}`, { partitions: 3 })
    const r = await c.request(3, 1, (w) => w.int32(-1))
    r.array(false, (r) => [r.int32(), r.string(), r.int32(), r.nullableString()])
    r.int32()
    const names = r.array(false, (r) => {
      assert.equal(r.int16(), 0)
      const name = r.string()
      r.bool()
      const parts = r.array(false, (r) => {
        const p = [r.int16(), r.int32(), r.int32()]
        r.array(false, (r) => r.int32())
        r.array(false, (r) => r.int32())
        return p
      })
      assert.deepEqual(
        parts.map((p) => p[1]),
        name.startsWith('many-') ? [0, 1, 2] : parts.map((p) => p[1]),
      )
      return name
    })
    assert.equal(r.remaining, 0)
    assert.equal(names.filter((n) => n.startsWith('many-')).length, 300)
    for (const n of names.filter((n) => n.startsWith('many-'))) broker.state.deleteTopic(n)
  })

  test('Fetch limits: whole batches only, at least one even if over the limit, max_bytes across partitions', async () => {
    broker.createTopic('limits', { partitions: 2 })
    const log0 = broker.state.partition('limits', 0)!
    const log1 = broker.state.partition('limits', 1)!
    const mk = (i: number) =>
      encodeBatch([{ offset: 0, timestamp: 1, key: null, value: Buffer.alloc(1000, 97 + i), headers: [] }], {
        baseOffset: 0,
        attributes: 0,
        producerId: -1n,
        producerEpoch: -1,
        baseSequence: -1,
      })
    for (let i = 0; i < 3; i++) log0.append(mk(i), 0, false)
    log1.append(mk(9), 0, false)
    const size = log0.batches[0]!.buf.length
    const fetch = async (maxBytes: number, partMax: number) => {
      const r = await c.request(1, 4, (w) => {
        w.int32(-1).int32(0).int32(0).int32(maxBytes).int8(0)
        w.int32(1).string('limits').int32(2)
        w.int32(0).int64(0).int32(partMax)
        w.int32(1).int64(0).int32(partMax)
      })
      r.int32()
      r.int32()
      r.string()
      return r.array(false, (r) => {
        r.int32()
        r.int16()
        r.int64()
        r.int64()
        r.array(false, (r) => r.int64() + r.int64())
        return r.bytes().length
      })
    }
    assert.deepEqual(await fetch(1 << 20, 10), [size, 0], 'one whole batch despite a 10-byte partition limit')
    assert.deepEqual(await fetch(1 << 20, Math.floor(size * 2.5)), [size * 2, size])
    assert.deepEqual(await fetch(Math.floor(size * 1.5), 1 << 20), [size, 0], 'max_bytes spent on partition 0')
  })

  test('CreateTopics rejects bad configs by name; DescribeConfigs v0 reports is_default', async () => {
    const ct = await c.request(19, 1, (w) => {
      w.int32(1).string('badcfg').int32(1).int16(1).int32(0)
      w.int32(1).string('cleanup.policy').nullableString('shred')
      w.int32(1000).bool(false)
    })
    ct.int32()
    assert.equal(ct.string(), 'badcfg')
    assert.equal(ct.int16(), KafkaErrors.INVALID_CONFIG.code)
    assert.match(ct.nullableString() ?? '', /cleanup\.policy must be/)
    assert.equal(broker.state.topics.has('badcfg'), false)

    broker.createTopic('cfg', { configs: { 'retention.ms': '5000' } })
    const dc = await c.request(32, 0, (w) => {
      w.int32(1).int8(2).string('cfg').int32(2).string('retention.ms').string('retention.bytes')
    })
    dc.int32()
    dc.int32()
    assert.deepEqual([dc.int16(), dc.nullableString(), dc.int8(), dc.string()], [0, null, 2, 'cfg'])
    const entries = dc.array(false, (r) => [r.string(), r.nullableString(), r.bool(), r.bool(), r.bool()])
    assert.deepEqual(entries, [
      ['retention.ms', '5000', false, false, false],
      ['retention.bytes', '-1', false, true, false],
    ])
  })
})

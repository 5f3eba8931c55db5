// Idempotent producer sequence checks (raw wire and kafkajs) and transactions through kafkajs: committed records
// visible, aborted ones hidden from read_committed but visible to read_uncommitted, LSO, fencing, sendOffsets.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { startDevBroker, type DevBroker } from '../src/broker.js'
import { KafkaErrors } from '../src/protocol/errors.js'
import { encodeBatch, type DecodedRecord } from '../src/protocol/record-batch.js'
import type { Writer } from '../src/protocol/writer.js'
import { WireClient } from '../src/testing/wire-client.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

let groupSeq = 0
async function consumeValues(kafka: Kafka, topic: string, count: number, readUncommitted: boolean) {
  const consumer = kafka.consumer({ groupId: `tx-${groupSeq++}`, readUncommitted, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got: Array<[string, string]> = []
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(got)}, wanted ${count}`)), 15_000)
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push([message.offset, String(message.value)])
          if (got.length === count) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
    // give a wrong implementation the chance to deliver more than it should
    await new Promise((r) => setTimeout(r, 300))
  } finally {
    await consumer.disconnect()
  }
  return got
}

function produceBody(topic: string, batch: Buffer, transactionalId: string | null = null) {
  return (w: Writer) => {
    w.nullableString(transactionalId).int16(-1).int32(5000)
    w.int32(1).string(topic).int32(1).int32(0).bytes(batch)
  }
}

async function produceRaw(c: WireClient, topic: string, batch: Buffer) {
  const r = await c.request(0, 7, produceBody(topic, batch))
  r.int32()
  r.string()
  r.int32()
  r.int32()
  const error = r.int16()
  const baseOffset = r.int64n()
  return { error, baseOffset }
}

function records(n: number, from = 0): DecodedRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: i,
    timestamp: 1_700_000_000_000 + i,
    key: Buffer.from(`k${from + i}`),
    value: Buffer.from(`v${from + i}`),
    headers: [],
  }))
}

describe('idempotence and transactions', () => {
  let broker: DevBroker
  let kafka: Kafka
  let admin: Admin

  before(async () => {
    broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
    kafka = new Kafka({ clientId: 'txn-test', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    admin = kafka.admin()
    await admin.connect()
  })
  after(async () => {
    await admin.disconnect()
    await broker.close()
  })

  test('raw wire: a retried batch is acknowledged with its original offset, not appended twice; gaps give OUT_OF_ORDER_SEQUENCE_NUMBER', async () => {
    broker.createTopic('idem')
    const c = await WireClient.connect(broker.host, broker.port)
    try {
      const init = await c.request(22, 1, (w) => w.nullableString(null).int32(60_000))
      init.int32()
      assert.equal(init.int16(), 0)
      const pid = init.int64()
      const epoch = init.int16()
      const batch = (seq: number, n: number) =>
        encodeBatch(records(n, seq), {
          baseOffset: 0,
          attributes: 0,
          producerId: pid,
          producerEpoch: epoch,
          baseSequence: seq,
        })

      assert.deepEqual(await produceRaw(c, 'idem', batch(0, 3)), { error: 0, baseOffset: 0 })
      // a retry of the same batch (its answer was lost) succeeds with the original offset and is not appended twice
      assert.deepEqual(await produceRaw(c, 'idem', batch(0, 3)), { error: 0, baseOffset: 0 })
      assert.equal(broker.highWatermark('idem', 0), 3)
      assert.equal((await produceRaw(c, 'idem', batch(7, 1))).error, KafkaErrors.OUT_OF_ORDER_SEQUENCE_NUMBER.code)
      assert.deepEqual(await produceRaw(c, 'idem', batch(3, 2)), { error: 0, baseOffset: 3 })
      assert.equal(broker.highWatermark('idem', 0), 5)

      // a corrupted CRC is rejected and nothing is appended
      const bad = batch(5, 1)
      bad[bad.length - 1] ^= 0xff
      assert.equal((await produceRaw(c, 'idem', bad)).error, KafkaErrors.CORRUPT_MESSAGE.code)
      const oldMagic = batch(5, 1)
      oldMagic[16] = 1
      assert.equal((await produceRaw(c, 'idem', oldMagic)).error, KafkaErrors.UNSUPPORTED_FOR_MESSAGE_FORMAT.code)
      assert.equal(broker.highWatermark('idem', 0), 5)
    } finally {
      c.close()
    }
  })

  test('kafkajs idempotent producer writes each record once', async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    for (let i = 0; i < 5; i++) {
      await producer.send({ topic: 'idem-js', messages: [{ value: `a${i}` }, { value: `b${i}` }] })
    }
    await producer.disconnect()
    const got = await consumeValues(kafka, 'idem-js', 10, false)
    assert.deepEqual(
      got.map(([, v]) => v),
      ['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4'],
    )
    const log = broker.state.partition('idem-js', 0)!
    assert.ok(log.batches.every((b) => b.producerId >= 0n))
  })

  test('committed visible, aborted hidden from read_committed and visible to read_uncommitted', async () => {
    await admin.createTopics({ topics: [{ topic: 'tx' }] })
    const producer = kafka.producer({ transactionalId: 'tx-1', idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    let t = await producer.transaction()
    await t.send({ topic: 'tx', messages: [{ value: 'c1' }, { value: 'c2' }] })
    await t.commit()
    t = await producer.transaction()
    await t.send({ topic: 'tx', messages: [{ value: 'a1' }, { value: 'a2' }] })
    await t.abort()
    t = await producer.transaction()
    await t.send({ topic: 'tx', messages: [{ value: 'c3' }] })
    await t.commit()
    await producer.disconnect()

    // offsets: c1 0, c2 1, COMMIT 2, a1 3, a2 4, ABORT 5, c3 6, COMMIT 7
    assert.equal(broker.highWatermark('tx', 0), 8)
    assert.deepEqual(await consumeValues(kafka, 'tx', 3, false), [
      ['0', 'c1'],
      ['1', 'c2'],
      ['6', 'c3'],
    ])
    assert.deepEqual(await consumeValues(kafka, 'tx', 5, true), [
      ['0', 'c1'],
      ['1', 'c2'],
      ['3', 'a1'],
      ['4', 'a2'],
      ['6', 'c3'],
    ])
  })

  test('an open transaction holds the last stable offset; read_committed waits for the commit', async () => {
    await admin.createTopics({ topics: [{ topic: 'lso' }] })
    const plain = kafka.producer()
    await plain.connect()
    await plain.send({ topic: 'lso', messages: [{ value: 'before' }] })
    const producer = kafka.producer({ transactionalId: 'tx-lso', idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const t = await producer.transaction()
    await t.send({ topic: 'lso', messages: [{ value: 'pending' }] })
    await plain.send({ topic: 'lso', messages: [{ value: 'after' }] })
    const log = broker.state.partition('lso', 0)!
    assert.equal(log.highWatermark, 3)
    assert.equal(log.lastStableOffset, 1)

    const c = await WireClient.connect(broker.host, broker.port)
    const listLatest = async (isolation: number) => {
      const r = await c.request(2, 2, (w) => {
        w.int32(-1).int8(isolation).int32(1).string('lso').int32(1).int32(0).int64(-1)
      })
      r.int32()
      r.int32()
      r.string()
      r.int32()
      r.int32()
      assert.equal(r.int16(), 0)
      r.int64()
      return r.int64n()
    }
    assert.equal(await listLatest(1), 1)
    assert.equal(await listLatest(0), 3)
    c.close()

    assert.deepEqual(await consumeValues(kafka, 'lso', 1, false), [['0', 'before']])
    await t.commit()
    assert.deepEqual(await consumeValues(kafka, 'lso', 3, false), [
      ['0', 'before'],
      ['1', 'pending'],
      ['2', 'after'],
    ])
    await producer.disconnect()
    await plain.disconnect()
  })

  test('a second producer with the same transactional id fences the first', async () => {
    await admin.createTopics({ topics: [{ topic: 'fence' }] })
    const first = kafka.producer({ transactionalId: 'tx-fence', idempotent: true, maxInFlightRequests: 1 })
    await first.connect()
    const t1 = await first.transaction()
    await t1.send({ topic: 'fence', messages: [{ value: 'zombie' }] })
    const second = kafka.producer({ transactionalId: 'tx-fence', idempotent: true, maxInFlightRequests: 1 })
    await second.connect()
    // its InitProducerId bumps the epoch and aborts the zombie's open transaction
    const t2 = await second.transaction()
    await assert.rejects(t1.commit(), (err: { type?: string }) => err.type === 'INVALID_PRODUCER_EPOCH')
    await t2.send({ topic: 'fence', messages: [{ value: 'live' }] })
    await t2.commit()
    await first.disconnect().catch(() => undefined)
    await second.disconnect()
    assert.deepEqual(
      (await consumeValues(kafka, 'fence', 1, false)).map(([, v]) => v),
      ['live'],
    )
  })

  test('sendOffsets inside a transaction commits the group offset only on commit', async () => {
    await admin.createTopics({ topics: [{ topic: 'tx-offsets' }] })
    const producer = kafka.producer({ transactionalId: 'tx-off', idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const offsetsOf = async () => (await admin.fetchOffsets({ groupId: 'txg', topics: ['tx-offsets'] }))[0]!.partitions
    let t = await producer.transaction()
    await t.send({ topic: 'tx-offsets', messages: [{ value: 'x' }] })
    await t.sendOffsets({
      consumerGroupId: 'txg',
      topics: [{ topic: 'tx-offsets', partitions: [{ partition: 0, offset: '5' }] }],
    })
    await t.abort()
    assert.deepEqual(await offsetsOf(), [{ partition: 0, offset: '-1', metadata: null }])
    t = await producer.transaction()
    await t.sendOffsets({
      consumerGroupId: 'txg',
      topics: [{ topic: 'tx-offsets', partitions: [{ partition: 0, offset: '7' }] }],
    })
    await t.commit()
    assert.deepEqual(await offsetsOf(), [{ partition: 0, offset: '7', metadata: null }])
    await producer.disconnect()
  })

  test('a transaction past its timeout is aborted by the coordinator and its producer fenced', async () => {
    let clock = 1_700_000_000_000
    const timed = await startDevBroker({ retentionCheckIntervalMs: 0, now: () => clock })
    const c = await WireClient.connect(timed.host, timed.port)
    try {
      timed.createTopic('expire')
      const init = await c.request(22, 1, (w) => w.nullableString('tx-expire').int32(1000))
      init.int32()
      assert.equal(init.int16(), 0)
      const pid = init.int64()
      const epoch = init.int16()
      const add = await c.request(24, 1, (w) => {
        w.string('tx-expire').int64(pid).int16(epoch).int32(1).string('expire').int32(1).int32(0)
      })
      add.int32()
      add.int32()
      add.string()
      add.int32()
      assert.deepEqual([add.int32(), add.int16()], [0, 0])
      const batch = encodeBatch(records(2), {
        baseOffset: 0,
        attributes: 0x10,
        producerId: pid,
        producerEpoch: epoch,
        baseSequence: 0,
      })
      const p = await c.request(0, 7, produceBody('expire', batch, 'tx-expire'))
      p.int32()
      p.string()
      p.int32()
      p.int32()
      assert.equal(p.int16(), 0)
      const log = timed.state.partition('expire', 0)!
      assert.equal(log.lastStableOffset, 0)
      clock += 5000
      timed.state.transactions.expire()
      assert.equal(log.highWatermark, 3, 'an ABORT marker was written')
      assert.equal(log.lastStableOffset, 3)
      assert.deepEqual(log.aborted, [{ producerId: pid, firstOffset: 0, lastOffset: 2 }])
      const end = await c.request(26, 1, (w) => w.string('tx-expire').int64(pid).int16(epoch).bool(true))
      end.int32()
      assert.equal(end.int16(), KafkaErrors.INVALID_PRODUCER_EPOCH.code)
    } finally {
      c.close()
      await timed.close()
    }
  })
})

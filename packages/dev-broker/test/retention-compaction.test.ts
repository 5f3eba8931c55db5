// Retention and compaction observed through kafkajs: log start moves, OFFSET_OUT_OF_RANGE below it, compacted
// offsets disappear while the survivors keep their offsets (real holes), and both run on the broker's timer.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { CompressionTypes, Kafka, logLevel, type Admin, type Producer } from 'kafkajs'
import { startDevBroker, type DevBroker } from '../src/broker.js'
import { KafkaErrors } from '../src/protocol/errors.js'
import { WireClient } from '../src/testing/wire-client.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

let groupSeq = 0
async function consumeAll(kafka: Kafka, topic: string, count: number) {
  const consumer = kafka.consumer({ groupId: `rc-${groupSeq++}`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got: Array<[string, string | null, string | null]> = []
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(got)}, wanted ${count}`)), 15_000)
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push([
            message.offset,
            message.key === null ? null : String(message.key),
            message.value === null ? null : String(message.value),
          ])
          if (got.length === count) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
    await new Promise((r) => setTimeout(r, 300)) // anything beyond `count` would be a bug
  } finally {
    await consumer.disconnect()
  }
  return got
}

async function fetchError(broker: DevBroker, topic: string, offset: number): Promise<number> {
  const c = await WireClient.connect(broker.host, broker.port)
  try {
    const r = await c.request(1, 11, (w) => {
      w.int32(-1)
        .int32(0)
        .int32(1)
        .int32(1 << 20)
        .int8(0)
        .int32(0)
        .int32(-1)
      w.int32(1)
        .string(topic)
        .int32(1)
        .int32(0)
        .int32(-1)
        .int64(offset)
        .int64(-1)
        .int32(1 << 20)
      w.int32(0).string('')
    })
    r.int32()
    r.int16()
    r.int32()
    r.int32()
    r.string()
    r.int32()
    r.int32()
    return r.int16()
  } finally {
    c.close()
  }
}

describe('retention and compaction', () => {
  let broker: DevBroker
  let kafka: Kafka
  let admin: Admin
  let producer: Producer

  before(async () => {
    broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
    kafka = new Kafka({ clientId: 'rc-test', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    admin = kafka.admin()
    await admin.connect()
    producer = kafka.producer()
    await producer.connect()
  })
  after(async () => {
    await producer.disconnect()
    await admin.disconnect()
    await broker.close()
  })

  test('retention.ms removes whole old batches and moves log start', async () => {
    await admin.createTopics({
      topics: [{ topic: 'ret-ms', configEntries: [{ name: 'retention.ms', value: '60000' }] }],
    })
    const old = String(Date.now() - 600_000)
    for (let i = 0; i < 3; i++) {
      await producer.send({
        topic: 'ret-ms',
        messages: [
          { value: `old${i}a`, timestamp: old },
          { value: `old${i}b`, timestamp: old },
        ],
      })
    }
    await producer.send({ topic: 'ret-ms', messages: [{ value: 'new0' }, { value: 'new1' }] })
    assert.equal(broker.applyRetention('ret-ms'), 3)
    assert.equal(broker.logStartOffset('ret-ms', 0), 6)
    assert.deepEqual(await admin.fetchTopicOffsets('ret-ms'), [{ partition: 0, offset: '8', high: '8', low: '6' }])
    assert.equal(await fetchError(broker, 'ret-ms', 2), KafkaErrors.OFFSET_OUT_OF_RANGE.code)
    assert.equal(await fetchError(broker, 'ret-ms', 9), KafkaErrors.OFFSET_OUT_OF_RANGE.code)
    assert.equal(await fetchError(broker, 'ret-ms', 6), 0)
    assert.deepEqual(
      (await consumeAll(kafka, 'ret-ms', 2)).map(([o, , v]) => [o, v]),
      [
        ['6', 'new0'],
        ['7', 'new1'],
      ],
    )
  })

  test('retention.bytes keeps the newest batches within the limit', async () => {
    await admin.createTopics({
      topics: [{ topic: 'ret-bytes', configEntries: [{ name: 'retention.bytes', value: '1000' }] }],
    })
    for (let i = 0; i < 10; i++) await producer.send({ topic: 'ret-bytes', messages: [{ value: 'x'.repeat(200) + i }] })
    const log = broker.state.partition('ret-bytes', 0)!
    const batchSize = log.batches[0]!.buf.length
    broker.applyRetention()
    assert.ok(log.sizeBytes <= 1000, `${log.sizeBytes} bytes left`)
    assert.equal(log.batches.length, Math.floor(1000 / batchSize))
    assert.equal(broker.logStartOffset('ret-bytes', 0), 10 - log.batches.length)
    const got = await consumeAll(kafka, 'ret-bytes', log.batches.length)
    assert.equal(got[0]![0], String(10 - log.batches.length))
    assert.equal(got.at(-1)![2], 'x'.repeat(200) + 9)
  })

  test('compaction keeps the latest record per key (tombstones too) at its original offset', async () => {
    await admin.createTopics({
      topics: [{ topic: 'cmp', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    })
    // one gzip batch with several keys, then single-record batches
    await producer.send({
      topic: 'cmp',
      compression: CompressionTypes.GZIP,
      messages: [
        { key: 'a', value: 'a0' },
        { key: 'b', value: 'b1' },
        { key: 'a', value: 'a2' },
        { key: 'c', value: 'c3' },
      ],
    })
    await producer.send({ topic: 'cmp', messages: [{ key: 'b', value: 'b4' }] })
    await producer.send({ topic: 'cmp', messages: [{ key: 'd', value: 'd5' }] })
    await producer.send({ topic: 'cmp', messages: [{ key: 'c', value: null }] })
    await producer.send({ topic: 'cmp', messages: [{ key: 'd', value: 'd7' }] })
    assert.equal(await broker.compact('cmp'), 4)
    assert.equal(broker.highWatermark('cmp', 0), 8)
    assert.deepEqual(await consumeAll(kafka, 'cmp', 4), [
      ['2', 'a', 'a2'],
      ['4', 'b', 'b4'],
      ['6', 'c', null],
      ['7', 'd', 'd7'],
    ])
    assert.equal(await broker.compact('cmp'), 0, 'compacting again removes nothing')
    // a retention-only topic is not compacted
    await producer.send({ topic: 'plain', messages: [{ key: 'k', value: '1' }] })
    await producer.send({ topic: 'plain', messages: [{ key: 'k', value: '2' }] })
    assert.equal(await broker.compact('plain'), 0)
  })

  test('the broker timer applies retention and compaction by itself', async () => {
    const timed = await startDevBroker({ retentionCheckIntervalMs: 100 })
    const k = new Kafka({ clientId: 'timer', brokers: timed.brokers, logLevel: logLevel.NOTHING })
    const a = k.admin()
    const p = k.producer()
    try {
      await a.connect()
      await p.connect()
      await a.createTopics({
        topics: [
          { topic: 'timed-ret', configEntries: [{ name: 'retention.ms', value: '60000' }] },
          { topic: 'timed-cmp', configEntries: [{ name: 'cleanup.policy', value: 'delete,compact' }] },
        ],
      })
      await p.send({ topic: 'timed-ret', messages: [{ value: 'old', timestamp: String(Date.now() - 120_000) }] })
      await p.send({ topic: 'timed-ret', messages: [{ value: 'new' }] })
      await p.send({ topic: 'timed-cmp', messages: [{ key: 'k', value: '1' }] })
      await p.send({ topic: 'timed-cmp', messages: [{ key: 'k', value: '2' }] })
      const deadline = Date.now() + 5000
      while (Date.now() < deadline) {
        const done =
          timed.logStartOffset('timed-ret', 0) === 1 && timed.state.partition('timed-cmp', 0)!.batches.length === 1
        if (done) break
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.equal(timed.logStartOffset('timed-ret', 0), 1)
      assert.equal(timed.state.partition('timed-cmp', 0)!.batches.length, 1)
      assert.equal(timed.state.partition('timed-cmp', 0)!.batches[0]!.base, 1)
    } finally {
      await p.disconnect()
      await a.disconnect()
      await timed.close()
    }
  })
})

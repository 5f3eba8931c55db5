// The TCP framework: ApiVersions derived from registrations, bad frames and unknown keys close only their own
// connection, control() hooks (error, delay, drop), long-poll wake-up on the wire, restart() and dataDir.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { allApis } from '../src/api/modules.js'
import { startDevBroker, type DevBroker } from '../src/broker.js'
import { KafkaErrors } from '../src/protocol/errors.js'
import { encodeBatch } from '../src/protocol/record-batch.js'
import type { Reader } from '../src/protocol/reader.js'
import { WireClient } from '../src/testing/wire-client.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

function readApiVersions(r: Reader, flexible: boolean) {
  const error = r.int16()
  const list = r.array(flexible, (r) => {
    const v = { apiKey: r.int16(), min: r.int16(), max: r.int16() }
    r.taggedFields(flexible)
    return v
  })
  return { error, list }
}

function batchOf(value: string) {
  return encodeBatch([{ offset: 0, timestamp: Date.now(), key: null, value: Buffer.from(value), headers: [] }], {
    baseOffset: 0,
    attributes: 0,
    producerId: -1n,
    producerEpoch: -1,
    baseSequence: -1,
  })
}

/** Fetch v11 for one partition; returns error, high watermark and the record bytes length. */
async function fetchOnce(c: WireClient, topic: string, offset: number, maxWaitMs: number, minBytes = 1) {
  const r = await c.request(1, 11, (w) => {
    w.int32(-1)
      .int32(maxWaitMs)
      .int32(minBytes)
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
  const error = r.int16()
  const hw = r.int64n()
  r.int64()
  r.int64()
  r.array(false, (r) => [r.int64(), r.int64()])
  r.int32()
  const records = r.nullableBytes()
  return { error, hw, bytes: records?.length ?? 0 }
}

describe('server framework', () => {
  let broker: DevBroker
  const logged: string[] = []

  before(async () => {
    broker = await startDevBroker({
      retentionCheckIntervalMs: 0,
      logger: { warn: (_o, msg) => logged.push(String(msg)) },
    })
  })
  after(async () => {
    await broker.close()
  })

  test('ApiVersions v0-v3 advertise exactly the registered modules; unknown versions get UNSUPPORTED_VERSION', async () => {
    const c = await WireClient.connect(broker.host, broker.port)
    const expected = allApis
      .map((m) => ({ apiKey: m.apiKey, min: m.minVersion, max: m.maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey)
    for (const v of [0, 1, 2]) {
      const { error, list } = readApiVersions(await c.request(18, v, () => undefined), false)
      assert.equal(error, 0)
      assert.deepEqual(list, expected)
    }
    // v3 is flexible on the request side but its response header stays v0 (no tagged fields after it)
    const r3 = await c.request(18, 3, (w) => w.compactString('test').compactString('1.0').tags(), {
      flexibleHeader: true,
    })
    const v3 = readApiVersions(r3, true)
    assert.equal(v3.error, 0)
    assert.deepEqual(v3.list, expected)
    assert.equal(r3.int32(), 0)
    r3.taggedFields()
    assert.equal(r3.remaining, 0)
    const r9 = await c.request(18, 9, () => undefined)
    const v9 = readApiVersions(r9, false)
    assert.equal(v9.error, KafkaErrors.UNSUPPORTED_VERSION.code)
    assert.deepEqual(v9.list, expected)
    c.close()
  })

  test('malformed frames, unknown API keys and unsupported versions close only that connection', async () => {
    const healthy = await WireClient.connect(broker.host, broker.port)
    const cases: Array<[string, (c: WireClient) => void]> = [
      ['negative size', (c) => c.writeRaw(Buffer.from([0xff, 0xff, 0xff, 0xf0]))],
      ['truncated header', (c) => c.writeRaw(Buffer.from([0, 0, 0, 8, 0, 3, 0, 1, 0, 0, 0, 1]))],
      ['unknown key', (c) => void c.request(999, 0, () => undefined).catch(() => undefined)],
      ['unsupported version', (c) => void c.request(0, 42, () => undefined).catch(() => undefined)],
      ['body too short', (c) => void c.request(3, 1, (w) => w.int32(5)).catch(() => undefined)],
    ]
    for (const [name, poke] of cases) {
      const bad = await WireClient.connect(broker.host, broker.port)
      poke(bad)
      const outcome = await Promise.race([
        bad.closed.then(() => 'closed'),
        new Promise((r) => setTimeout(() => r('still open'), 2000)),
      ])
      assert.equal(outcome, 'closed', name)
      const { error } = readApiVersions(await healthy.request(18, 2, () => undefined), false)
      assert.equal(error, 0, `${name}: the other connection still works`)
    }
    assert.ok(logged.some((m) => m.includes('unknown API key 999')))
    healthy.close()
  })

  test('control(): injected error, delay, drop; one-shot unless keep', async () => {
    const kafka = new Kafka({
      clientId: 'ctl',
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    })
    const admin = kafka.admin()
    await admin.connect()
    broker.createTopic('ctl', { partitions: 1 })

    broker.control(2, () => ({ errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED.code }))
    await assert.rejects(
      admin.fetchTopicOffsets('ctl'),
      (e: { type?: string }) => e.type === 'TOPIC_AUTHORIZATION_FAILED',
    )
    assert.deepEqual(await admin.fetchTopicOffsets('ctl'), [{ partition: 0, offset: '0', high: '0', low: '0' }])

    const seen: number[] = []
    const remove = broker.control(2, (req) => {
      seen.push(req.apiVersion)
      return { delayMs: 300, keep: true }
    })
    let t0 = Date.now()
    await admin.fetchTopicOffsets('ctl')
    assert.ok(Date.now() - t0 >= 290, 'first call delayed')
    t0 = Date.now()
    await admin.fetchTopicOffsets('ctl')
    assert.ok(Date.now() - t0 >= 290, 'kept: second call delayed too')
    remove()
    t0 = Date.now()
    await admin.fetchTopicOffsets('ctl')
    assert.ok(Date.now() - t0 < 290, 'removed hook no longer delays')
    assert.ok(seen.length >= 2 && seen.every((v) => v >= 0))
    await admin.disconnect()

    // drop: the connection closes instead of answering; the next connection works
    const c = await WireClient.connect(broker.host, broker.port)
    broker.control(18, () => ({ drop: true }))
    await assert.rejects(
      c.request(18, 2, () => undefined),
      /closed/,
    )
    const c2 = await WireClient.connect(broker.host, broker.port)
    assert.equal(readApiVersions(await c2.request(18, 2, () => undefined), false).error, 0)
    c2.close()

    // observe only: returning undefined leaves handling alone and keeps the hook
    let produced = 0
    broker.control(0, () => {
      produced++
      return undefined
    })
    const p = kafka.producer()
    await p.connect()
    await p.send({ topic: 'ctl', messages: [{ value: 'a' }] })
    await p.send({ topic: 'ctl', messages: [{ value: 'b' }] })
    await p.disconnect()
    assert.equal(produced, 2)
    assert.equal(broker.highWatermark('ctl', 0), 2)
  })

  test('a long-polling Fetch is answered when a produce arrives, and at max wait otherwise', async () => {
    broker.createTopic('poll')
    const consumer = await WireClient.connect(broker.host, broker.port)
    const producer = await WireClient.connect(broker.host, broker.port)
    let t0 = Date.now()
    const empty = await fetchOnce(consumer, 'poll', 0, 300)
    const waited = Date.now() - t0
    assert.equal(empty.bytes, 0)
    assert.ok(waited >= 280 && waited < 2000, `empty fetch waited ${waited} ms for max_wait 300`)

    t0 = Date.now()
    const pending = fetchOnce(consumer, 'poll', 0, 10_000)
    await new Promise((r) => setTimeout(r, 200))
    await producer.request(0, 7, (w) => {
      w.nullableString(null).int16(1).int32(1000).int32(1).string('poll').int32(1).int32(0).bytes(batchOf('wake'))
    })
    const got = await pending
    const latency = Date.now() - t0
    assert.equal(got.error, 0)
    assert.equal(got.hw, 1)
    assert.ok(got.bytes > 0)
    assert.ok(latency < 1500, `answered after ${latency} ms with a 10 s max wait`)
    consumer.close()
    producer.close()
  })

  test('restart() drops connections and keeps data; kafkajs reconnects', async () => {
    const kafka = new Kafka({ clientId: 'rs', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    const p = kafka.producer()
    await p.connect()
    await p.send({ topic: 'rs', messages: [{ value: 'one' }] })
    const c = await WireClient.connect(broker.host, broker.port)
    await broker.restart()
    await c.closed
    await p.send({ topic: 'rs', messages: [{ value: 'two' }] })
    await p.disconnect()
    assert.equal(broker.highWatermark('rs', 0), 2)
  })
})

describe('dataDir persistence', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everlog-dev-broker-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('topics, configs, batches, log start and committed offsets survive a new broker on the same dir', async (t) => {
    const first = await startDevBroker({ dataDir: dir, retentionCheckIntervalMs: 0 })
    t.after(() => first.close())
    let kafka = new Kafka({ clientId: 'p1', brokers: first.brokers, logLevel: logLevel.NOTHING })
    let admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      topics: [{ topic: 'keep', numPartitions: 2, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    })
    const p = kafka.producer()
    await p.connect()
    await p.send({
      topic: 'keep',
      messages: Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })),
    })
    await p.send({ topic: 'keep', messages: [{ key: 'x', value: 'p1', partition: 1 }] })
    await p.disconnect()
    await admin.fetchTopicOffsets('keep') // kafkajs' deleteTopicRecords needs the topic's metadata cached
    await admin.deleteTopicRecords({ topic: 'keep', partitions: [{ partition: 0, offset: '2' }] })
    await admin.setOffsets({ groupId: 'persist-g', topic: 'keep', partitions: [{ partition: 0, offset: '4' }] })
    await admin.disconnect()
    await first.close()

    const second = await startDevBroker({ dataDir: dir, retentionCheckIntervalMs: 0 })
    try {
      assert.notEqual(second.port, 0)
      assert.equal(second.highWatermark('keep', 0), 6)
      assert.equal(second.logStartOffset('keep', 0), 2)
      assert.equal(second.highWatermark('keep', 1), 1)
      assert.equal(second.state.topics.get('keep')!.config('cleanup.policy'), 'compact')
      kafka = new Kafka({ clientId: 'p2', brokers: second.brokers, logLevel: logLevel.NOTHING })
      admin = kafka.admin()
      await admin.connect()
      const offsets = await admin.fetchOffsets({ groupId: 'persist-g', topics: ['keep'] })
      assert.equal(offsets[0]!.partitions.find((x) => x.partition === 0)!.offset, '4')
      await admin.disconnect()
      const consumer = kafka.consumer({ groupId: 'persist-read', maxWaitTimeInMs: 100 })
      await consumer.connect()
      await consumer.subscribe({ topic: 'keep', fromBeginning: true })
      const got: string[] = []
      await new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            got.push(`${partition}:${message.offset}:${String(message.value)}`)
            if (got.length === 5) resolve()
          },
        })
      })
      await consumer.disconnect()
      assert.deepEqual(got.sort(), ['0:2:v2', '0:3:v3', '0:4:v4', '0:5:v5', '1:0:p1'])
    } finally {
      await second.close()
    }
  })
})

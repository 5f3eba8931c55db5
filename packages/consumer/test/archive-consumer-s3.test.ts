// ArchiveConsumer reading an archive in S3 over HTTP (conditional writes enforced by the test server).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { BucketNotFoundError, openStore, PartitionWriter } from '@everlog/core'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import { Kafka, logLevel } from 'kafkajs'
import type { InstrumentationEvent, KafkaMessage } from 'kafkajs'
// Neither entry point wires these yet; their modules are imported directly until they do.
import { startS3Server } from '@everlog/core/testing'
import type { S3TestServer } from '@everlog/core/testing'
import { startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'
import { ArchiveConsumer } from '../src/archive-consumer.js'
import type { ArchiveSwitchPayload } from '../src/archive-consumer.js'
import { kafkajsHeaders } from './expect.js'

let broker: TestBroker
let s3: S3TestServer
let kafka: Kafka
let store: ObjectStore
const url = 's3://everlog-test/archive'

before(async () => {
  broker = await startTestBroker()
  s3 = await startS3Server()
  kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
  store = openStore(url, { s3: s3.clientConfig() })
})

after(async () => {
  await store.close()
  await s3.close()
  await broker.close()
})

const record = (offset: number): ArchiveRecord => ({
  offset: BigInt(offset),
  timestamp: BigInt(1_700_000_000_000 + offset),
  key: offset % 4 === 0 ? null : Buffer.from(`k${offset % 9}`),
  value: Buffer.alloc(100 + (offset % 50), offset & 0xff),
  headers: offset % 2 === 0 ? [] : [['h', Buffer.from(String(offset))]],
})

test('archive in S3 over HTTP, then Kafka: every offset once, same bytes', async (t) => {
  const topic = 's3-topic'
  await broker.createTopic(topic, { partitions: 1 })
  const producer = kafka.producer()
  await producer.connect()
  for (let o = 0; o < 400; o += 25) {
    const messages = []
    for (let i = o; i < o + 25; i++) {
      const r = record(i)
      const headers = Object.fromEntries(r.headers.map(([k, v]) => [k, v!]))
      messages.push({ partition: 0, key: r.key, value: r.value, headers, timestamp: String(r.timestamp) })
    }
    await producer.send({ topic, messages })
  }
  await producer.disconnect()
  const w = await PartitionWriter.open(store, { topic, partition: 0, writer: 'test', rowGroupBytes: 4096 })
  for (let s = 0; s < 300; s += 100) await w.appendSegment(Array.from({ length: 100 }, (_, i) => record(s + i)))
  await broker.deleteRecords(topic, 0, 250)

  // The archive is named by its URL, as an application would.
  const consumer = new ArchiveConsumer({
    kafka,
    archive: url,
    store: { s3: s3.clientConfig() },
    groupId: 's3-group',
    maxWaitTimeInMs: 50,
  })
  t.after(() => consumer.disconnect())
  const switches: ArchiveSwitchPayload[] = []
  consumer.on(consumer.events.ARCHIVE_SWITCH, (e: InstrumentationEvent<ArchiveSwitchPayload>) =>
    switches.push(e.payload),
  )
  const got: KafkaMessage[] = []
  await consumer.connect()
  // Committed mid-segment: the first segment is read from its row groups, not whole.
  const admin = kafka.admin()
  await admin.connect()
  await admin.setOffsets({ groupId: 's3-group', topic, partitions: [{ partition: 0, offset: '150' }] })
  await admin.disconnect()
  const before = s3.requests.length
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => void got.push(message) })
  const deadline = Date.now() + 20_000
  while (got.length < 250 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(
    got.map((m) => Number(m.offset)),
    Array.from({ length: 250 }, (_, i) => 150 + i),
  )
  for (const m of got) {
    const r = record(Number(m.offset))
    assert.equal(m.timestamp, String(r.timestamp))
    assert.deepEqual(m.key, r.key)
    assert.deepEqual(m.value, r.value)
    assert.deepEqual(m.headers, kafkajsHeaders(r.headers))
  }
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '300' }])
  const reads = s3.requests.slice(before).filter((r) => r.method === 'GET' && r.key?.includes('/data/'))
  assert.ok(reads.length > 0, 'segments were read from S3')
})

test('S3 errors while reading the archive are retried from the last resolved offset, nothing lost or repeated', async (t) => {
  const topic = 's3-flaky'
  await broker.createTopic(topic, { partitions: 1 })
  const producer = kafka.producer()
  await producer.connect()
  for (let o = 0; o < 200; o += 25) {
    const messages = Array.from({ length: 25 }, (_, i) => {
      const r = record(o + i)
      const headers = Object.fromEntries(r.headers.map(([k, v]) => [k, v!]))
      return { partition: 0, key: r.key, value: r.value, headers, timestamp: String(r.timestamp) }
    })
    await producer.send({ topic, messages })
  }
  await producer.disconnect()
  const w = await PartitionWriter.open(store, { topic, partition: 0, writer: 'test', rowGroupBytes: 4096 })
  for (let s = 0; s < 150; s += 50) await w.appendSegment(Array.from({ length: 50 }, (_, i) => record(s + i)))
  await broker.deleteRecords(topic, 0, 150)

  const consumer = new ArchiveConsumer({
    kafka,
    archive: store,
    groupId: 's3-flaky-group',
    maxWaitTimeInMs: 50,
    // No read-ahead: the segments after offset 60 are fetched only once the failures are armed.
    prefetchSegments: 0,
    retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 500 },
  })
  t.after(() => consumer.disconnect())
  const got: number[] = []
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let failed = false
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push(Number(message.offset))
      // Mid-archive, segment reads start failing: more 503s than the S3 client's own retries absorb.
      if (message.offset === '60' && !failed) {
        failed = true
        s3.failNext(12, 503, { key: /\/data\// })
      }
    },
  })
  const deadline = Date.now() + 30_000
  while (got.length < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.ok(failed)
  assert.ok(
    s3.requests.filter((r) => r.status === 503).length >= 4,
    'segment reads failed beyond what the S3 client retries on its own',
  )
  assert.deepEqual(
    got,
    Array.from({ length: 200 }, (_, i) => i),
  )
})

test('an S3 bucket that does not exist is an error at connect(), never a silent fallback to Kafka', async () => {
  const consumer = new ArchiveConsumer({
    kafka,
    archive: 's3://no-such-bucket/archive',
    store: { s3: s3.clientConfig() },
    groupId: 'g-missing-bucket',
  })
  await assert.rejects(consumer.connect(), (e: unknown) => e instanceof BucketNotFoundError)
  await consumer.disconnect()
})

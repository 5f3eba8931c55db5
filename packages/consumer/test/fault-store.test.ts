// ArchiveConsumer on a faulty object store: seeded 5xx, SlowDown, timeouts, resets and slow responses are retried with
// backoff and every offset is still delivered once, in order, across the archive->Kafka boundary; a lasting outage is
// reported as a CRASH event carrying a typed, retriable StoreUnavailableError, and reading resumes once it ends.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { FileStore, PartitionWriter, StoreUnavailableError } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { Kafka, logLevel } from 'kafkajs'
import { FaultyStore } from '@everlog/core/testing'
import { startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'
import { ArchiveConsumer } from '../src/archive-consumer.js'

let broker: TestBroker
let kafka: Kafka
let dir: string
let inner: FileStore
let seq = 0

before(async () => {
  broker = await startTestBroker()
  kafka = new Kafka({
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 50 },
  })
  dir = await mkdtemp(join(tmpdir(), 'everlog-consumer-fault-'))
  inner = new FileStore(dir, { fsync: false })
})

after(async () => {
  await inner.close()
  await broker.close()
  await rm(dir, { recursive: true, force: true })
})

const value = (o: number) => `v${o}`

/** 300 records in Kafka; 0..199 archived in segments of 20 (small row groups); Kafka then forgets 0..149. */
async function topicWithHistory(): Promise<string> {
  const topic = `fault-${++seq}`
  await broker.createTopic(topic, { partitions: 1 })
  const producer = kafka.producer()
  await producer.connect()
  for (let o = 0; o < 300; o += 50) {
    await producer.send({ topic, messages: Array.from({ length: 50 }, (_, i) => ({ value: value(o + i) })) })
  }
  await producer.disconnect()
  const w = await PartitionWriter.open(inner, { topic, partition: 0, writer: 't', rowGroupBytes: 256 })
  for (let s = 0; s < 200; s += 20) {
    const records: ArchiveRecord[] = Array.from({ length: 20 }, (_, i) => ({
      offset: BigInt(s + i),
      timestamp: BigInt(1_700_000_000_000 + s + i),
      key: null,
      value: Buffer.from(value(s + i)),
      headers: [],
    }))
    await w.appendSegment(records)
  }
  await broker.deleteRecords(topic, 0, 150)
  return topic
}

async function consume(topic: string, store: FaultyStore) {
  const consumer = new ArchiveConsumer({
    kafka,
    archive: store,
    groupId: `g-${topic}`,
    maxWaitTimeInMs: 50,
    retry: { retries: 4, initialRetryTime: 5, maxRetryTime: 40 },
  })
  const delivered: string[] = []
  const crashes: unknown[] = []
  const restarts: boolean[] = []
  consumer.on(consumer.events.CRASH, (e) => {
    crashes.push(e.payload.error)
    restarts.push(e.payload.restart)
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => void delivered.push(`${message.offset}=${message.value}`) })
  return { consumer, delivered, crashes, restarts }
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const all = Array.from({ length: 300 }, (_, o) => `${o}=${value(o)}`)

for (const seed of [5, 23]) {
  test(`seed ${seed}: store faults are retried; every offset once, in order, across the boundary`, async (t) => {
    const topic = await topicWithHistory()
    const store = new FaultyStore(inner, {
      seed,
      rates: { unavailable: 0.08, throttle: 0.08, timeout: 0.04, reset: 0.08, slow: 0.1 },
      slowMs: 5,
      timeoutMs: 20,
    })
    const { consumer, delivered } = await consume(topic, store)
    t.after(() => consumer.disconnect())
    await waitFor('300 records', () => delivered.length >= 300)
    await new Promise((r) => setTimeout(r, 200))
    assert.deepEqual(delivered, all)
    assert.ok(store.failures > 3, `only ${store.failures} faults were injected`)
  })
}

test('a lasting outage: retries, then CRASH with KafkaJSNumberOfRetriesExceeded and restart; reading resumes after it', async (t) => {
  const topic = await topicWithHistory()
  const store = new FaultyStore(inner)
  store.down()
  const { consumer, delivered, crashes, restarts } = await consume(topic, store)
  t.after(() => consumer.disconnect())
  await waitFor('a crash event', () => crashes.length > 0)
  // As kafkajs: the retries run out, the consumer stops, disconnects and (no restartOnFailure) restarts.
  const crash = crashes[0] as Error & { retryCount: number; cause: unknown }
  assert.equal(crash.name, 'KafkaJSNumberOfRetriesExceeded')
  assert.equal(crash.retryCount, 4)
  const err = crash.cause
  assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`)
  assert.equal(err.retriable, true)
  assert.deepEqual(restarts, [true])
  assert.match(err.message, new RegExp(`${topic}/`))
  assert.deepEqual(delivered, [])
  store.up()
  await waitFor('300 records', () => delivered.length >= 300)
  assert.deepEqual(delivered, all)
})

// ArchiveConsumer end to end: the dev broker over TCP, archives on a file store, records produced to both.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { openStore, PartitionWriter } from '@everlog/core'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import { Kafka, logLevel } from 'kafkajs'
import type { EachBatchPayload, IHeaders, InstrumentationEvent, KafkaMessage } from 'kafkajs'
// The dev broker's entry point is not wired yet; its module is imported directly until it is.
import { startDevBroker } from '../../dev-broker/src/broker.js'
import type { DevBroker } from '../../dev-broker/src/broker.js'
import { ArchiveConsumer } from '../src/archive-consumer.js'
import type { ArchiveConsumerConfig, ArchiveSwitchPayload, ArchiveUnavailablePayload } from '../src/archive-consumer.js'
import { ArchiveUnavailableError } from '../src/errors.js'
import { toHeaders } from '../src/message.js'

const T0 = 1_700_000_000_000

let broker: DevBroker
let kafka: Kafka
let dir: string
let store: ObjectStore
let topicSeq = 0

before(async () => {
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
  kafka = new Kafka({
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 50 },
  })
  dir = await mkdtemp(join(tmpdir(), 'everlog-consumer-'))
  store = openStore(pathToFileURL(dir).href)
})

after(async () => {
  await store.close()
  await broker.close()
  await rm(dir, { recursive: true, force: true })
})

function record(partition: number, offset: number): ArchiveRecord {
  const i = offset
  return {
    offset: BigInt(offset),
    timestamp: BigInt(T0 + offset * 1000 + partition),
    key: i % 5 === 0 ? null : Buffer.from(`key-${partition}-${i % 13}`),
    value: i % 17 === 3 ? null : Buffer.from(`value-${partition}-${i}-${'x'.repeat(i % 40)}`),
    headers:
      i % 3 === 0
        ? []
        : [
            ['n', Buffer.from(String(i))],
            ['n', Buffer.from('again')],
            ['trace', Buffer.from([i & 0xff])],
          ],
  }
}

/** Produces records of one partition at their own offsets, `perBatch` records per Kafka record batch. */
async function produce(topic: string, partition: number, from: number, to: number, perBatch = 20): Promise<void> {
  const producer = kafka.producer()
  await producer.connect()
  try {
    for (let start = from; start < to; start += perBatch) {
      const messages = []
      for (let o = start; o < Math.min(to, start + perBatch); o++) {
        const r = record(partition, o)
        const headers: IHeaders = {}
        for (const [k, v] of r.headers) {
          const seen = headers[k]
          headers[k] = seen === undefined ? v! : Array.isArray(seen) ? [...seen, v!] : [seen, v!]
        }
        messages.push({ partition, key: r.key, value: r.value, headers, timestamp: String(r.timestamp) })
      }
      await producer.send({ topic, messages })
    }
  } finally {
    await producer.disconnect()
  }
  assert.equal(broker.highWatermark(topic, partition), to, 'produced records take the offsets the test assumes')
}

/** Archives [from, to) of a partition in segments of `perSegment` records with small row groups. */
async function archive(
  topic: string,
  partition: number,
  from: number,
  to: number,
  options: { perSegment?: number; keep?: (offset: number) => boolean } = {},
): Promise<void> {
  const w = await PartitionWriter.open(store, { topic, partition, writer: 'test', rowGroupBytes: 2048 })
  const per = options.perSegment ?? 50
  for (let s = from; s < to; s += per) {
    const records = []
    for (let o = s; o < Math.min(to, s + per); o++)
      if (!options.keep || options.keep(o)) records.push(record(partition, o))
    if (records.length > 0) await w.appendSegment(records)
  }
}

function newTopic(partitions = 1): string {
  const topic = `t${++topicSeq}-${Date.now()}`
  broker.createTopic(topic, { partitions })
  return topic
}

interface Delivered {
  partition: number
  offset: number
  message: KafkaMessage
}

function consumerConfig(extra: Partial<ArchiveConsumerConfig> = {}): ArchiveConsumerConfig {
  return {
    kafka,
    archive: store,
    groupId: `g${++topicSeq}`,
    maxWaitTimeInMs: 50,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    rebalanceTimeout: 6000,
    retry: { retries: 3, initialRetryTime: 50 },
    ...extra,
  }
}

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function assertSameRecord(d: Delivered): void {
  const r = record(d.partition, d.offset)
  const m = d.message
  assert.equal(m.offset, String(r.offset))
  assert.equal(m.timestamp, String(r.timestamp), `timestamp of ${d.partition}/${d.offset}`)
  assert.deepEqual(m.key, r.key, `key of ${d.partition}/${d.offset}`)
  assert.deepEqual(m.value, r.value, `value of ${d.partition}/${d.offset}`)
  assert.deepEqual(m.headers, toHeaders(r.headers), `headers of ${d.partition}/${d.offset}`)
}

function offsetsOf(delivered: Delivered[], partition = 0): number[] {
  return delivered.filter((d) => d.partition === partition).map((d) => d.offset)
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

async function start(
  topic: string,
  extra: Partial<ArchiveConsumerConfig> = {},
  opts: { fromBeginning?: boolean; handler?: (d: Delivered) => Promise<void> | void } = {},
) {
  const consumer = new ArchiveConsumer(consumerConfig(extra))
  const delivered: Delivered[] = []
  const switches: ArchiveSwitchPayload[] = []
  consumer.on(consumer.events.ARCHIVE_SWITCH, (e: InstrumentationEvent<ArchiveSwitchPayload>) =>
    switches.push(e.payload),
  )
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: opts.fromBeginning ?? true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const d = { partition, offset: Number(message.offset), message }
      await opts.handler?.(d)
      delivered.push(d)
    },
  })
  return { consumer, delivered, switches }
}

test('from the beginning: archive, then Kafka at exactly the boundary, every offset once with the same bytes', async (t) => {
  const topic = newTopic()
  await produce(topic, 0, 0, 300)
  await archive(topic, 0, 0, 200)
  broker.deleteRecords(topic, 0, 150)
  const { consumer, delivered, switches } = await start(topic)
  t.after(() => consumer.disconnect())
  // Records keep arriving while the archive is being read.
  await produce(topic, 0, 300, 360)
  await waitFor('360 records', () => delivered.length >= 360)
  await new Promise((r) => setTimeout(r, 200))
  assert.deepEqual(offsetsOf(delivered), range(0, 360))
  for (const d of delivered) assertSameRecord(d)
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '200' }])
})

// ArchiveConsumer end to end: the dev broker over TCP, archives on a file store, records produced to both.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { openStore, PartitionWriter, readSegmentLayout } from '@everlog/core'
import { setSegmentTimestampUnitForTests } from '@everlog/core/testing'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import { Kafka, logLevel } from 'kafkajs'
import type { EachBatchPayload, IHeaders, InstrumentationEvent, KafkaMessage } from 'kafkajs'
import { devBrokerOnly, startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'
import { ArchiveConsumer } from '../src/archive-consumer.js'
import type { ArchiveConsumerConfig, ArchiveSwitchPayload, ArchiveUnavailablePayload } from '../src/archive-consumer.js'
import { ArchiveUnavailableError } from '../src/errors.js'
import { kafkajsHeaders } from './expect.js'

const T0 = 1_700_000_000_000

let broker: TestBroker
let kafka: Kafka
let dir: string
let store: ObjectStore
let topicSeq = 0

before(async () => {
  broker = await startTestBroker()
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
  assert.equal(
    (await broker.offsets(topic, partition)).high,
    BigInt(to),
    'produced records take the offsets the test assumes',
  )
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

async function newTopic(partitions = 1): Promise<string> {
  const topic = `t${++topicSeq}-${Date.now()}`
  await broker.createTopic(topic, { partitions })
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
  assert.deepEqual(m.headers, kafkajsHeaders(r.headers), `headers of ${d.partition}/${d.offset}`)
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
  const skipped: ArchiveUnavailablePayload[] = []
  consumer.on(consumer.events.ARCHIVE_UNAVAILABLE, (e: InstrumentationEvent<ArchiveUnavailablePayload>) =>
    skipped.push(e.payload),
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
  return { consumer, delivered, switches, skipped }
}

test('a partition of format-1 (millisecond) then format-2 (microsecond) segments reads as one, every record the same', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 240)
  // Archived by an older Everlog first (TIMESTAMP(MILLIS) segments), then by this one (TIMESTAMP(MICROS)).
  setSegmentTimestampUnitForTests('ms')
  try {
    await archive(topic, 0, 0, 100)
  } finally {
    setSegmentTimestampUnitForTests('us')
  }
  await archive(topic, 0, 100, 200)
  const units = new Set<string>()
  for await (const o of store.list(`${topic}/data/`)) units.add((await readSegmentLayout(store, o.key)).timestampUnit)
  assert.deepEqual([...units].sort(), ['ms', 'us'])
  await broker.deleteRecords(topic, 0, 200)
  const { consumer, delivered, switches } = await start(topic)
  t.after(() => consumer.disconnect())
  await waitFor('240 records', () => delivered.length >= 240)
  assert.deepEqual(offsetsOf(delivered), range(0, 240))
  for (const d of delivered) assertSameRecord(d)
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '200' }])
})

test('from the beginning: archive, then Kafka at exactly the boundary, every offset once with the same bytes', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 300)
  await archive(topic, 0, 0, 200)
  await broker.deleteRecords(topic, 0, 150)
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

test('a committed offset mid-segment, and a boundary in the middle of a Kafka record batch', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 200, 20) // record batches [120, 140) etc.
  await archive(topic, 0, 0, 130) // archive ends at 130: mid-batch in Kafka
  await broker.deleteRecords(topic, 0, 100)
  const config = consumerConfig()
  const admin = kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())
  await admin.setOffsets({ groupId: config.groupId, topic, partitions: [{ partition: 0, offset: '75' }] })
  const { consumer, delivered, switches } = await start(topic, { groupId: config.groupId })
  t.after(() => consumer.disconnect())
  await waitFor('offsets 75..199', () => delivered.length >= 125)
  assert.deepEqual(offsetsOf(delivered), range(75, 200))
  for (const d of delivered) assertSameRecord(d)
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '130' }])
})

test('kafka-first reads the archive only below Kafka log start', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 250)
  await archive(topic, 0, 0, 200)
  await broker.deleteRecords(topic, 0, 120)
  const { consumer, delivered, switches } = await start(topic, { mode: 'kafka-first' })
  t.after(() => consumer.disconnect())
  await waitFor('250 records', () => delivered.length >= 250)
  assert.deepEqual(offsetsOf(delivered), range(0, 250))
  for (const d of delivered) assertSameRecord(d)
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '120' }])
})

test("an archive that begins above Kafka's log start: Kafka up to the archive's first offset, then the archive, then Kafka", async (t) => {
  // As when the archiver started on a log the cleaner had already emptied below 40 (or from the log end): the
  // archive vouches for nothing below its first record, and from there on it is the history to read.
  const topic = await newTopic()
  await produce(topic, 0, 0, 250, 15) // record batches straddle 40 and 200
  await archive(topic, 0, 40, 200)
  const { consumer, delivered, switches } = await start(topic)
  t.after(() => consumer.disconnect())
  await waitFor('250 records', () => delivered.length >= 250)
  await new Promise((r) => setTimeout(r, 200))
  assert.deepEqual(offsetsOf(delivered), range(0, 250))
  for (const d of delivered) assertSameRecord(d)
  // The archive served 40..199: the only crossing into Kafka is at its end.
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '200' }])
})

test(
  'compacted topic: holes in the archive and in Kafka are not gaps',
  { skip: devBrokerOnly('compaction on demand (against Apache Kafka: kafka-compaction in e2e/kafka)') },
  async (t) => {
    const topic = `c${++topicSeq}-${Date.now()}`
    await broker.createTopic(topic, { partitions: 1, configs: { 'cleanup.policy': 'compact' } })
    await produce(topic, 0, 0, 200)
    // The archive was written from an already compacted log: only some offsets exist.
    const kept = (o: number) => o % 4 !== 1 && o % 7 !== 2
    await archive(topic, 0, 0, 120, { keep: kept })
    await broker.deleteRecords(topic, 0, 90)
    await broker.dev!.compact(topic)
    // What Kafka still holds from the boundary on, read with a plain kafkajs consumer.
    const live: number[] = []
    const plain = kafka.consumer({ groupId: `plain-${topicSeq}`, maxWaitTimeInMs: 50 })
    await plain.connect()
    await plain.subscribe({ topics: [topic], fromBeginning: true })
    await plain.run({ eachMessage: async ({ message }) => void live.push(Number(message.offset)) })
    await waitFor('plain consumer to reach the end', () => live.at(-1) === 199)
    await plain.disconnect()
    const expected = [...range(0, 120).filter(kept), ...live.filter((o) => o >= 120)]
    assert.ok(live.length < 110, `compaction removed records from Kafka (${live.length} left)`)

    const { consumer, delivered, switches } = await start(topic)
    t.after(() => consumer.disconnect())
    await waitFor('every surviving record', () => delivered.length >= expected.length)
    await new Promise((r) => setTimeout(r, 200))
    assert.deepEqual(offsetsOf(delivered), expected)
    for (const d of delivered) assertSameRecord(d)
    assert.deepEqual(switches, [{ topic, partition: 0, offset: '120' }])
  },
)

test('seek backwards from live into the archive, and seek by timestamp', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 220)
  await archive(topic, 0, 0, 160)
  await broker.deleteRecords(topic, 0, 100)
  const { consumer, delivered, switches } = await start(topic)
  t.after(() => consumer.disconnect())
  await waitFor('all 220', () => delivered.length >= 220)
  consumer.seek({ topic, partition: 0, offset: '30' })
  await waitFor('replay from 30', () => delivered.length >= 220 + 190)
  assert.deepEqual(offsetsOf(delivered), [...range(0, 220), ...range(30, 220)])
  assert.deepEqual(
    switches.map((s) => s.offset),
    ['160', '160'],
  )
  // Kafka's semantics: the first offset whose timestamp is >= t, here inside the archive.
  assert.equal(await consumer.offsetForTimestamp(topic, 0, T0 + 42_000), '42')
  assert.equal(await consumer.offsetForTimestamp(topic, 0, T0 + 41_500), '42')
  assert.equal(await consumer.offsetForTimestamp(topic, 0, T0 + 180_000), '180')
  assert.equal(await consumer.offsetForTimestamp(topic, 0, T0 + 10_000_000), '220')
  await consumer.seekToTimestamp(topic, 0, T0 + 42_000)
  await waitFor('replay from 42', () => delivered.length >= 410 + 178)
  assert.deepEqual(offsetsOf(delivered).slice(410), range(42, 220))
  for (const d of delivered) assertSameRecord(d)
})

test('pause and resume of a partition while it reads the archive', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 200)
  await archive(topic, 0, 0, 150)
  await broker.deleteRecords(topic, 0, 150)
  const ref: { consumer?: ArchiveConsumer } = {}
  const { consumer, delivered } = await start(
    topic,
    {},
    {
      handler: (d) => {
        if (d.offset === 60) ref.consumer!.pause([{ topic, partitions: [0] }])
      },
    },
  )
  ref.consumer = consumer
  t.after(() => consumer.disconnect())
  await waitFor('offset 60', () => delivered.length >= 61)
  await new Promise((r) => setTimeout(r, 400))
  assert.equal(delivered.length, 61, 'nothing is delivered while paused')
  assert.deepEqual(consumer.paused(), [{ topic, partitions: [0] }])
  consumer.resume([{ topic, partitions: [0] }])
  assert.deepEqual(consumer.paused(), [])
  await waitFor('all 200', () => delivered.length >= 200)
  assert.deepEqual(offsetsOf(delivered), range(0, 200))
})

test('commits made while reading the archive are what a plain kafkajs consumer of the group resumes from', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 300)
  await archive(topic, 0, 0, 200)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const config = consumerConfig()
  const { consumer, delivered } = await start(
    topic,
    { groupId: config.groupId },
    {
      handler: async (d) => {
        if (d.offset === 120) await gate
      },
    },
  )
  let disconnected = false
  t.after(() => (disconnected ? undefined : consumer.disconnect()))
  await waitFor('offset 119', () => delivered.length >= 120)
  const admin = kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())
  const committed = async () =>
    Number((await admin.fetchOffsets({ groupId: config.groupId, topics: [topic] }))[0]!.partitions[0]!.offset)
  // Archive chunks commit as they complete; the handler is held at 120, still inside the archive.
  const during = await committed()
  assert.ok(during > 0 && during <= 120, `committed ${during} while reading the archive`)
  const stopping = consumer.disconnect()
  disconnected = true
  release()
  await stopping
  const last = delivered.at(-1)!.offset
  assert.equal(await committed(), last + 1)

  const plain = kafka.consumer({ groupId: config.groupId, maxWaitTimeInMs: 50 })
  const seen: number[] = []
  await plain.connect()
  t.after(() => plain.disconnect())
  await plain.subscribe({ topics: [topic], fromBeginning: true })
  await plain.run({ eachMessage: async ({ message }) => void seen.push(Number(message.offset)) })
  await waitFor('plain consumer to finish', () => seen.at(-1) === 299)
  assert.deepEqual([...offsetsOf(delivered), ...seen], range(0, 300))
})

test('eachBatch: resolveOffset, eachBatchAutoResolve off, uncommittedOffsets and manual commits', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 260)
  await archive(topic, 0, 0, 180)
  await broker.deleteRecords(topic, 0, 100)
  const config = consumerConfig()
  const consumer = new ArchiveConsumer(config)
  t.after(() => consumer.disconnect())
  const resolved: number[] = []
  const firsts: number[] = []
  let uncommittedSeen = ''
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (p: EachBatchPayload) => {
      const { batch } = p
      assert.equal(batch.isEmpty(), false)
      assert.equal(batch.firstOffset(), batch.messages[0]!.offset)
      assert.equal(BigInt(batch.offsetLagLow()) >= BigInt(batch.offsetLag()), true)
      // Every batch starts right after what was resolved: unresolved messages are delivered again.
      firsts.push(Number(batch.firstOffset()) - ((resolved.at(-1) ?? -1) + 1))
      // Handle at most 7 messages per batch; the rest must come again in the next batch.
      for (const m of batch.messages.slice(0, 7)) {
        resolved.push(Number(m.offset))
        p.resolveOffset(m.offset)
      }
      const mine = p.uncommittedOffsets().topics.find((x) => x.topic === topic)
      uncommittedSeen = mine?.partitions[0]?.offset ?? ''
      assert.equal(uncommittedSeen, String(resolved.at(-1)! + 1))
      assert.equal(p.isRunning(), true)
      assert.equal(p.isStale(), false)
      await p.heartbeat()
    },
  })
  await waitFor('260 resolved', () => resolved.length >= 260)
  assert.deepEqual(resolved, range(0, 260))
  assert.deepEqual(new Set(firsts), new Set([0]))
  assert.ok(firsts.length >= 260 / 7, `${firsts.length} batches`)
  await consumer.commitOffsets([{ topic, partition: 0, offset: '260' }])
  const admin = kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())
  const offsets = await admin.fetchOffsets({
    groupId: config.groupId,
    topics: [topic],
  })
  assert.equal(offsets[0]!.partitions[0]!.offset, '260')
})

test('offsets in neither place: ArchiveUnavailableError by default', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 200)
  await archive(topic, 0, 0, 100)
  await broker.deleteRecords(topic, 0, 150) // 100..149: deleted before they were archived
  const consumer = new ArchiveConsumer(consumerConfig())
  const crashes: unknown[] = []
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error))
  const delivered: number[] = []
  await consumer.connect()
  t.after(() => consumer.disconnect())
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => void delivered.push(Number(message.offset)) })
  await waitFor('a crash', () => crashes.length > 0)
  const error = crashes[0]
  assert.ok(error instanceof ArchiveUnavailableError, `got ${String(error)}`)
  assert.equal(error.code, 'ARCHIVE_UNAVAILABLE')
  assert.equal(error.firstOffset, 100n)
  assert.equal(error.lastOffset, 149n)
  assert.match(error.message, new RegExp(`offsets 100\\.\\.149 of ${topic}/0`))
  assert.deepEqual(delivered, range(0, 100))
})

test("offsets in neither place: onMissingOffsets 'skip' continues after them with an event", async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 200)
  await archive(topic, 0, 0, 100)
  await broker.deleteRecords(topic, 0, 150)
  const { consumer, delivered, skipped } = await start(topic, { onMissingOffsets: 'skip' })
  t.after(() => consumer.disconnect())
  await waitFor('150 records', () => delivered.length >= 150)
  assert.deepEqual(offsetsOf(delivered), [...range(0, 100), ...range(150, 200)])
  assert.equal(skipped.length, 1)
  assert.equal(skipped[0]!.firstOffset, '100')
  assert.equal(skipped[0]!.lastOffset, '149')
  assert.equal(skipped[0]!.partition, 0)
})

test('rebalance while one member reads the archive and the other is live: every offset once', async (t) => {
  const topic = await newTopic(2)
  for (const p of [0, 1]) await produce(topic, p, 0, 300)
  await archive(topic, 0, 0, 250) // partition 0: mostly archive
  await archive(topic, 1, 0, 20) // partition 1: soon live
  for (const p of [0, 1]) await broker.deleteRecords(topic, p, 10)
  const groupId = `rb-${++topicSeq}`
  const slow = async () => new Promise<void>((r) => setTimeout(r, 2))
  const a = await start(topic, { groupId }, { handler: slow })
  t.after(() => a.consumer.disconnect())
  await waitFor('member A under way', () => a.delivered.length >= 100)
  const b = await start(topic, { groupId }, { handler: slow })
  t.after(() => b.consumer.disconnect())
  const all = () => [...a.delivered, ...b.delivered]
  await waitFor('600 records across both members', () => all().length >= 600, 40_000)
  await new Promise((r) => setTimeout(r, 300))
  for (const p of [0, 1]) {
    const got = all()
      .filter((d) => d.partition === p)
      .map((d) => d.offset)
      .sort((x, y) => x - y)
    assert.deepEqual(got, range(0, 300), `partition ${p}: every offset exactly once`)
    // Each member sees its share of a partition in order.
    for (const member of [a, b]) {
      const mine = offsetsOf(member.delivered, p)
      assert.deepEqual(
        mine,
        [...mine].sort((x, y) => x - y),
      )
    }
  }
  assert.ok(b.delivered.length > 0, 'the second member took partitions over')
  for (const d of all()) assertSameRecord(d)
})

test('the archive grows while it is read: HEAD is read again and the crossing happens at its new end', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 300)
  await archive(topic, 0, 0, 100)
  await broker.deleteRecords(topic, 0, 150)
  let grown: Promise<void> | undefined
  const { consumer, delivered, switches } = await start(
    topic,
    {},
    {
      // The archiver commits [100, 200) while the consumer is still inside [0, 100).
      handler: async (d) => {
        if (d.offset === 40) await (grown = archive(topic, 0, 100, 200))
      },
    },
  )
  t.after(() => consumer.disconnect())
  await waitFor('300 records', () => delivered.length >= 300)
  await grown
  assert.deepEqual(offsetsOf(delivered), range(0, 300))
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '200' }])
})

test('several partitions with partitionsConsumedConcurrently and eachBatch; describeGroup shows the member', async (t) => {
  const topic = await newTopic(3)
  for (const p of [0, 1, 2]) await produce(topic, p, 0, 120)
  await archive(topic, 0, 0, 120) // all archived
  await archive(topic, 1, 0, 60) // half
  // partition 2: nothing archived
  const consumer = new ArchiveConsumer(consumerConfig())
  t.after(() => consumer.disconnect())
  const got = new Map<number, number[]>([0, 1, 2].map((p) => [p, []]))
  let concurrent = 0
  let maxConcurrent = 0
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachBatch: async ({ batch }) => {
      maxConcurrent = Math.max(maxConcurrent, ++concurrent)
      await new Promise((r) => setTimeout(r, 5))
      got.get(batch.partition)!.push(...batch.messages.map((m) => Number(m.offset)))
      concurrent--
    },
  })
  await waitFor('360 records', () => [...got.values()].every((o) => o.length >= 120))
  for (const p of [0, 1, 2]) assert.deepEqual(got.get(p), range(0, 120), `partition ${p}`)
  assert.ok(maxConcurrent <= 2, `at most 2 partitions at once, saw ${maxConcurrent}`)
  const group = await consumer.describeGroup()
  assert.equal(group.state, 'Stable')
  assert.equal(group.members.length, 1)
})

test('a gap in the archive index: Kafka serves what it still has, the rest is skipped by policy', async (t) => {
  const topic = await newTopic()
  await produce(topic, 0, 0, 200)
  const w = await PartitionWriter.open(store, { topic, partition: 0, writer: 'test', rowGroupBytes: 2048 })
  await w.appendSegment(range(0, 50).map((o) => record(0, o)))
  await w.appendGap({ firstOffset: 50n, lastOffset: 79n, reason: 'retention' })
  await w.appendSegment(range(80, 130).map((o) => record(0, o)))
  await broker.deleteRecords(topic, 0, 60) // Kafka still has 60..79 of the gap
  const { consumer, delivered, skipped, switches } = await start(topic, { onMissingOffsets: 'skip' })
  t.after(() => consumer.disconnect())
  await waitFor('190 records', () => delivered.length >= 190)
  assert.deepEqual(offsetsOf(delivered), [...range(0, 50), ...range(60, 200)])
  for (const d of delivered) assertSameRecord(d)
  assert.deepEqual(
    skipped.map((s) => [s.firstOffset, s.lastOffset]),
    [['50', '59']],
  )
  assert.match(skipped[0]!.reason, /retention/)
  assert.deepEqual(switches, [{ topic, partition: 0, offset: '60' }])
})

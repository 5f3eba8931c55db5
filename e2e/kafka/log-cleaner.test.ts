// Against Apache Kafka only: its log cleaner compacts, its retention deletes. No admin shortcut: topic configs make
// Kafka itself do it (segments rolled by time, cleaner and retention checks every second), and the tests wait for it.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { Archiver } from '@everlog/archiver'
import type { ArchiverConfigInput } from '@everlog/archiver'
import { ArchiveConsumer, ArchiveEvents } from '@everlog/consumer'
import { ArchiveReader, DataLossError, openStore } from '@everlog/core'
import type { GapEntry } from '@everlog/core'
import { kafkaMissing, startKafka } from '@everlog/testkit'
import type { KafkaBroker } from '@everlog/testkit'
import kafkajs from 'kafkajs'
import type { Admin, Kafka as KafkaClient } from 'kafkajs'

const { Kafka, logLevel } = kafkajs

let kafka: KafkaBroker
let client: KafkaClient
let admin: Admin
const dirs: string[] = []

function storeUrl(): string {
  const dir = mkdtempSync(join(tmpdir(), 'everlog-kafka-cleaner-'))
  dirs.push(dir)
  return pathToFileURL(dir).href
}

function archiver(url: string, topic: string, logs: string[], extra: Partial<ArchiverConfigInput> = {}): Archiver {
  return new Archiver(
    {
      brokers: kafka.brokers,
      topics: [topic],
      store: url,
      group: `g-${topic}-${Math.random().toString(36).slice(2)}`,
      once: true,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: 'info',
      progressIntervalMs: 0,
      segment: { maxRecords: 25 },
      kafka: { maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 500 },
      ...extra,
    },
    { processMetrics: false, logStream: { write: (s: string) => void logs.push(s) } },
  )
}

async function archiveOnce(url: string, topic: string, extra: Partial<ArchiverConfigInput> = {}): Promise<string[]> {
  const logs: string[] = []
  const a = archiver(url, topic, logs, extra)
  await a.start()
  await a.done
  return logs
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** Offsets and values a plain kafkajs consumer reads from partition 0, from the start up to the high watermark. */
async function readKafka(topic: string): Promise<{ offset: number; value: string | null }[]> {
  const { high } = (await admin.fetchTopicOffsets(topic))[0]!
  const out: { offset: number; value: string | null }[] = []
  const consumer = client.consumer({ groupId: `plain-${Math.random()}`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  await consumer.run({
    eachMessage: async ({ message }) => {
      out.push({ offset: Number(message.offset), value: message.value?.toString() ?? null })
      if (Number(message.offset) + 1 >= Number(high)) done()
    },
  })
  await Promise.race([
    finished,
    new Promise((_, rej) => setTimeout(() => rej(new Error('plain read timed out')), 30_000)),
  ])
  await consumer.disconnect()
  return out
}

/** Produces `count` records in rounds, pausing past segment.ms so Kafka rolls segments the cleaner may touch. */
/**
 * `archived` (offsets >= from) is a faithful copy of the compacted log. The cleaner may run again at any moment, so
 * it is not compared with one snapshot of Kafka: each record must be the one produced at its offset, in order, once,
 * and every record Kafka still serves after the archive was written (the newest of each key among them) must be in it.
 */
async function assertCompactedCopy(topic: string, archived: { offset: number; value: string | null }[], from: number) {
  for (const [i, r] of archived.entries()) {
    assert.equal(r.value, `v${r.offset}`, `offset ${r.offset} holds the record produced there`)
    if (i > 0) assert.ok(r.offset > archived[i - 1]!.offset, `offset ${r.offset} follows ${archived[i - 1]!.offset}`)
  }
  const have = new Set(archived.map((r) => r.offset))
  const served = (await readKafka(topic)).filter((r) => r.offset >= from)
  assert.ok(served.length > 0)
  for (const r of served) assert.ok(have.has(r.offset), `offset ${r.offset}, which Kafka still serves, is archived`)
}

/**
 * An ArchiveConsumer of a new group from offset 0, until it delivered offset `last`: offsets and values in delivery
 * order, and where it crossed into Kafka (archive.switch).
 */
async function replayFromZero(url: string, topic: string, last: number) {
  const consumer = new ArchiveConsumer({
    kafka: client,
    archive: url,
    groupId: `replay-${topic}-${Math.random().toString(36).slice(2)}`,
    maxWaitTimeInMs: 100,
  })
  const delivered: { offset: number; value: string | null }[] = []
  const switches: string[] = []
  consumer.on(ArchiveEvents.ARCHIVE_SWITCH, (e) => switches.push(e.payload.offset))
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replay stalled after ${delivered.length} records`)), 60_000)
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error))
      consumer
        .run({
          eachMessage: async ({ message }) => {
            delivered.push({ offset: Number(message.offset), value: message.value?.toString() ?? null })
            if (Number(message.offset) >= last) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return { delivered, switches }
}

async function produceRounds(topic: string, from: number, rounds: number, perRound: number, keys: number) {
  const producer = client.producer()
  await producer.connect()
  for (let r = 0; r < rounds; r++) {
    const base = from + r * perRound
    await producer.send({
      topic,
      messages: Array.from({ length: perRound }, (_, i) => ({
        partition: 0,
        key: `k${(base + i) % keys}`,
        value: `v${base + i}`,
      })),
    })
    await new Promise((res) => setTimeout(res, 150))
  }
  await producer.disconnect()
}

describe("Apache Kafka's log cleaner and retention", { skip: kafkaMissing() }, () => {
  before(async () => {
    kafka = await startKafka()
    client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING })
    admin = client.admin()
    await admin.connect()
  })
  after(async () => {
    await admin?.disconnect()
    await kafka?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  test('compacted by the log cleaner: the archive holds exactly what Kafka serves, holes and all, and no gap', async () => {
    const topic = 'cleaned'
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'segment.ms', value: '100' },
            { name: 'min.cleanable.dirty.ratio', value: '0.01' },
            { name: 'min.compaction.lag.ms', value: '0' },
          ],
        },
      ],
    })
    // 0..39 archived first (the cleaner may compact them before or after); 40..239 left to Kafka.
    await produceRounds(topic, 0, 2, 20, 8)
    const url = storeUrl()
    await archiveOnce(url, topic)
    assert.equal((await new ArchiveReader(openStore(url)).head(topic, 0))?.nextOffset, 40n)
    // 40..59 carry keys written once, so the cleaner never empties the segment at the boundary: emptied leading
    // segments are deleted, which moves Kafka's log start offset past them (then those offsets are not holes but
    // missing, and an ArchiveConsumer says so). 60..239 rewrite 8 keys over and over.
    await produceRounds(topic, 40, 1, 20, 1_000_000)
    await produceRounds(topic, 60, 9, 20, 8)
    // The cleaner works in passes while segments roll: wait until it compacted and then left the log alone.
    let previous = ''
    const kafkaLog = await waitFor('the log cleaner to compact, then settle', async () => {
      const log = await readKafka(topic)
      const seen = JSON.stringify(log)
      const settled = log.length < 120 && seen === previous
      previous = seen
      return settled ? log : undefined
    })
    const fromBoundary = kafkaLog.filter((r) => r.offset >= 40)
    assert.ok(fromBoundary.length < 200, 'Kafka holds holes above the boundary')
    const { low } = (await admin.fetchTopicOffsets(topic))[0]!
    assert.ok(Number(low) <= 40, `Kafka's log still starts at or below the archive's end (${low})`)

    const read = async (store: string) => {
      const reader = new ArchiveReader(openStore(store))
      const out: { offset: number; value: string | null }[] = []
      for await (const r of reader.read({ topic, partition: 0 })) {
        out.push({ offset: Number(r.offset), value: r.value?.toString() ?? null })
      }
      return { records: out, gaps: (await reader.head(topic, 0))?.gaps }
    }

    // An ArchiveConsumer from offset 0 while the archive ends at 40: the archived history (records the cleaner has
    // removed from Kafka since included), then Kafka's compacted log from 40 over its holes. Every offset the archive
    // or Kafka still holds, once, in order; nothing that neither held.
    const archived = (await read(url)).records
    const replay = await replayFromZero(url, topic, 239)
    const delivered = replay.delivered.map((r) => r.offset)
    for (const [i, r] of replay.delivered.entries()) {
      assert.equal(r.value, `v${r.offset}`, `offset ${r.offset} holds the record produced there`)
      if (i > 0) assert.ok(r.offset > delivered[i - 1]!, `offset ${r.offset} delivered after ${delivered[i - 1]}, once`)
    }
    const got = new Set(delivered)
    for (const r of archived) assert.ok(got.has(r.offset), `archived offset ${r.offset} delivered`)
    const kafkaNow = await readKafka(topic)
    for (const r of kafkaNow) assert.ok(got.has(r.offset), `offset ${r.offset}, which Kafka serves, delivered`)
    const held = new Set([...archived, ...kafkaLog].map((r) => r.offset))
    for (const o of delivered) assert.ok(held.has(o), `offset ${o} delivered: held by the archive or Kafka`)
    assert.deepEqual(replay.switches, ['40'], 'the crossing into Kafka is at the end of the archive')
    // The archive that stopped at 40 resumes over the holes: what it had, then what Kafka kept, and no gap.
    await archiveOnce(url, topic)
    const resumed = await read(url)
    // (The cleaner may already have compacted 0..39 before the first archive read them.)
    await assertCompactedCopy(topic, resumed.records, 0)
    assert.ok(
      resumed.records.some((r) => r.offset >= 40),
      'the resumed archive continued past 40',
    )
    assert.equal(resumed.gaps, 0)
    // A fresh archive of the compacted log holds what Kafka serves.
    const fresh = storeUrl()
    await archiveOnce(fresh, topic)
    const again = await read(fresh)
    await assertCompactedCopy(topic, again.records, 0)
    assert.ok(again.records.length < 240, 'the fresh archive has the holes the cleaner made')
    assert.equal(again.gaps, 0)
  })

  test('retention deletes what was not archived yet: a gap entry, an error log, a metric; onDataLoss fail stops instead', async () => {
    const topic = 'expiring'
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] })
    await produceRounds(topic, 0, 1, 50, 1000)
    const keep = storeUrl()
    const strict = storeUrl()
    await archiveOnce(keep, topic)
    await archiveOnce(strict, topic)
    // Now Kafka deletes anything older than a second, a segment at a time, while no archiver runs.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: 2, // TOPIC
          name: topic,
          configEntries: [
            { name: 'retention.ms', value: '1000' },
            { name: 'segment.ms', value: '100' },
          ],
        },
      ],
    })
    await produceRounds(topic, 50, 5, 20, 1000)
    const logStart = await waitFor('retention to delete past offset 50', async () => {
      const { low } = (await admin.fetchTopicOffsets(topic))[0]!
      return Number(low) > 50 ? Number(low) : undefined
    })

    const strictLogs: string[] = []
    const failing = archiver(strict, topic, strictLogs, { onDataLoss: 'fail' })
    await failing.start().catch(() => {})
    await assert.rejects(failing.done, (err: unknown) => err instanceof DataLossError && err.firstOffset === 50n)
    const strictHead = await new ArchiveReader(openStore(strict)).head(topic, 0)
    assert.equal(strictHead?.nextOffset, 50n)
    assert.equal(strictHead?.gaps, 0)

    const logs: string[] = []
    const a = archiver(keep, topic, logs)
    await a.start()
    await a.done
    const gaps: GapEntry[] = []
    const offsets: number[] = []
    for await (const r of new ArchiveReader(openStore(keep)).read({
      topic,
      partition: 0,
      onGap: 'skip',
      onGapSkipped: (g) => gaps.push(g),
    })) {
      offsets.push(Number(r.offset))
    }
    assert.equal(gaps.length, 1)
    assert.equal(gaps[0]!.firstOffset, 50n)
    assert.equal(gaps[0]!.reason, 'retention')
    const firstAfterGap = Number(gaps[0]!.lastOffset) + 1
    assert.ok(firstAfterGap >= logStart, `the gap covers what Kafka deleted (log start ${logStart})`)
    assert.deepEqual(
      offsets.slice(0, 50),
      Array.from({ length: 50 }, (_, i) => i),
    )
    assert.ok(
      offsets.slice(50).every((o, i) => o === firstAfterGap + i),
      'after the gap, every offset Kafka kept',
    )
    const overrun = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => String(l.msg).startsWith('retention overrun'))
    assert.equal(overrun?.level, 50)
    const metrics = await a.metrics.registry.metrics()
    assert.match(
      metrics,
      new RegExp(`everlog_archiver_data_loss_offsets_total\\{topic="${topic}",partition="0"\\} ${firstAfterGap - 50}`),
    )
  })
})

// Kafka faults under a running archiver, through the dev broker's control hook: NOT_LEADER_OR_FOLLOWER and
// REQUEST_TIMED_OUT on Fetch, dropped and delayed connections, a broker restart, and rebalances while segments are
// uploading (a slow store keeps commits in flight). Afterwards every produced offset is archived exactly once. Also:
// a retention overrun while the archiver was stopped reaches an ArchiveConsumer as a gap, per its policy.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ArchiveReader, readHead, verifyArchive } from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
import { FaultyStore } from '@everlog/core/testing'
import { ArchiveConsumer } from '@everlog/consumer'
import { Archiver } from '../src/archiver.js'
import type { ArchiverConfigInput } from '../src/config.js'
import { admin, broker, fileStore, kafka, LogSink, producer, useBroker } from './support.js'
import { devBrokerOnly } from '@everlog/testkit'

const FETCH = 1
const NOT_LEADER_OR_FOLLOWER = 6
const REQUEST_TIMED_OUT = 7

useBroker({
  clientId: 'kafka-fault-test',
  kafka: { retry: { retries: 20, initialRetryTime: 50, maxRetryTime: 500 } },
})

function archiver(store: ObjectStore, topic: string, extra: Partial<ArchiverConfigInput> = {}, logs = new LogSink()) {
  return new Archiver(
    {
      brokers: broker.brokers,
      topics: [topic],
      store: 'memory://unused',
      group: `g-${topic}`,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: 'info',
      progressIntervalMs: 0,
      segment: { maxRecords: 25, maxAgeMs: 200 },
      retry: { initialMs: 20, maxMs: 200, maxAttempts: 0 },
      kafka: { maxWaitTimeInMs: 50, sessionTimeout: 6000, heartbeatInterval: 300, requestTimeout: 3000 },
      ...extra,
    },
    { store, logStream: logs, processMetrics: false },
  )
}

/** Produces `count` records per partition, continuing where the partition's values left off. */
async function produce(topic: string, partitions: number, from: number, count: number): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    await producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({ partition: p, value: `${p}:${from + i}` })),
    })
  }
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function archivedUpTo(store: ObjectStore, topic: string, partitions: number, total: number): Promise<boolean> {
  for (let p = 0; p < partitions; p++) {
    const h = await readHead(store, topic, p)
    if (!h || h.head.nextOffset < BigInt(total)) return false
  }
  return true
}

async function assertExactlyOnce(store: ObjectStore, topic: string, partitions: number, total: number) {
  const v = await verifyArchive(store)
  assert.deepEqual(v.problems, [])
  assert.equal(v.checked.records, partitions * total)
  for (let p = 0; p < partitions; p++) {
    const got: string[] = []
    for await (const r of new ArchiveReader(store).read({ topic, partition: p })) got.push(`${r.offset}=${r.value}`)
    assert.deepEqual(
      got,
      Array.from({ length: total }, (_, i) => `${i}=${p}:${i}`),
    )
  }
}

describe('Kafka faults while archiving', () => {
  test(
    'Fetch errors (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT), dropped and delayed fetches, a broker restart',
    { skip: devBrokerOnly('injected Fetch errors, dropped connections') },
    async () => {
      const topic = 'kafka-faults'
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
      const store = fileStore()
      const logs = new LogSink()
      const a = archiver(store, topic, {}, logs)
      await a.start()
      let injected = 0
      const faults = [
        { errorCode: NOT_LEADER_OR_FOLLOWER },
        { errorCode: REQUEST_TIMED_OUT },
        { drop: true },
        { delayMs: 400 },
      ]
      let produced = 0
      for (let round = 0; round < 8; round++) {
        const fault = faults[round % faults.length]!
        let left = 3
        const unhook = broker.dev!.control(FETCH, () => {
          if (left <= 0) return undefined
          left--
          injected++
          return { ...fault, keep: true }
        })
        await produce(topic, 2, produced, 40)
        produced += 40
        if (round === 4) await broker.dev!.restart()
        // Every round's faults must really hit fetches, however slow the machine: the hook stays until they did.
        await waitFor(`round ${round}'s faults`, () => left === 0, 20_000)
        unhook()
      }
      try {
        await waitFor('everything archived', () => archivedUpTo(store, topic, 2, produced))
      } catch (e) {
        for (const l of logs.lines.slice(-60)) console.error(JSON.stringify(l).slice(0, 400))
        for (let p = 0; p < 2; p++)
          console.error('HEAD', p, (await readHead(store, topic, p))?.head.nextOffset, 'produced', produced)
        throw e
      }
      await a.stop()
      await a.done
      assert.ok(injected >= 12, `only ${injected} faults hit a Fetch`)
      await assertExactlyOnce(store, topic, 2, produced)
    },
  )

  test('rebalances while segments are uploading: members join and leave, every offset once, no partition stuck', async () => {
    const topic = 'rebalance-uploads'
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
    const inner = fileStore()
    // Slow segment and HEAD writes keep commits in flight across every rebalance.
    const slow = () =>
      new FaultyStore(inner, {
        rates: { slow: 0.6 },
        slowMs: 60,
        filter: { ops: ['put', 'putIfMatch', 'putIfAbsent'] },
      })
    const members: Archiver[] = []
    const logs: LogSink[] = []
    const join = async () => {
      const l = new LogSink()
      const m = archiver(slow(), topic, { writer: `member-${members.length}` }, l)
      members.push(m)
      logs.push(l)
      await m.start()
      return m
    }
    let produced = 0
    await join()
    for (let step = 0; step < 6; step++) {
      await produce(topic, 4, produced, 30)
      produced += 30
      if (step === 1 || step === 3) await join()
      if (step === 4) await members[0]!.stop()
      await new Promise((r) => setTimeout(r, 200))
    }
    try {
      await waitFor('everything archived', () => archivedUpTo(inner, topic, 4, produced), 30_000)
    } catch (err) {
      const heads = []
      for (let p = 0; p < 4; p++)
        heads.push(
          `${p}: ${(await readHead(inner, topic, p))?.head.nextOffset} by ${(await readHead(inner, topic, p))?.head.writer}`,
        )
      const notable = logs.flatMap((l, i) =>
        l.lines.filter((x) => Number(x.level) >= 40).map((x) => `member-${i}: ${x.msg}`),
      )
      throw new Error(
        `${(err as Error).message}; produced ${produced}; heads ${heads.join(', ')}; ${notable.slice(0, 12).join(' | ')}`,
      )
    } finally {
      for (const m of members) await m.stop()
    }
    await assertExactlyOnce(inner, topic, 4, produced)
    const fenced = logs.flatMap((l) => l.lines.filter((x) => /^fenced/.test(String(x.msg))))
    // A member fenced by a peer is allowed (it says so); what matters is that the archive is whole and sound.
    for (const f of fenced)
      assert.match(String(f.msg), new RegExp(`fenced: another writer advanced HEAD of ${topic}/\\d`))
  })
})

describe('retention overrun while the archiver is stopped', () => {
  test('a gap entry and an alarm; an ArchiveConsumer errors on it by default and skips it with an event on request', async () => {
    const topic = 'overrun-consumer'
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    const store = fileStore()
    await produce(topic, 1, 0, 100)
    const first = archiver(store, topic, { once: true })
    await first.start()
    await first.done
    // While no archiver runs, Kafka deletes 100..149 before they were archived.
    await produce(topic, 1, 100, 100)
    await broker.deleteRecords(topic, 0, 150)
    const logs = new LogSink()
    const second = archiver(store, topic, { once: true }, logs)
    await second.start()
    await second.done
    const alarm = logs.lines.find((l) => String(l.msg).startsWith('retention overrun'))
    assert.ok(alarm, 'no retention overrun error line')
    assert.equal(alarm.level, 50)
    assert.match(String(alarm.msg), new RegExp(`offsets 100\\.\\.149 of ${topic}/0`))
    const metrics = await second.metrics.registry.metrics()
    assert.match(metrics, /everlog_archiver_data_loss_offsets_total\{topic="overrun-consumer",partition="0"\} 50/)
    assert.equal((await verifyArchive(store)).checked.gaps, 1)
    // Kafka keeps nothing of it any more: only the archive can serve the partition.
    await broker.deleteRecords(topic, 0, 200)

    const run = async (onMissingOffsets: 'error' | 'skip') => {
      const consumer = new ArchiveConsumer({
        kafka,
        archive: store,
        groupId: `c-${onMissingOffsets}`,
        maxWaitTimeInMs: 50,
        onMissingOffsets,
        retry: { retries: 1, initialRetryTime: 50 },
      })
      const delivered: number[] = []
      const crashes: unknown[] = []
      const skipped: { firstOffset: string; lastOffset: string }[] = []
      consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error))
      consumer.on(consumer.events.ARCHIVE_UNAVAILABLE, (e) =>
        skipped.push(e.payload as { firstOffset: string; lastOffset: string }),
      )
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({ eachMessage: async ({ message }) => void delivered.push(Number(message.offset)) })
      return { consumer, delivered, crashes, skipped }
    }
    const strict = await run('error')
    await waitFor('the consumer to report the gap', () => strict.crashes.length > 0)
    await strict.consumer.disconnect()
    const err = strict.crashes[0] as Error & { code?: string }
    assert.ok(['ARCHIVE_UNAVAILABLE', 'DATA_LOSS'].includes(String(err.code)), `got ${String(err)}`)
    assert.match(err.message, /100\.\.149/)
    assert.deepEqual(
      strict.delivered,
      Array.from({ length: 100 }, (_, i) => i),
    )

    const lenient = await run('skip')
    await waitFor('150 records', () => lenient.delivered.length >= 150)
    await lenient.consumer.disconnect()
    assert.deepEqual(lenient.delivered, [
      ...Array.from({ length: 100 }, (_, i) => i),
      ...Array.from({ length: 50 }, (_, i) => 150 + i),
    ])
    assert.deepEqual(
      lenient.skipped.map((s) => [String(s.firstOffset), String(s.lastOffset)]),
      [['100', '149']],
    )
  })
})

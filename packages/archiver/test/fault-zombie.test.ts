// Two archivers that both believe they own the same partitions (two consumer groups pointed at one archive — the
// worst case of a stale generation, since Kafka never fences either): every write is conditional on HEAD, so exactly
// one HEAD lineage survives, the losers say "fenced" (error line + metric), and the archive holds every offset once.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ArchiveReader, readHead, verifyArchive } from '@everlog/core'
import { Archiver } from '../src/archiver.js'
import { broker, fileStore, LogSink, producer, useBroker } from './support.js'

const TOPIC = 'two-groups'
const PARTITIONS = 2

useBroker()

test('two groups archiving one topic into one archive: one lineage, the fenced side says so, every offset once', async () => {
  await broker.createTopic(TOPIC, { partitions: PARTITIONS })
  const store = fileStore('everlog-zombie-')
  const members = ['a', 'b'].map((name) => {
    const logs = new LogSink()
    const archiver = new Archiver(
      {
        brokers: broker.brokers,
        topics: [TOPIC],
        store: 'memory://unused',
        group: `group-${name}`,
        writer: `archiver-${name}`,
        http: { port: 0, host: '127.0.0.1' },
        logLevel: 'info',
        progressIntervalMs: 0,
        segment: { maxRecords: 15, maxAgeMs: 100 },
        retry: { initialMs: 10, maxMs: 100, maxAttempts: 0 },
        kafka: { maxWaitTimeInMs: 30 },
      },
      { store, logStream: logs, processMetrics: false },
    )
    return { name, archiver, logs }
  })
  for (const m of members) await m.archiver.start()
  let produced = 0
  for (let round = 0; round < 20; round++) {
    for (let p = 0; p < PARTITIONS; p++) {
      await producer.send({
        topic: TOPIC,
        messages: Array.from({ length: 10 }, (_, i) => ({ partition: p, value: `${p}:${produced + i}` })),
      })
    }
    produced += 10
    await new Promise((r) => setTimeout(r, 40))
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const heads = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => readHead(store, TOPIC, p)))
    if (heads.every((h) => h && h.head.nextOffset >= BigInt(produced))) break
    assert.ok(Date.now() < deadline, `not archived in time: ${heads.map((h) => h?.head.nextOffset).join(', ')}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  for (const m of members) await m.archiver.stop()

  const v = await verifyArchive(store)
  assert.deepEqual(v.problems, [])
  assert.equal(v.checked.records, PARTITIONS * produced)
  for (let p = 0; p < PARTITIONS; p++) {
    const got: string[] = []
    for await (const r of new ArchiveReader(store).read({ topic: TOPIC, partition: p }))
      got.push(`${r.offset}=${r.value}`)
    assert.deepEqual(
      got,
      Array.from({ length: produced }, (_, n) => `${n}=${p}:${n}`),
    )
  }
  // Racing writers lose conditional writes: each loss is an error line and a metric on the side that lost.
  let fenced = 0
  for (const m of members) {
    const lines = m.logs.lines.filter((l) =>
      /^fenced: another writer advanced HEAD of two-groups\/\d/.test(String(l.msg)),
    )
    const metrics = await m.archiver.metrics.registry.metrics()
    const counted = Number(/everlog_archiver_errors_total\{kind="fenced"\} (\d+)/.exec(metrics)?.[1] ?? 0)
    assert.equal(counted, lines.length, `${m.name}: fenced lines and metric disagree`)
    for (const l of lines) assert.equal(l.level, 50)
    fenced += lines.length
  }
  assert.ok(fenced > 0, 'two writers on one partition and nobody was fenced')
})

// A zombie archiver: process A is frozen (SIGSTOP) with records buffered, its group session expires, process B takes
// over its partitions and advances HEAD; then A is thawed (SIGCONT) and tries to commit what it held. Exactly one
// HEAD lineage survives: A is fenced, says so (error line + metric) and rejoins; nothing is lost or archived twice.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ArchiveReader, FileStore, verifyArchive } from '@everlog/core'
import { startDevBroker } from '@everlog/dev-broker'
import kafkajs from 'kafkajs'
import { readArchive, spawnCli, waitFor } from './support/stack.js'

const { Kafka, logLevel } = kafkajs
const TOPIC = 'zombie'
const PARTITIONS = 2

test(
  'a SIGSTOPped archiver resuming after a rebalance is fenced, says so, and the archive stays exact',
  {
    timeout: 120_000,
  },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'everlog-zombie-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
    t.after(() => broker.close())
    broker.createTopic(TOPIC, { partitions: PARTITIONS })
    const storeUrl = pathToFileURL(join(dir, 'archive')).href
    const store = new FileStore(join(dir, 'archive'))
    t.after(() => store.close())
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      EVERLOG_HTTP__HOST: '127.0.0.1',
      EVERLOG_KAFKA__SESSION_TIMEOUT: '3000',
      EVERLOG_KAFKA__HEARTBEAT_INTERVAL: '300',
    }
    const args = (extra: string[] = []) => [
      'archive',
      '--brokers',
      broker.brokers.join(','),
      '--topics',
      TOPIC,
      '--store',
      storeUrl,
      '--group',
      'zombies',
      '--http-port',
      '0',
      // Only age rolls segments, so a frozen process always holds records it has not committed yet.
      '--segment-max-records',
      '100000',
      '--segment-max-age',
      '700ms',
      ...extra,
    ]

    const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING, clientId: 'zombie-producer' })
    const producer = kafka.producer()
    await producer.connect()
    t.after(() => producer.disconnect())
    const produced = new Array<number>(PARTITIONS).fill(0)
    let producing = true
    const producerLoop = (async () => {
      while (producing) {
        for (let p = 0; p < PARTITIONS; p++) {
          const from = produced[p]!
          await producer.send({
            topic: TOPIC,
            messages: Array.from({ length: 10 }, (_, i) => ({ partition: p, value: `${p}:${from + i}` })),
          })
          produced[p] = from + 10
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    })()

    const reader = new ArchiveReader(store)
    const heads = async () => Promise.all(Array.from({ length: PARTITIONS }, (_, p) => reader.head(TOPIC, p)))

    const a = spawnCli(t, args(), { ...env, EVERLOG_WRITER: 'archiver-A' })
    const started = await a.waitForLog('archiver started')
    await waitFor(
      async () => (await heads()).every((h) => h && h.writer === 'archiver-A' && h.nextOffset > 0n),
      60_000,
      () => `A never committed both partitions; stdout:\n${a.stdout.slice(-3000)}`,
    )
    // Freeze A right after a commit: the next segment is filling up in its memory.
    const before = (await heads()).map((h) => h!.nextOffset)
    await waitFor(
      async () => (await heads()).some((h, p) => h!.nextOffset > before[p]!),
      20_000,
      () => 'A stopped committing',
    )
    a.kill('SIGSTOP')
    t.after(() => a.kill('SIGCONT'))
    const frozenAt = (await heads()).map((h) => h!.nextOffset)

    // B joins; once A's session expires B owns every partition and moves HEAD past where A left it.
    const b = spawnCli(t, args(), { ...env, EVERLOG_WRITER: 'archiver-B' })
    await waitFor(
      async () => (await heads()).every((h, p) => h!.writer === 'archiver-B' && h!.nextOffset > frozenAt[p]! + 50n),
      60_000,
      () => `B never took over; B stdout:\n${b.stdout.slice(-3000)}`,
    )

    // A wakes up believing it still owns both partitions.
    a.kill('SIGCONT')
    const fenced = await a
      .waitForLog(
        `fenced: another writer advanced HEAD of ${TOPIC}/0; this archiver stops writing it (other partitions continue)`,
        undefined,
        20_000,
      )
      .catch(async () =>
        a.waitForLog(
          `fenced: another writer advanced HEAD of ${TOPIC}/1; this archiver stops writing it (other partitions continue)`,
          undefined,
          5_000,
        ),
      )
    assert.equal(fenced.level, 50)
    const metrics = await (await fetch(`http://127.0.0.1:${Number(started.httpPort)}/metrics`)).text()
    assert.match(metrics, /everlog_archiver_errors_total\{kind="fenced"\} [1-9]/)
    t.diagnostic(`A fenced: ${String(fenced.msg)}`)

    // Both keep running side by side for a while (A rejoined the group), then stop cleanly.
    await new Promise((r) => setTimeout(r, 2500))
    producing = false
    await producerLoop
    a.kill('SIGTERM')
    b.kill('SIGTERM')
    assert.equal((await a.exit).code, 0, `A: ${a.stderr}`)
    assert.equal((await b.exit).code, 0, `B: ${b.stderr}`)
    const last = spawnCli(t, args(['--once']), { ...env, EVERLOG_WRITER: 'archiver-C' })
    assert.equal((await last.exit).code, 0, last.stderr)

    const v = await verifyArchive(store)
    assert.deepEqual(v.problems, [])
    assert.equal(
      v.checked.records,
      produced.reduce((x, y) => x + y, 0),
    )
    const archive = await readArchive(store, TOPIC, PARTITIONS)
    for (let p = 0; p < PARTITIONS; p++) {
      assert.deepEqual(
        archive.get(p)!.map((r) => `${r.offset}=${r.value}`),
        Array.from({ length: produced[p]! }, (_, n) => `${n}=${p}:${n}`),
      )
    }
  },
)

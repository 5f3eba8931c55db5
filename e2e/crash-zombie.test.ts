// A zombie archiver: process A is frozen (SIGSTOP) in the middle of a commit, its group session expires, process B
// takes over its partitions and advances HEAD; then A is thawed (SIGCONT) and its commit goes on. Exactly one HEAD
// lineage survives: A is fenced, says so (error line + metric) and rejoins; nothing is lost or archived twice.
//
// The store is the local S3 server, which holds A's next segment upload until the test lets it go: A is frozen with
// a commit truly in flight. (Frozen between commits, A might hear of the rebalance before it writes again and drop its
// buffer without writing, which is also correct but would not exercise the fence.)
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ArchiveReader, verifyArchive } from '@everlog/core'
import { devBrokerOnly } from '@everlog/testkit'
import { readArchive, spawnCli, startStack, waitFor } from './support/stack.js'

const TOPIC = 'zombie'
const PARTITIONS = 2

test(
  'a SIGSTOPped archiver resuming after a rebalance is fenced, says so, and the archive stays exact',
  {
    timeout: 120_000,
    // Against Apache Kafka it overran 120 s (not yet known whether by rebalances or by a slow machine).
    skip: devBrokerOnly(
      'SIGSTOP, session expiry and fencing within 120 s have not yet been made to fit against Apache Kafka',
    ),
  },
  async (t) => {
    const stack = await startStack(t, 'zombie')
    const { broker, store } = stack
    await broker.createTopic(TOPIC, { partitions: PARTITIONS })
    const env = {
      ...stack.env,
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
      stack.storeUrl,
      '--group',
      'zombies',
      '--http-port',
      '0',
      // Only age rolls segments, so a running archiver commits every partition often.
      '--segment-max-records',
      '100000',
      '--segment-max-age',
      '700ms',
      ...extra,
    ]

    const producer = stack.kafka.producer()
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
    // A's next segment upload is held: freeze A while that commit is in flight.
    const hold = stack.s3.holdNext({ method: 'PUT', key: new RegExp(`/${TOPIC}/data/partition=\\d+/`) })
    t.after(() => hold.release())
    const heldKey = await hold.caught
    a.kill('SIGSTOP')
    t.after(() => a.kill('SIGCONT'))
    t.diagnostic(`A frozen while uploading ${heldKey}`)
    const frozenAt = (await heads()).map((h) => h!.nextOffset)

    // B joins; once A's session expires B owns every partition and moves HEAD past where A left it.
    const b = spawnCli(t, args(), { ...env, EVERLOG_WRITER: 'archiver-B' })
    await waitFor(
      async () => (await heads()).every((h, p) => h!.writer === 'archiver-B' && h!.nextOffset > frozenAt[p]! + 50n),
      60_000,
      () => `B never took over; B stdout:\n${b.stdout.slice(-3000)}`,
    )

    // A wakes up believing it still owns both partitions, and its upload goes on.
    a.kill('SIGCONT')
    hold.release()
    const heldPartition = Number(/partition=(\d+)\//.exec(heldKey)![1])
    const fenced = await a.waitForLog(
      `fenced: another writer advanced HEAD of ${TOPIC}/${heldPartition}; this archiver stops writing it (other partitions continue)`,
      undefined,
      20_000,
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
    assert.equal((await a.exit).code, 0, `A: ${a.stderr}\n${a.stdout.slice(-6000)}`)
    assert.equal((await b.exit).code, 0, `B: ${b.stderr}\n${b.stdout.slice(-6000)}`)
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

// kill -9 of a real `everlog archive` process at random moments, over and over, while a producer keeps writing:
// after each restart the archive resumes at HEAD; in the end everything produced is archived exactly once and
// verify is sound. 5 iterations always; 100 with EVERLOG_LONG_TESTS=1 (seed in EVERLOG_CRASH_SEED).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { FileStore, verifyArchive } from '@everlog/core'
import { devBrokerOnly, startTestBroker } from '@everlog/testkit'
import kafkajs from 'kafkajs'
import { prng } from './support/records.js'
import { archivedUpTo, readArchive, spawnCli } from './support/stack.js'

const { Kafka, logLevel } = kafkajs
const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const ITERATIONS = LONG ? 100 : 5
const SEED = Number(process.env.EVERLOG_CRASH_SEED ?? 20261122)
const PARTITIONS = 3
const TOPIC = 'crashy'

test(
  `kill -9 of the archiver process at random moments (${ITERATIONS} iterations): every offset archived once`,
  {
    timeout: LONG ? 3_600_000 : 120_000,
    // Against Apache Kafka it overran 120 s (not yet known whether by rebalances or by a slow machine).
    skip: devBrokerOnly('five kill -9 restarts within 120 s have not yet been made to fit against Apache Kafka'),
  },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'everlog-crash-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const broker = await startTestBroker()
    t.after(() => broker.close())
    await broker.createTopic(TOPIC, { partitions: PARTITIONS })
    const storeUrl = pathToFileURL(join(dir, 'archive')).href
    const env = { PATH: process.env.PATH ?? '', HOME: dir, EVERLOG_HTTP__HOST: '127.0.0.1' }
    const random = prng(SEED)

    // A producer that never stops while archivers die: offset n of partition p holds "p:n".
    const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING, clientId: 'crash-producer' })
    const producer = kafka.producer()
    await producer.connect()
    const produced = new Array<number>(PARTITIONS).fill(0)
    let producing = true
    const producerLoop = (async () => {
      while (producing) {
        for (let p = 0; p < PARTITIONS; p++) {
          const n = 1 + Math.floor(random() * 20)
          const from = produced[p]!
          await producer.send({
            topic: TOPIC,
            messages: Array.from({ length: n }, (_, i) => ({
              partition: p,
              key: `k${from + i}`,
              value: `${p}:${from + i}`,
            })),
          })
          produced[p] = from + n
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    // Stop producing before disconnecting, also when an assertion failed half-way.
    t.after(async () => {
      producing = false
      await producerLoop.catch(() => {})
      await producer.disconnect()
    })

    const args = (group: string, extra: string[] = []) => [
      'archive',
      '--brokers',
      broker.brokers.join(','),
      '--topics',
      TOPIC,
      '--store',
      storeUrl,
      '--group',
      group,
      '--http-port',
      '0',
      '--log-level',
      'info',
      '--segment-max-records',
      '40',
      '--segment-max-age',
      '300ms',
      ...extra,
    ]
    const store = new FileStore(join(dir, 'archive'))
    t.after(() => store.close())
    const outcomes: string[] = []
    let previous = 0n
    for (let i = 0; i < ITERATIONS; i++) {
      // A new group per process: the killed member would otherwise hold its partitions until its session expires.
      const proc = spawnCli(t, args(`crash-${i}`), env)
      // Random moments once the process archives (start-up is the same code every time, and slow under tsx).
      const spawned = Date.now()
      await proc.waitForLog('partitions assigned')
      const startup = Date.now() - spawned
      // The first segment lands ~2 s after the assignment (WASM start-up): kills fall before, during and after it.
      const killAfter = Math.floor(random() * 6000)
      await new Promise((r) => setTimeout(r, killAfter))
      proc.kill('SIGKILL')
      const { signal, code } = await proc.exit
      const heads = await archivedUpTo(store, TOPIC, PARTITIONS)
      const total = heads.reduce((a, b) => a + b, 0n)
      // Every crash leaves a sound archive: at most unreferenced objects, never a broken reference.
      const v = await verifyArchive(store)
      assert.deepEqual(v.problems, [], `iteration ${i}: verify after kill -9; so far:\n${outcomes.join('\n')}`)
      outcomes.push(
        `#${i} up after ${startup} ms, killed ${killAfter} ms after its assignment (${signal ?? `exit ${code}`}): ` +
          `archived ${total} (+${total - previous}), ` +
          `produced ${produced.reduce((a, b) => a + b, 0)}`,
      )
      assert.equal(
        signal ?? (code === null ? 'SIGKILL' : `exit ${code}: ${proc.stderr}`),
        'SIGKILL',
        `iteration ${i}; so far:\n${outcomes.join('\n')}`,
      )
      previous = total
    }
    producing = false
    await producerLoop
    for (const line of outcomes) t.diagnostic(line)

    // A last archiver finishes the job and exits on its own.
    const last = spawnCli(t, args('crash-final', ['--once']), env)
    const end = await last.exit
    assert.equal(end.code, 0, `final --once run failed: ${last.stderr}\n${last.stdout.slice(-2000)}`)

    const v = await verifyArchive(store)
    assert.deepEqual(v.problems, [])
    const expectedTotal = produced.reduce((a, b) => a + b, 0)
    assert.equal(v.checked.records, expectedTotal)
    const archive = await readArchive(store, TOPIC, PARTITIONS)
    for (let p = 0; p < PARTITIONS; p++) {
      assert.equal(await broker.highWatermark(TOPIC, p), produced[p])
      const got = archive.get(p)!.map((r) => `${r.offset}=${r.value}`)
      assert.equal(got.length, produced[p], `partition ${p}`)
      assert.deepEqual(
        got,
        Array.from({ length: produced[p]! }, (_, n) => `${n}=${p}:${n}`),
      )
    }
    t.diagnostic(
      `${ITERATIONS} kills, then --once: ${expectedTotal} records in ${v.checked.segments} segments, verify ok`,
    )
  },
)

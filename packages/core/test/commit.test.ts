// The commit protocol against every store (memory, file, S3 over HTTP), and two writer PROCESSES on one file store.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { FencedError } from '../src/errors.js'
import { readHead } from '../src/head.js'
import { PartitionWriter } from '../src/partition-writer.js'
import { ArchiveReader } from '../src/reader.js'
import type { ArchiveRecord } from '../src/record.js'
import { FileStore } from '../src/store/file.js'
import { MemoryStore } from '../src/store/memory.js'
import { S3Store } from '../src/store/s3.js'
import type { ObjectStore } from '../src/store/types.js'
import { startS3Server } from '../src/testing/s3-server.js'
import { verifyArchive } from '../src/verify.js'

const T0 = 1_700_000_000_000n

function records(from: number, count: number, tag = 'x'): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: BigInt(from + i),
    timestamp: T0 + BigInt(from + i),
    key: null,
    value: Buffer.from(`${tag}:${from + i}`),
    headers: [],
  }))
}

async function readValues(store: ObjectStore, partition = 0): Promise<string[]> {
  const out: string[] = []
  for await (const r of new ArchiveReader(store).read({ topic: 'orders', partition, onGap: 'skip' })) {
    out.push(`${r.offset}=${r.value}`)
  }
  return out
}

const expected = (from: number, to: number, tag = 'x') =>
  Array.from({ length: to - from }, (_, i) => `${from + i}=${tag}:${from + i}`)

const tempDirs: string[] = []
after(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true })
})
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'everlog-commit-'))
  tempDirs.push(d)
  return d
}

function storeSuite(name: string, makeStore: () => Promise<ObjectStore>) {
  describe(`commit protocol on ${name}`, () => {
    test('commits, resumes after reopen, and reads back exactly', async () => {
      const store = await makeStore()
      const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'a', fanout: 3 })
      for (let i = 0; i < 8; i++) await w.appendSegment(records(i * 5, 5))
      await w.appendGap({ firstOffset: 40n, lastOffset: 44n, reason: 'retention' })
      const reopened = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'b', fanout: 3 })
      assert.equal(reopened.nextOffset, 45n)
      await reopened.appendSegment(records(45, 5))
      assert.deepEqual(await readValues(store), [...expected(0, 40), ...expected(45, 50)])
      const v = await verifyArchive(store)
      assert.deepEqual(v.problems, [])
      assert.equal(v.checked.records, 45)
      await store.close()
    })

    test('the writer whose conditional HEAD write loses is fenced; the winner continues', async () => {
      const store = await makeStore()
      const a = await PartitionWriter.open(store, { topic: 'orders', partition: 1, writer: 'a' })
      await a.appendSegment(records(0, 3, 'a'))
      const b = await PartitionWriter.open(store, { topic: 'orders', partition: 1, writer: 'b' })
      const c = await PartitionWriter.open(store, { topic: 'orders', partition: 1, writer: 'c' })
      // b and c hold the same HEAD etag and race: exactly one conditional write can win.
      const results = await Promise.allSettled([
        b.appendSegment(records(3, 3, 'b')),
        c.appendSegment(records(3, 3, 'c')),
      ])
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r) => r.status === 'rejected')
      assert.equal(won.length, 1)
      assert.equal(lost.length, 1)
      assert.ok((lost[0] as PromiseRejectedResult).reason instanceof FencedError)
      const winner = results[0]!.status === 'fulfilled' ? b : c
      const tag = winner === b ? 'b' : 'c'
      await assert.rejects(a.appendSegment(records(6, 1, 'a')), FencedError)
      await winner.appendSegment(records(6, 2, tag))
      assert.deepEqual(await readValues(store, 1), [...expected(0, 3, 'a'), ...expected(3, 8, tag)])
      assert.equal((await readHead(store, 'orders', 1))!.head.writer, tag)
      assert.equal((await verifyArchive(store)).ok, true)
      await store.close()
    })

    test('a crash before the HEAD write leaves a sound archive and resuming duplicates nothing', async () => {
      const store = await makeStore()
      let crash = false
      const hooks = {
        beforeHeadWrite: () => {
          if (crash) throw new Error('simulated crash')
        },
      }
      const w = await PartitionWriter.open(store, { topic: 'orders', partition: 2, writer: 'a', fanout: 2, hooks })
      for (let i = 0; i < 4; i++) await w.appendSegment(records(i * 2, 2))
      crash = true
      await assert.rejects(w.appendSegment(records(8, 2)), /simulated crash/)
      assert.equal((await verifyArchive(store)).ok, true)
      const resumed = await PartitionWriter.open(store, { topic: 'orders', partition: 2, writer: 'b', fanout: 2 })
      assert.equal(resumed.nextOffset, 8n)
      await resumed.appendSegment(records(8, 4))
      assert.deepEqual(await readValues(store, 2), expected(0, 12))
      assert.equal((await verifyArchive(store)).ok, true)
      await store.close()
    })
  })
}

storeSuite('MemoryStore', async () => new MemoryStore())
storeSuite('FileStore', async () => new FileStore(await tempDir()))

const s3 = await startS3Server()
after(() => s3.close())
let bucketNo = 0
storeSuite('S3 over HTTP', async () => {
  const bucket = `commit-${++bucketNo}`
  await s3.createBucket(bucket)
  return new S3Store({ bucket, prefix: 'archive/' }, s3.clientConfig())
})

// Run as a child process by the test below: open a writer, wait for the start signal, append until done or fenced.
const CHILD = `
const [srcUrl, dir, name, go, segments] = process.argv.slice(1)
const { FileStore } = await import(new URL('store/file.ts', srcUrl).href)
const { PartitionWriter } = await import(new URL('partition-writer.ts', srcUrl).href)
const { existsSync } = await import('node:fs')
const store = new FileStore(dir)
const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: name, fanout: 4 })
process.stdout.write('ready\\n')
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 2))
let committed = 0
try {
  for (let i = 0; i < Number(segments); i++) {
    const from = Number(w.nextOffset)
    const recs = Array.from({ length: 4 }, (_, j) => ({ offset: BigInt(from + j), timestamp: BigInt(from + j), key: null, value: Buffer.from(name + ':' + (from + j)), headers: [] }))
    await w.appendSegment(recs)
    committed++
  }
  process.stdout.write('done ' + committed + '\\n')
} catch (err) {
  process.stdout.write((err.code ?? err.message) + ' ' + committed + '\\n')
}
`

function child(args: string[]): { ready: Promise<void>; result: Promise<string> } {
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  let onReady: () => void
  const ready = new Promise<void>((r) => (onReady = r))
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    if (out.includes('ready\n')) onReady()
  })
  const result = new Promise<string>((resolve, reject) => {
    p.on('error', reject)
    p.on('exit', (code) =>
      code === 0 ? resolve(out.replace('ready\n', '').trim()) : reject(new Error(`child exited ${code}: ${out}`)),
    )
  })
  return { ready, result }
}

test('two writer processes on one file store: exactly one lineage wins, the other is fenced', async () => {
  const srcUrl = new URL('../src/', import.meta.url).href
  for (let round = 0; round < 2; round++) {
    const dir = await tempDir()
    const store = new FileStore(dir)
    // Some history first, so both processes resume from the same HEAD and race with If-Match on one etag.
    const seed = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'seed', fanout: 4 })
    await seed.appendSegment(records(0, 4, 'seed'))
    const go = join(dir, 'go')
    const children = ['p1', 'p2'].map((name) => ({ name, ...child([srcUrl, dir, name, go, '6']) }))
    await Promise.all(children.map((c) => c.ready))
    await writeFile(go, '')
    // HEAD must parse at every moment of the race.
    let polls = 0
    const settled = Promise.all(children.map((c) => c.result))
    let done = false
    void settled.finally(() => (done = true))
    while (!done) {
      await readHead(store, 'orders', 0)
      polls++
    }
    const outcomes = await settled
    const winners = outcomes.filter((o) => o === 'done 6')
    const fenced = outcomes.filter((o) => /^FENCED \d+$/.test(o))
    assert.equal(winners.length, 1, `outcomes: ${outcomes.join(', ')}`)
    assert.equal(fenced.length, 1, `outcomes: ${outcomes.join(', ')}`)
    assert.ok(polls > 0)
    const winner = children[outcomes.indexOf('done 6')]!.name
    // The loser's commits (if it won some before losing one) precede the winner's; nothing is lost or doubled.
    const values = await readValues(store)
    assert.equal(values.length, 4 + 4 * (6 + Number(fenced[0]!.split(' ')[1])))
    values.forEach((v, i) => assert.match(v, new RegExp(`^${i}=(seed|p1|p2):${i}$`)))
    assert.match(values.at(-1)!, new RegExp(`=${winner}:`))
    assert.equal((await readHead(store, 'orders', 0))!.head.writer, winner)
    assert.deepEqual((await verifyArchive(store)).problems, [])
  }
})

test('S3: a HEAD write the server refuses with 503 fails retriably, and the same commit succeeds on retry', async () => {
  await s3.createBucket('commit-faults')
  const store = new S3Store({ bucket: 'commit-faults', prefix: '' }, { ...s3.clientConfig(), maxAttempts: 1 })
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'a' })
  await w.appendSegment(records(0, 2))
  s3.failNext(1, 503, { method: 'PUT', key: /\/HEAD$/ })
  await assert.rejects(
    w.appendSegment(records(2, 2)),
    (err: unknown) => (err as { retriable?: boolean }).retriable === true,
  )
  assert.equal(w.fenced, false)
  await w.appendSegment(records(2, 2))
  assert.deepEqual(await readValues(store), expected(0, 4))
  assert.equal((await verifyArchive(store)).ok, true)
  await store.close()
})

// The commit protocol and ArchiveReader against a faulty object store (seeded 5xx, throttling, timeouts, resets, lost
// answers, slow responses) and against the S3 test server's HTTP-level faults: progress with retries, HEAD never
// corrupted, every offset exactly once, no false fencing, and a lasting outage surfaces as a typed error.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { EverlogError, FencedError, StoreUnavailableError } from '../src/errors.js'
import { readHead } from '../src/head.js'
import { headKey } from '../src/layout.js'
import { PartitionWriter } from '../src/partition-writer.js'
import { ArchiveReader } from '../src/reader.js'
import type { ArchiveRecord } from '../src/record.js'
import { FileStore } from '../src/store/file.js'
import { MemoryStore } from '../src/store/memory.js'
import { S3Store } from '../src/store/s3.js'
import type { ObjectStore } from '../src/store/types.js'
import { FaultyStore } from '../src/testing/faulty-store.js'
import type { FaultRates } from '../src/testing/faulty-store.js'
import { startS3Server } from '../src/testing/s3-server.js'
import { verifyArchive } from '../src/verify.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const T0 = 1_700_000_000_000n
const TOPIC = 'orders'

const tempDirs: string[] = []
after(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true })
})
async function fileStore(): Promise<FileStore> {
  const d = await mkdtemp(join(tmpdir(), 'everlog-fault-'))
  tempDirs.push(d)
  return new FileStore(d, { fsync: false })
}

function records(from: number, count: number): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: BigInt(from + i),
    timestamp: T0 + BigInt(from + i),
    key: Buffer.from(`k${from + i}`),
    value: Buffer.from(`v:${from + i}`),
    headers: [],
  }))
}

/** Reads every offset of the partition, resuming after each retriable failure the way a consumer does. */
async function readAllResuming(store: ObjectStore, partition = 0): Promise<{ offsets: bigint[]; failures: number }> {
  const offsets: bigint[] = []
  let failures = 0
  const reader = new ArchiveReader(store)
  for (;;) {
    try {
      const from = offsets.length === 0 ? undefined : offsets[offsets.length - 1]! + 1n
      for await (const r of reader.read({
        topic: TOPIC,
        partition,
        ...(from === undefined ? {} : { fromOffset: from }),
      })) {
        assert.equal(r.value?.toString(), `v:${r.offset}`)
        offsets.push(r.offset)
      }
      return { offsets, failures }
    } catch (err) {
      assert.ok(err instanceof EverlogError && err.retriable, `a read failed with a non-retriable error: ${err}`)
      failures++
      assert.ok(failures < 500, 'the reader made no progress')
    }
  }
}

/**
 * The archiver's loop in miniature: commit batches through a writer, retrying retriable errors with the same
 * records (from the writer's nextOffset), reopening the writer after a failure to open it.
 */
async function archiveWithRetries(
  store: ObjectStore,
  total: number,
  batch: number,
  fanout: number,
): Promise<{ writer: PartitionWriter; retries: number }> {
  let retries = 0
  let writer: PartitionWriter | undefined
  for (;;) {
    try {
      writer ??= await PartitionWriter.open(store, { topic: TOPIC, partition: 0, writer: 'w', fanout })
      const next = Number(writer.nextOffset)
      if (next >= total) return { writer, retries }
      await writer.appendSegment(records(next, Math.min(batch, total - next)))
    } catch (err) {
      // A single writer must never see itself fenced, whatever the store loses.
      assert.ok(!(err instanceof FencedError), `a lone writer was fenced: ${err}`)
      assert.ok(err instanceof StoreUnavailableError, `unexpected error ${err}`)
      retries++
      assert.ok(retries < 2000, 'no progress under faults')
    }
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => BigInt(from + i))

describe('PartitionWriter through FaultyStore', () => {
  const mixes: [string, FaultRates][] = [
    ['5xx and throttling', { unavailable: 0.1, throttle: 0.1 }],
    ['timeouts and resets', { timeout: 0.05, reset: 0.15 }],
    ['lost answers', { lostAnswer: 0.25 }],
    [
      'everything at once',
      { unavailable: 0.05, throttle: 0.05, timeout: 0.03, reset: 0.05, lostAnswer: 0.1, slow: 0.1 },
    ],
  ]
  const seeds = LONG ? Array.from({ length: 20 }, (_, i) => i + 1) : [7, 42]
  for (const [name, rates] of mixes) {
    test(`${name}: progress, sound HEAD, every offset exactly once, never fenced (seeds ${seeds.join(',')})`, async () => {
      for (const seed of seeds) {
        const inner = await fileStore()
        const store = new FaultyStore(inner, { seed, rates, slowMs: 2, timeoutMs: 5 })
        const { writer, retries } = await archiveWithRetries(store, 120, 7, 3)
        assert.equal(writer.fenced, false)
        assert.ok(store.failures > 0, `seed ${seed}: no fault was injected`)
        assert.ok(retries > 0)
        // HEAD in the store is exactly what the writer believes it committed.
        assert.deepEqual((await readHead(inner, TOPIC, 0))!.head, writer.head)
        const v = await verifyArchive(inner)
        assert.deepEqual(v.problems, [], `seed ${seed}`)
        assert.equal(v.checked.records, 120)
        const read = await readAllResuming(new FaultyStore(inner, { seed, rates, slowMs: 2, timeoutMs: 5 }))
        assert.deepEqual(read.offsets, range(0, 120))
        await inner.close()
      }
    })
  }

  test('a HEAD write whose answer is lost is a success, not fencing (first HEAD and later ones)', async () => {
    const inner = new MemoryStore()
    const store = new FaultyStore(inner)
    const w = await PartitionWriter.open(store, { topic: TOPIC, partition: 0, writer: 'w' })
    store.failNext(1, 'lostAnswer', { ops: ['putIfAbsent'], key: headKey(TOPIC, 0) })
    const first = await w.appendSegment(records(0, 5))
    assert.equal(first.head.nextOffset, 5n)
    store.failNext(1, 'lostAnswer', { ops: ['putIfMatch'] })
    await w.appendSegment(records(5, 5))
    assert.equal(store.stats.faults.lostAnswer, 2)
    assert.equal(w.fenced, false)
    assert.equal(w.nextOffset, 10n)
    await w.appendSegment(records(10, 5))
    assert.deepEqual((await readAllResuming(inner)).offsets, range(0, 15))
  })

  test('a lost answer while another writer took over is fencing, and the zombie changes nothing', async () => {
    const inner = new MemoryStore()
    const store = new FaultyStore(inner)
    const zombie = await PartitionWriter.open(store, { topic: TOPIC, partition: 0, writer: 'zombie' })
    await zombie.appendSegment(records(0, 5))
    // The zombie's HEAD write is refused without an answer; meanwhile the new owner advances HEAD.
    const owner = await PartitionWriter.open(inner, { topic: TOPIC, partition: 0, writer: 'owner' })
    store.failNext(1, 'reset', { ops: ['putIfMatch'] })
    await owner.appendSegment(records(5, 5))
    await assert.rejects(zombie.appendSegment(records(5, 5)), FencedError)
    assert.equal(zombie.fenced, true)
    await assert.rejects(zombie.appendSegment(records(10, 5)), FencedError)
    await owner.appendSegment(records(10, 5))
    const head = (await readHead(inner, TOPIC, 0))!.head
    assert.equal(head.writer, 'owner')
    assert.equal(head.nextOffset, 15n)
    assert.deepEqual((await verifyArchive(inner)).problems, [])
    assert.deepEqual((await readAllResuming(inner)).offsets, range(0, 15))
  })

  test('a lasting outage fails every commit with a retriable StoreUnavailableError naming the object; HEAD is untouched', async () => {
    const inner = new MemoryStore()
    const store = new FaultyStore(inner)
    const w = await PartitionWriter.open(store, { topic: TOPIC, partition: 0, writer: 'w' })
    await w.appendSegment(records(0, 5))
    const before = (await readHead(inner, TOPIC, 0))!
    store.down()
    for (let i = 0; i < 3; i++) {
      await assert.rejects(w.appendSegment(records(5, 5)), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError)
        assert.equal(err.retriable, true)
        assert.match(err.message, /orders\/(data|index)\//)
        return true
      })
    }
    assert.deepEqual(await readHead(inner, TOPIC, 0), before)
    store.up()
    await w.appendSegment(records(5, 5))
    assert.equal(w.fenced, false)
    assert.equal(w.nextOffset, 10n)
  })
})

describe('PartitionWriter over S3 (HTTP) with server-side faults', () => {
  test('random 500/503/resets/lost answers/timeouts on every request kind: sound archive, exactly once, never fenced', async (t) => {
    const server = await startS3Server()
    t.after(() => server.close())
    const store = new S3Store(
      { bucket: server.bucket!, prefix: 'a/' },
      { ...server.clientConfig(), maxAttempts: 1, requestTimeoutMs: 400 },
    )
    t.after(() => store.close())
    let seed = 99
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const faults = [500, 503, 'reset', 'drop-response'] as const
    const total = LONG ? 400 : 60
    let retries = 0
    let writer: PartitionWriter | undefined
    for (;;) {
      // Before each attempt, maybe arm one fault on the next PUT, GET or any request.
      if (random() < 0.5) {
        const fault = faults[Math.floor(random() * faults.length)]!
        const method = random() < 0.5 ? 'PUT' : undefined
        // A delay past the client's timeout: the request is still carried out, its answer comes too late.
        if (random() < 0.2) server.delayNext(1, 700, method ? { method } : {})
        else server.failNext(1, fault, method ? { method } : {})
      }
      try {
        writer ??= await PartitionWriter.open(store, { topic: TOPIC, partition: 0, writer: 's3', fanout: 4 })
        const next = Number(writer.nextOffset)
        if (next >= total) break
        await writer.appendSegment(records(next, Math.min(6, total - next)))
      } catch (err) {
        assert.ok(!(err instanceof FencedError), `a lone writer was fenced: ${err}`)
        assert.ok(err instanceof EverlogError && err.retriable, `unexpected error ${err}`)
        retries++
        assert.ok(retries < 1000)
      }
    }
    assert.ok(retries > 0, 'no fault hit a commit')
    const clean = new S3Store({ bucket: server.bucket!, prefix: 'a/' }, server.clientConfig())
    t.after(() => clean.close())
    // Drain any still-armed fault so verification reads a healthy server.
    for (let i = 0; i < 4; i++) await clean.head('probe').catch(() => {})
    const v = await verifyArchive(clean)
    assert.deepEqual(v.problems, [])
    assert.equal(v.checked.records, total)
    assert.deepEqual((await readAllResuming(clean)).offsets, range(0, total))
  })
})

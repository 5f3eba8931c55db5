import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FencedError, InvalidArgumentError, OffsetOrderError, StoreUnavailableError } from '../src/errors.js'
import { readHead } from '../src/head.js'
import { DESCRIPTOR_KEY, headKey } from '../src/layout.js'
import { PartitionWriter } from '../src/partition-writer.js'
import type { CommitHooks } from '../src/partition-writer.js'
import { ArchiveReader } from '../src/reader.js'
import type { ArchiveRecord } from '../src/record.js'
import { encodeSegment } from '../src/segment/index.js'
import { MemoryStore } from '../src/store/memory.js'
import type { ObjectStore } from '../src/store/types.js'
import { verifyArchive } from '../src/verify.js'

const T0 = 1_700_000_000_000n

function records(from: number, count: number, step = 1): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const offset = BigInt(from + i * step)
    return {
      offset,
      timestamp: T0 + offset * 10n,
      key: Buffer.from(`k${offset}`),
      value: Buffer.from(`value-${offset}`),
      headers: [['h', Buffer.from([Number(offset % 256n)])]],
    }
  })
}

async function readAll(store: ObjectStore, topic = 'orders', partition = 0): Promise<bigint[]> {
  const out: bigint[] = []
  for await (const r of new ArchiveReader(store).read({ topic, partition })) out.push(r.offset)
  return out
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => BigInt(from + i))

test('commits segments and gaps; HEAD aggregates and nextOffset follow; the descriptor is created', async () => {
  const store = new MemoryStore()
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'test', fanout: 3 })
  assert.equal(w.nextOffset, 0n)
  assert.equal(w.head.root, null)
  assert.deepEqual(JSON.parse((await store.get(DESCRIPTOR_KEY)).body.toString()), { format: 1 })

  let bytes = 0
  for (let i = 0; i < 10; i++) {
    const { entry } = await w.appendSegment(records(i * 10, 10))
    if (entry.kind === 'segment') bytes += entry.bytes
  }
  await w.appendGap({ firstOffset: 100n, lastOffset: 149n, reason: 'retention' })
  const seg = encodeSegment(records(150, 5, 2), { topic: 'orders', partition: 0 })
  await w.commitSegment(seg)
  bytes += seg.bytes.length

  const head = (await readHead(store, 'orders', 0))!.head
  assert.deepEqual(head, w.head)
  assert.equal(head.nextOffset, 159n)
  assert.equal(head.firstOffset, 0n)
  assert.equal(head.records, 105)
  assert.equal(head.bytes, bytes)
  assert.equal(head.segments, 11)
  assert.equal(head.gaps, 1)
  assert.equal(head.minTimestamp, T0)
  assert.equal(head.maxTimestamp, T0 + 1580n)
  assert.equal(head.writer, 'test')

  const got: bigint[] = []
  for await (const r of new ArchiveReader(store).read({ topic: 'orders', partition: 0, onGap: 'skip' }))
    got.push(r.offset)
  assert.deepEqual(got, [...range(0, 100), 150n, 152n, 154n, 156n, 158n])
  const v = await verifyArchive(store)
  assert.deepEqual(v.problems, [])
  assert.equal(v.checked.records, 105)
})

test('reopening resumes at nextOffset and refuses records the archive already covers', async () => {
  const store = new MemoryStore()
  const w1 = await PartitionWriter.open(store, { topic: 'orders', partition: 2, writer: 'a' })
  await w1.appendSegment(records(5, 10))
  const w2 = await PartitionWriter.open(store, { topic: 'orders', partition: 2, writer: 'b' })
  assert.equal(w2.nextOffset, 15n)
  assert.deepEqual(w2.head, w1.head)
  await assert.rejects(w2.appendSegment(records(14, 3)), (err: unknown) => {
    assert.ok(err instanceof OffsetOrderError)
    assert.match(err.message, /orders\/2/)
    assert.match(err.message, /offset 14/)
    assert.match(err.message, /resume at 15/)
    return true
  })
  await assert.rejects(w2.appendGap({ firstOffset: 3n, lastOffset: 20n, reason: 'retention' }), OffsetOrderError)
  await assert.rejects(
    w2.commitSegment(encodeSegment(records(0, 2), { topic: 'orders', partition: 2 })),
    OffsetOrderError,
  )
  await assert.rejects(w2.appendSegment([]), InvalidArgumentError)
  await assert.rejects(w2.appendGap({ firstOffset: 30n, lastOffset: 29n, reason: 'x' }), InvalidArgumentError)
  // A failed call does not poison the writer.
  await w2.appendSegment(records(15, 5))
  assert.equal(w2.nextOffset, 20n)
  assert.deepEqual(await readAll(store, 'orders', 2), range(5, 20))
})

test('a second writer that advanced HEAD fences the first, which then refuses every call', async () => {
  const store = new MemoryStore()
  const a = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'a' })
  const b = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'b' })
  await a.appendSegment(records(0, 5))
  // b saw no HEAD: its first-HEAD create loses.
  await assert.rejects(b.appendSegment(records(0, 5)), (err: unknown) => {
    assert.ok(err instanceof FencedError)
    assert.match(err.message, /orders\/0/)
    return true
  })
  assert.equal(b.fenced, true)
  await assert.rejects(b.appendSegment(records(100, 1)), FencedError)
  await assert.rejects(b.appendGap({ firstOffset: 200n, lastOffset: 201n, reason: 'r' }), FencedError)

  const c = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'c' })
  await c.appendSegment(records(5, 5))
  await assert.rejects(a.appendSegment(records(5, 5)), FencedError)
  assert.equal((await readHead(store, 'orders', 0))!.head.writer, 'c')
  assert.deepEqual(await readAll(store), range(0, 10))
})

test('concurrent calls on one writer commit in call order', async () => {
  const store = new MemoryStore()
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'a', fanout: 2 })
  await Promise.all(Array.from({ length: 12 }, (_, i) => w.appendSegment(records(i * 3, 3))))
  assert.equal(w.nextOffset, 36n)
  assert.deepEqual(await readAll(store), range(0, 36))
  assert.equal((await verifyArchive(store)).ok, true)
})

const steps: [string, (fail: () => never) => CommitHooks][] = [
  ['afterSegmentPut', (fail) => ({ afterSegmentPut: fail })],
  ['afterNodePut(0)', (fail) => ({ afterNodePut: (i) => (i === 0 ? fail() : undefined) })],
  ['afterNodePut(last)', (fail) => ({ afterNodePut: (i) => (i > 0 ? fail() : undefined) })],
  ['beforeHeadWrite', (fail) => ({ beforeHeadWrite: fail })],
  ['afterHeadWrite', (fail) => ({ afterHeadWrite: fail })],
]

for (const [name, hooks] of steps) {
  test(`a crash at ${name} leaves a sound archive; resuming loses and duplicates nothing`, async () => {
    const store = new MemoryStore()
    let armed = false
    const crash = (): never => {
      throw new Error('simulated crash')
    }
    const fail = (): never => (armed ? crash() : (undefined as never))
    // fan-out 2 makes later appends rewrite several levels, so afterNodePut(last) really is a parent node.
    const w = await PartitionWriter.open(store, {
      topic: 'orders',
      partition: 0,
      writer: 'w1',
      fanout: 2,
      hooks: hooks(fail),
    })
    for (let i = 0; i < 5; i++) await w.appendSegment(records(i * 4, 4))
    armed = true
    await assert.rejects(w.appendSegment(records(20, 4)), /simulated crash/)
    assert.deepEqual((await verifyArchive(store)).problems, [])

    // The process "restarts": a new writer resumes from HEAD and re-sends what was not committed.
    const w2 = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'w2', fanout: 2 })
    const resumeAt = Number(w2.nextOffset)
    assert.equal(resumeAt, name === 'afterHeadWrite' ? 24 : 20)
    await w2.appendSegment(records(resumeAt, 30 - resumeAt))
    assert.deepEqual(await readAll(store), range(0, 30))
    const v = await verifyArchive(store)
    assert.deepEqual(v.problems, [])
    assert.equal(v.checked.records, 30)
  })
}

test('an unanswered HEAD write is settled from the store; retrying the same commit is safe', async () => {
  const inner = new MemoryStore()
  let loseAnswer = 0
  let loseWrite = 0
  let failReads = 0
  const flaky: ObjectStore = Object.create(inner)
  flaky.putIfMatch = async (key, body, etag, o) => {
    if (loseWrite > 0) {
      loseWrite--
      throw new StoreUnavailableError('connection reset')
    }
    const r = await inner.putIfMatch(key, body, etag, o)
    if (loseAnswer > 0) {
      loseAnswer--
      throw new StoreUnavailableError('connection reset')
    }
    return r
  }
  flaky.get = async (key, range) => {
    if (failReads > 0 && key === headKey('orders', 0)) {
      failReads--
      throw new StoreUnavailableError('connection reset')
    }
    return inner.get(key, range)
  }
  const w = await PartitionWriter.open(flaky, { topic: 'orders', partition: 0, writer: 'w' })
  await w.appendSegment(records(0, 3))

  // The HEAD landed but the answer was lost: the writer asks the store, sees its own HEAD, and reports success.
  loseAnswer = 1
  await w.appendSegment(records(3, 3))
  assert.equal(w.nextOffset, 6n)

  // The HEAD did not land: the error surfaces, nothing moved, and the same records can be sent again.
  loseWrite = 1
  await assert.rejects(w.appendSegment(records(6, 3)), StoreUnavailableError)
  assert.equal(w.nextOffset, 6n)
  await w.appendSegment(records(6, 3))

  // Neither the write's answer nor the check came back: the call fails; retrying the same segment is a no-op
  // once the store shows it landed, and the writer continues after it.
  loseAnswer = 1
  failReads = 1
  await assert.rejects(w.appendSegment(records(9, 3)), StoreUnavailableError)
  const retried = await w.appendSegment(records(9, 3))
  assert.equal(retried.head.nextOffset, 12n)
  await w.appendGap({ firstOffset: 12n, lastOffset: 13n, reason: 'retention' })
  await w.appendSegment(records(14, 2))

  const got: bigint[] = []
  for await (const r of new ArchiveReader(inner).read({ topic: 'orders', partition: 0, onGap: 'skip' }))
    got.push(r.offset)
  assert.deepEqual(got, [...range(0, 12), 14n, 15n])
  assert.equal(w.fenced, false)
  assert.deepEqual((await readHead(inner, 'orders', 0))!.head, w.head)
  assert.deepEqual((await verifyArchive(inner)).problems, [])
})

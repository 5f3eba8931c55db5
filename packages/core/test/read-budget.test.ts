import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PartitionWriter } from '../src/partition-writer.js'
import { ReadBudget } from '../src/read-budget.js'
import { ArchiveReader } from '../src/reader.js'
import type { ArchiveRecord } from '../src/record.js'
import { MemoryStore } from '../src/store/memory.js'
import type { ObjectStore } from '../src/store/types.js'

const isGranted = async (p: Promise<void>): Promise<boolean> => {
  let done = false
  void p.then(() => (done = true))
  await new Promise((r) => setImmediate(r))
  return done
}

test('ReadBudget grants in order within its limit, first requests ahead of read-ahead', async () => {
  const budget = new ReadBudget(100)
  const a = budget.request(60, { first: true })
  const b = budget.request(30)
  assert.ok(await isGranted(a.granted))
  assert.ok(await isGranted(b.granted))
  const c = budget.request(20) // read-ahead: 110 > 100, waits
  const d = budget.request(5, { first: true }) // a reader holding nothing goes ahead of c, and fits
  assert.ok(!(await isGranted(c.granted)))
  assert.ok(await isGranted(d.granted))
  assert.equal(budget.heldBytes, 95)
  const e = budget.request(1) // behind c: does not overtake it although it fits
  assert.ok(!(await isGranted(e.granted)))
  a.release()
  assert.ok(await isGranted(c.granted))
  assert.ok(await isGranted(e.granted))
  assert.equal(budget.heldBytes, 56)
  // Shrinking lets waiting requests in; growing a granted reservation never waits.
  const f = budget.request(50)
  assert.ok(!(await isGranted(f.granted)))
  b.resize(10)
  assert.ok(await isGranted(f.granted))
  f.resize(200)
  assert.equal(budget.heldBytes, 236)
  // A waiting request that is released leaves the queue without being granted.
  const g = budget.request(1)
  g.release()
  g.release()
  assert.equal(budget.waiting, 0)
  for (const r of [b, c, d, e, f]) r.release()
  assert.equal(budget.heldBytes, 0)
  assert.equal(budget.peakBytes, 236)
  // Larger than the whole budget: granted once nothing else is held.
  const h = budget.request(10)
  const big = budget.request(1000)
  assert.ok(!(await isGranted(big.granted)))
  h.release()
  assert.ok(await isGranted(big.granted))
  assert.throws(() => new ReadBudget(0), /invalid read budget/)
})

const PARTITIONS = 12

function value(p: number, i: number): Buffer {
  // Hard to compress, so segment bytes are close to record bytes.
  const b = Buffer.alloc(700)
  let x = (p * 1_000_003 + i * 7919) >>> 0
  for (let j = 0; j < b.length; j++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[j] = x >>> 24
  }
  return b
}

/** PARTITIONS partitions of 4 segments of 60 records (about 42 KB each), row groups of about 10 KB. */
async function build(store: ObjectStore): Promise<Map<number, ArchiveRecord[]>> {
  const all = new Map<number, ArchiveRecord[]>()
  for (let p = 0; p < PARTITIONS; p++) {
    const w = await PartitionWriter.open(store, { topic: 'events', partition: p, writer: 't', rowGroupBytes: 10_000 })
    const records: ArchiveRecord[] = []
    for (let s = 0; s < 4; s++) {
      const seg: ArchiveRecord[] = []
      for (let i = 0; i < 60; i++) {
        const offset = s * 60 + i
        seg.push({
          offset: BigInt(offset),
          timestamp: 1_700_000_000_000n + BigInt(offset),
          key: null,
          value: value(p, offset),
          headers: [],
        })
      }
      await w.appendSegment(seg)
      records.push(...seg)
    }
    all.set(p, records)
  }
  return all
}

/**
 * Reads every partition at once through one reader, the way ArchiveConsumer does (one loop per partition, one
 * delivery at a time), and measures from the store's side the segment bytes fetched whose records were not all
 * handed out yet.
 */
async function readAll(
  base: ObjectStore,
  options: { readBufferBytes?: number; prefetchSegments?: number },
): Promise<{ peakOutstanding: number; got: Map<number, ArchiveRecord[]>; reader: ArchiveReader }> {
  let outstanding = 0
  let peakOutstanding = 0
  const fetched = new Map<string, number>()
  const store: ObjectStore = Object.create(base)
  store.get = async (key, range) => {
    const r = await base.get(key, range)
    if (key.endsWith('.parquet') && range === undefined) {
      fetched.set(key, r.body.length)
      outstanding += r.body.length
      peakOutstanding = Math.max(peakOutstanding, outstanding)
    }
    return r
  }
  const reader = new ArchiveReader(store, options)
  const got = new Map<number, ArchiveRecord[]>()
  let turn = Promise.resolve()
  await Promise.all(
    Array.from({ length: PARTITIONS }, async (_, p) => {
      const records: ArchiveRecord[] = []
      got.set(p, records)
      for await (const batch of reader.readBatches({ topic: 'events', partition: p })) {
        // One delivery at a time, each taking a little while, so read-ahead has time to pile up.
        const mine = turn.then(() => new Promise<void>((r) => setTimeout(r, 1)))
        turn = mine
        await mine
        records.push(...batch.records)
        if (records.at(-1)!.offset === batch.segment.lastOffset) {
          outstanding -= fetched.get(batch.segment.key)!
        }
      }
    }),
  )
  return { peakOutstanding, got, reader }
}

test('one read budget bounds the segment bytes a reader holds across all its partitions', async () => {
  const base = new MemoryStore()
  const all = await build(base)
  let segmentBytes = 0
  for await (const o of base.list('events/data/')) segmentBytes = Math.max(segmentBytes, o.size)

  // Without a tight budget, every partition's loop fetches its segment and reads ahead: many segments at once.
  const loose = await readAll(base, { prefetchSegments: 2 })
  assert.deepEqual(loose.got, all)
  assert.ok(
    loose.peakOutstanding > 8 * segmentBytes,
    `the fixture must pile up segments without a budget (${loose.peakOutstanding} bytes)`,
  )

  // A budget of about three segments with their decoded row groups: never more than that is held.
  const limit = 3 * (segmentBytes + 2 * 12_000)
  const tight = await readAll(base, { prefetchSegments: 2, readBufferBytes: limit })
  assert.deepEqual(tight.got, all)
  assert.ok(tight.peakOutstanding <= limit, `held ${tight.peakOutstanding} bytes of segments, budget ${limit}`)
  // Still reading ahead: more than the one segment being delivered.
  assert.ok(tight.peakOutstanding >= 2 * segmentBytes, `never read ahead (${tight.peakOutstanding} bytes)`)
  assert.equal(tight.reader.budget.heldBytes, 0)

  // A budget smaller than one segment reads one segment at a time, and finishes.
  const tiny = await readAll(base, { readBufferBytes: 1 })
  assert.deepEqual(tiny.got, all)
  assert.ok(tiny.peakOutstanding <= segmentBytes, `held ${tiny.peakOutstanding} bytes with a 1-byte budget`)
})

test('an iterator closed early gives its share of the budget back', async () => {
  const base = new MemoryStore()
  await build(base)
  const reader = new ArchiveReader(base, { readBufferBytes: 200_000, prefetchSegments: 3 })
  const it = reader.readBatches({ topic: 'events', partition: 0 })
  await it.next()
  assert.ok(reader.budget.heldBytes > 0)
  await it.return(undefined)
  assert.equal(reader.budget.heldBytes, 0)
  assert.equal(reader.budget.waiting, 0)
  assert.throws(() => new ArchiveReader(base, { readBufferBytes: 0 }), /invalid readBufferBytes/)
})

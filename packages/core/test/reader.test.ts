import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DataLossError, IntegrityError, UnknownPartitionError, UnknownTopicError } from '../src/errors.js'
import type { GapEntry } from '../src/index/types.js'
import { writeTopicMeta } from '../src/catalog.js'
import { PartitionWriter } from '../src/partition-writer.js'
import { ArchiveReader } from '../src/reader.js'
import type { ReadOptions } from '../src/reader.js'
import type { ArchiveRecord } from '../src/record.js'
import { readSegmentLayout } from '../src/segment/index.js'
import { MemoryStore } from '../src/store/memory.js'
import type { ByteRange, ObjectStore } from '../src/store/types.js'

const T0 = 1_700_000_000_000n

function rec(offset: number, timestamp: bigint, i = offset): ArchiveRecord {
  return {
    offset: BigInt(offset),
    timestamp,
    key: i % 7 === 0 ? null : Buffer.from(`key-${i}`),
    value: i % 11 === 0 ? null : Buffer.from(`value-${i}-${'x'.repeat(i % 50)}`),
    headers:
      i % 3 === 0
        ? []
        : [
            ['a', Buffer.from(String(i))],
            ['a', null],
          ],
  }
}

// Offsets with holes (compaction) inside and between segments; timestamps jump back and forth.
function fixture(): { segments: ArchiveRecord[][]; all: ArchiveRecord[] } {
  const segments: ArchiveRecord[][] = []
  let offset = 10
  for (let s = 0; s < 6; s++) {
    const seg: ArchiveRecord[] = []
    for (let i = 0; i < 40; i++) {
      const ts = T0 + BigInt(offset * 100) + (i % 5 === 0 ? -5000n : 0n)
      seg.push(rec(offset, ts))
      offset += i % 4 === 3 ? 3 : 1
    }
    segments.push(seg)
    offset += 5 // a hole between segments: not a gap
  }
  return { segments, all: segments.flat() }
}

async function build(store: ObjectStore, rowGroupBytes = 600): Promise<ArchiveRecord[]> {
  const { segments, all } = fixture()
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 't', fanout: 3, rowGroupBytes })
  for (const seg of segments) await w.appendSegment(seg)
  return all
}

async function collect(reader: ArchiveReader, o: ReadOptions): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = []
  for await (const r of reader.read(o)) out.push(r)
  return out
}

/** Counts store GETs, and the most segment GETs in flight at once. */
class CountingStore {
  gets: { key: string; range?: ByteRange }[] = []
  inflight = 0
  maxInflight = 0
  constructor(readonly inner: ObjectStore) {}
  wrap(): ObjectStore {
    const store: ObjectStore = Object.create(this.inner)
    store.get = async (key, range) => {
      this.gets.push({ key, range })
      const segment = key.endsWith('.parquet')
      if (segment) this.maxInflight = Math.max(this.maxInflight, ++this.inflight)
      try {
        await new Promise((r) => setTimeout(r, 2))
        return await this.inner.get(key, range)
      } finally {
        if (segment) this.inflight--
      }
    }
    return store
  }
}

test('reads every record losslessly in order, from an offset, to an offset, across holes', async () => {
  const store = new MemoryStore()
  const all = await build(store)
  const reader = new ArchiveReader(store)
  assert.deepEqual(await collect(reader, { topic: 'orders', partition: 0 }), all)
  // fromOffset inside a hole starts at the next existing offset; toOffset is inclusive.
  for (const [from, to] of [
    [0n, 5n],
    [13n, 13n],
    [14n, 100n],
    [95n, 400n],
    [all[77]!.offset, all[150]!.offset],
    [all[239]!.offset, all[239]!.offset + 100n],
  ] as const) {
    const want = all.filter((r) => r.offset >= from && r.offset <= to)
    assert.deepEqual(
      await collect(reader, { topic: 'orders', partition: 0, fromOffset: from, toOffset: to }),
      want,
      `${from}..${to}`,
    )
  }
  assert.deepEqual(await collect(reader, { topic: 'orders', partition: 0, fromOffset: 10_000n }), [])
})

test('a read from a HEAD the caller holds reads no HEAD and ends where that HEAD ends', async () => {
  const memory = new MemoryStore()
  const { segments } = fixture()
  const w = await PartitionWriter.open(memory, {
    topic: 'orders',
    partition: 0,
    writer: 't',
    fanout: 3,
    rowGroupBytes: 600,
  })
  for (const seg of segments.slice(0, 3)) await w.appendSegment(seg)
  const counting = new CountingStore(memory)
  const reader = new ArchiveReader(counting.wrap())
  const older = (await reader.head('orders', 0))!
  for (const seg of segments.slice(3)) await w.appendSegment(seg)
  counting.gets = []
  const got = await collect(reader, { topic: 'orders', partition: 0, head: older })
  assert.deepEqual(got, segments.slice(0, 3).flat())
  assert.deepEqual(
    counting.gets.filter((g) => g.key.endsWith('/HEAD')),
    [],
  )
  // Without one, the read takes the partition's current HEAD.
  assert.deepEqual(await collect(reader, { topic: 'orders', partition: 0 }), segments.flat())
  await assert.rejects(collect(reader, { topic: '../x', partition: 0, head: older }))
})

test('fromTimestamp has Kafka semantics over non-monotonic timestamps', async () => {
  const store = new MemoryStore()
  const all = await build(store)
  const reader = new ArchiveReader(store)
  const stamps = [T0 - 1n, T0, T0 + 1234n, all[100]!.timestamp, all[101]!.timestamp + 1n, all[239]!.timestamp]
  for (const t of [...stamps, ...all.filter((_, i) => i % 17 === 0).map((r) => r.timestamp)]) {
    const idx = all.findIndex((r) => r.timestamp >= t)
    const expected = idx < 0 ? undefined : all[idx]!.offset
    assert.equal(await reader.offsetForTimestamp('orders', 0, t), expected, `t=${t}`)
    const got = await collect(reader, { topic: 'orders', partition: 0, fromTimestamp: t })
    assert.deepEqual(got, idx < 0 ? [] : all.slice(idx), `t=${t}`)
  }
  const maxTs = all.reduce((m, r) => (r.timestamp > m ? r.timestamp : m), 0n)
  assert.equal(await reader.offsetForTimestamp('orders', 0, maxTs + 1n), undefined)
})

test('a range inside one segment fetches only its row groups with ranged GETs', async () => {
  const base = new MemoryStore()
  const all = await build(base)
  const firstKey = (await new ArchiveReader(base).readBatches({ topic: 'orders', partition: 0 }).next()).value!.segment
    .key
  const layout = await readSegmentLayout(base, firstKey)
  assert.ok(layout.rowGroups.length >= 3, `fixture must have several row groups, has ${layout.rowGroups.length}`)
  const rg = layout.rowGroups[1]!
  const counting = new CountingStore(base)
  const reader = new ArchiveReader(counting.wrap())
  const got = await collect(reader, {
    topic: 'orders',
    partition: 0,
    fromOffset: rg.firstOffset,
    toOffset: rg.lastOffset,
  })
  assert.deepEqual(
    got,
    all.filter((r) => r.offset >= rg.firstOffset && r.offset <= rg.lastOffset),
  )
  const segmentGets = counting.gets.filter((g) => g.key.endsWith('.parquet'))
  assert.ok(segmentGets.length > 0)
  // Never the whole object: every segment GET is ranged and the body is smaller than the file.
  for (const g of segmentGets) assert.ok(g.range !== undefined, `unranged GET of ${g.key}`)
})

test('readBatches yields segment-sized chunks and reads ahead at most prefetchSegments', async () => {
  const base = new MemoryStore()
  const all = await build(base, 1 << 20)
  for (const prefetch of [0, 1, 3]) {
    const counting = new CountingStore(base)
    const reader = new ArchiveReader(counting.wrap(), { prefetchSegments: prefetch })
    const seen: ArchiveRecord[] = []
    let batches = 0
    for await (const b of reader.readBatches({ topic: 'orders', partition: 0 })) {
      batches++
      assert.equal(b.records[0]!.offset, b.segment.firstOffset)
      seen.push(...b.records)
      await new Promise((r) => setTimeout(r, 10)) // a slow consumer gives read-ahead time to run
    }
    assert.equal(batches, 6)
    assert.deepEqual(seen, all)
    const segmentGets = counting.gets.filter((g) => g.key.endsWith('.parquet'))
    assert.equal(segmentGets.length, 6)
    assert.ok(
      counting.maxInflight <= Math.max(1, prefetch + 1),
      `prefetch ${prefetch}: ${counting.maxInflight} in flight`,
    )
    if (prefetch >= 1) assert.ok(counting.maxInflight >= 2, `prefetch ${prefetch} never read ahead`)
  }
})

test('gaps: DataLossError by default naming the range, or skipped with a callback', async () => {
  const store = new MemoryStore()
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 1, writer: 't' })
  await w.appendSegment([rec(0, T0), rec(1, T0)])
  await w.appendGap({ firstOffset: 2n, lastOffset: 9n, reason: 'retention' })
  await w.appendSegment([rec(10, T0), rec(11, T0)])
  const reader = new ArchiveReader(store)
  const seen: bigint[] = []
  await assert.rejects(
    (async () => {
      for await (const r of reader.read({ topic: 'orders', partition: 1 })) seen.push(r.offset)
    })(),
    (err: unknown) => {
      assert.ok(err instanceof DataLossError)
      assert.equal(err.code, 'DATA_LOSS')
      assert.match(err.message, /offsets 2\.\.9 of orders\/1/)
      assert.match(err.message, /retention/)
      return true
    },
  )
  assert.deepEqual(seen, [0n, 1n]) // records before the gap were delivered first
  const gaps: GapEntry[] = []
  const skipped = await collect(reader, {
    topic: 'orders',
    partition: 1,
    onGap: 'skip',
    onGapSkipped: (g) => gaps.push(g),
  })
  assert.deepEqual(
    skipped.map((r) => r.offset),
    [0n, 1n, 10n, 11n],
  )
  assert.deepEqual(gaps, [{ kind: 'gap', firstOffset: 2n, lastOffset: 9n, reason: 'retention' }])
  // A range that avoids the gap does not see it.
  assert.deepEqual(
    (await collect(reader, { topic: 'orders', partition: 1, fromOffset: 10n })).map((r) => r.offset),
    [10n, 11n],
  )
})

test('a corrupted segment is detected on read with an IntegrityError naming it', async () => {
  const store = new MemoryStore()
  await build(store, 1 << 20)
  const reader = new ArchiveReader(store)
  const { value } = await reader.readBatches({ topic: 'orders', partition: 0, fromOffset: 100n }).next()
  const key = value!.segment.key
  const body = (await store.get(key)).body
  body[Math.floor(body.length / 2)]! ^= 0xff
  await store.put(key, body)
  await assert.rejects(collect(new ArchiveReader(store), { topic: 'orders', partition: 0 }), (err: unknown) => {
    assert.ok(err instanceof IntegrityError, String(err))
    assert.match(err.message, new RegExp(key.replace(/[.]/g, '\\.')))
    return true
  })
})

test('unknown topics and partitions are told apart; a declared partition without data reads empty', async () => {
  const store = new MemoryStore()
  await build(store)
  await writeTopicMeta(store, { topic: 'orders', partitions: 4 })
  const reader = new ArchiveReader(store)
  await assert.rejects(collect(reader, { topic: 'nope', partition: 0 }), UnknownTopicError)
  await assert.rejects(collect(reader, { topic: 'orders', partition: 9 }), UnknownPartitionError)
  assert.deepEqual(await collect(reader, { topic: 'orders', partition: 3 }), [])
  assert.equal(await reader.head('orders', 3), undefined)
  assert.equal((await reader.head('orders', 0))!.records, 240)
})

test('a corrupted index node is detected on read with an IntegrityError naming it', async () => {
  const store = new MemoryStore()
  await build(store)
  const reader = new ArchiveReader(store)
  const head = (await reader.head('orders', 0))!
  const key = `orders/index/partition=0/nodes/${head.root}`
  const body = (await store.get(key)).body
  body[5]! ^= 0x10
  await store.put(key, body)
  await assert.rejects(collect(new ArchiveReader(store), { topic: 'orders', partition: 0 }), (err: unknown) => {
    assert.ok(err instanceof IntegrityError, String(err))
    assert.equal(err.key, key)
    return true
  })
})

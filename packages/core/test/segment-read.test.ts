// Reading segments from an object store: footer-only layout reads, one ranged GET per row group, verified
// whole-object reads.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { FormatError, IntegrityError, InvalidArgumentError } from '../src/errors.js'
import { segmentKey } from '../src/layout.js'
import type { ArchiveRecord } from '../src/record.js'
import { decodeSegment } from '../src/segment/decode.js'
import { encodeSegment } from '../src/segment/encode.js'
import { readRowGroup, readSegment, readSegmentLayout } from '../src/segment/read.js'
import { MemoryStore } from '../src/store/memory.js'
import type { ByteRange, GetResult } from '../src/store/types.js'

/** A MemoryStore that remembers every GET and how many bytes it returned. */
class MeteredStore extends MemoryStore {
  gets: { range: ByteRange | undefined; bytes: number }[] = []
  override async get(key: string, range?: ByteRange): Promise<GetResult> {
    const got = await super.get(key, range)
    this.gets.push({ range, bytes: got.body.length })
    return got
  }
}

function records(n: number, valueBytes: () => number): ArchiveRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: 10_000n + BigInt(i * 2),
    timestamp: 1_700_000_000_000n + BigInt(i),
    key: i % 5 === 0 ? null : Buffer.from(`key-${i % 100}`),
    value: i % 11 === 0 ? null : randomBytes(valueBytes()),
    headers:
      i % 3 === 0
        ? []
        : [
            ['trace-id', Buffer.from(String(i))],
            ['source', null],
          ],
  }))
}

async function put(store: MemoryStore, recs: ArchiveRecord[], rowGroupBytes?: number) {
  const enc = encodeSegment(recs, { topic: 'events', partition: 1, rowGroupBytes })
  const key = segmentKey('events', 1, enc.firstOffset, enc.sha256)
  await store.put(key, enc.bytes)
  return { enc, key }
}

describe('segment reads from a store', () => {
  it('reads the layout with one suffix GET and each row group with one ranged GET of exactly its bytes', async () => {
    const store = new MeteredStore()
    const recs = records(3000, () => 200 + Math.floor(Math.random() * 2000))
    const { enc, key } = await put(store, recs, 256 * 1024)
    store.gets = []
    const layout = await readSegmentLayout(store, key)
    assert.equal(store.gets.length, 1)
    assert.ok('suffix' in store.gets[0]!.range!)
    assert.ok(store.gets[0]!.bytes < enc.bytes.length / 10, 'the layout read must not fetch the data')
    assert.equal(layout.size, enc.bytes.length)
    assert.ok(layout.rowGroups.length > 5)
    assert.equal(layout.metadata['everlog.topic'], 'events')

    const whole = decodeSegment(enc.bytes)
    assert.deepEqual(whole, recs)
    let at = 0
    for (const rg of layout.rowGroups) {
      store.gets = []
      const got = await readRowGroup(store, key, layout, rg.index)
      assert.deepEqual(store.gets, [
        { range: { start: rg.byteStart, end: rg.byteEnd - 1 }, bytes: rg.byteEnd - rg.byteStart },
      ])
      assert.deepEqual(got, whole.slice(at, at + rg.records))
      assert.equal(got[0]!.offset, rg.firstOffset)
      assert.equal(got.at(-1)!.offset, rg.lastOffset)
      at += rg.records
    }
    assert.equal(at, recs.length)
  })

  it('a footer larger than the first suffix GET is fetched with a second one', async () => {
    const store = new MeteredStore()
    // One record per row group: hundreds of row groups make a footer well over 64 KiB.
    const recs = records(600, () => 10)
    const { key } = await put(store, recs, 1)
    store.gets = []
    const layout = await readSegmentLayout(store, key)
    // Records of zero raw bytes (null key and value, no headers) join the next record's group.
    assert.equal(
      layout.rowGroups.length,
      600 - recs.filter((r) => r.key === null && r.value === null && r.headers.length === 0).length,
    )
    assert.equal(store.gets.length, 2)
    assert.ok(layout.footer.length > 64 * 1024)
    const last = layout.rowGroups.at(-1)!
    assert.deepEqual(await readRowGroup(store, key, layout, last.index), recs.slice(-last.records))
    assert.deepEqual(await readRowGroup(store, key, layout, 0), recs.slice(0, layout.rowGroups[0]!.records))
  })

  it('readSegment checks the bytes against the hash in the key', async () => {
    const store = new MemoryStore()
    const recs = records(500, () => 100)
    const { enc, key } = await put(store, recs)
    assert.deepEqual(await readSegment(store, key), recs)

    const bad = Buffer.from(enc.bytes)
    bad[bad.length >> 1]! ^= 0x55
    await store.put(key, bad)
    await assert.rejects(readSegment(store, key), (err: unknown) => err instanceof IntegrityError && err.key === key)
    // Unverified reads still never crash on damage: records or a FormatError.
    try {
      await readSegment(store, key, { verify: false })
    } catch (err) {
      assert.ok(err instanceof FormatError, String(err))
    }
    await assert.rejects(readSegment(store, 'events/data/partition=1/not-a-segment.parquet'), InvalidArgumentError)
  })

  it('damaged row-group bytes fail with a FormatError or decode, never crash the process', async () => {
    const store = new MemoryStore()
    const recs = records(400, () => 50 + Math.floor(Math.random() * 300))
    const { enc, key } = await put(store, recs, 8 * 1024)
    const layout = await readSegmentLayout(store, key)
    const rg = layout.rowGroups[2]!
    for (let i = 0; i < 200; i++) {
      const bad = Buffer.from(enc.bytes)
      bad[rg.byteStart + ((i * 7919) % (rg.byteEnd - rg.byteStart))]! ^= 1 + (i % 255)
      await store.put(key, bad)
      try {
        await readRowGroup(store, key, layout, 2)
      } catch (err) {
        assert.ok(err instanceof FormatError, String(err))
      }
    }
    await store.put(key, enc.bytes)
    assert.equal((await readRowGroup(store, key, layout, 2)).length, rg.records)
  })

  it('rejects a row group index that does not exist and a layout of another object', async () => {
    const store = new MemoryStore()
    const a = await put(
      store,
      records(50, () => 10),
    )
    const b = await put(
      store,
      records(60, () => 20),
    )
    const layout = await readSegmentLayout(store, a.key)
    await assert.rejects(readRowGroup(store, a.key, layout, layout.rowGroups.length), InvalidArgumentError)
    await assert.rejects(readRowGroup(store, b.key, layout, 0), IntegrityError)
    await store.put('events/garbage', randomBytes(1000))
    await assert.rejects(readSegmentLayout(store, 'events/garbage'), FormatError)
    await store.put('events/tiny', Buffer.from('PAR1'))
    await assert.rejects(readSegmentLayout(store, 'events/tiny'), FormatError)
  })
})

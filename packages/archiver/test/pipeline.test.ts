import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  ArchiveReader,
  DataLossError,
  FencedError,
  FormatError,
  MemoryStore,
  PartitionWriter,
  StoreUnavailableError,
  assembleSegment,
  encodePackedRowGroup,
  encodeSegment,
  rawRecordBytes,
  readSegmentLayout,
} from '@everlog/core'
import type { ArchiveRecord, ObjectStore, PutOptions } from '@everlog/core'
import { ByteBudget, Limiter } from '../src/budget.js'
import { PartitionPipeline, RECORD_OVERHEAD_BYTES } from '../src/partition-pipeline.js'
import type { Committed, PartitionPipelineOptions } from '../src/partition-pipeline.js'
import { encodeBatch } from './record-batches.js'

const TOPIC = 'events'
const fastRetry = { initialMs: 1, maxMs: 5, maxAttempts: 6 }

function records(from: number, count: number, valueBytes = 100): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const offset = from + i
    return {
      offset: BigInt(offset),
      timestamp: 1_700_000_000_000n + BigInt(offset),
      key: offset % 7 === 0 ? null : Buffer.from(`key-${offset}`),
      value: offset % 11 === 0 ? null : Buffer.alloc(valueBytes, offset % 251),
      headers: offset % 3 === 0 ? [['h', Buffer.from(String(offset))] as const] : [],
    }
  })
}

const raw = (rs: readonly ArchiveRecord[]) => rs.reduce((n, r) => n + rawRecordBytes(r), 0)

async function readAll(store: ObjectStore, partition = 0): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = []
  for await (const r of new ArchiveReader(store).read({ topic: TOPIC, partition })) out.push(r)
  return out
}

async function pipeline(
  store: ObjectStore,
  overrides: Partial<PartitionPipelineOptions> & { writerName?: string; partition?: number } = {},
) {
  const partition = overrides.partition ?? 0
  const sink = await PartitionWriter.open(store, { topic: TOPIC, partition, writer: overrides.writerName ?? 'test-a' })
  const committed: Committed[] = []
  const stopped: unknown[] = []
  const p = new PartitionPipeline({
    topic: TOPIC,
    partition,
    sink,
    encodeRowGroup: (packed) => encodePackedRowGroup(packed, { compression: 'snappy' }),
    assemble: (groups) => assembleSegment(groups, { topic: TOPIC, partition, compression: 'snappy' }),
    rowGroupBytes: 4 * 1024 * 1024,
    limits: { maxBytes: 1 << 30, maxRecords: 1_000_000, maxAgeMs: 60_000 },
    budget: new ByteBudget(1 << 30),
    limiter: new Limiter(2),
    retry: fastRetry,
    onCommitted: (c) => {
      committed.push(c)
    },
    onStopped: (err) => stopped.push(err),
    ...overrides,
  })
  return { p, sink, committed, stopped }
}

/** A store that fails chosen writes, before or after they reach the backing store. */
class FlakyStore extends MemoryStore {
  failPut: ((key: string) => 'before' | 'after' | undefined) | undefined
  override async put(key: string, body: Uint8Array, options?: PutOptions) {
    const mode = this.failPut?.(key)
    if (mode === 'before') throw new StoreUnavailableError(`injected: ${key} unavailable`)
    const r = await super.put(key, body, options)
    if (mode === 'after') throw new StoreUnavailableError(`injected: answer for ${key} lost`)
    return r
  }
  override async putIfMatch(key: string, body: Uint8Array, etag: string, options?: PutOptions) {
    const mode = this.failPut?.(key)
    if (mode === 'before') throw new StoreUnavailableError(`injected: ${key} unavailable`)
    const r = await super.putIfMatch(key, body, etag, options)
    if (mode === 'after') throw new StoreUnavailableError(`injected: answer for ${key} lost`)
    return r
  }
}

describe('PartitionPipeline', () => {
  test('rolls by record count and by raw size, commits in offset order, and the archive holds every record once', async () => {
    const store = new MemoryStore()
    const { p, committed } = await pipeline(store, { limits: { maxBytes: 5000, maxRecords: 30, maxAgeMs: 60_000 } })
    const input = records(0, 200, 100)
    for (let i = 0; i < input.length; i += 17) {
      const chunk = input.slice(i, i + 17)
      p.append(chunk)
    }
    await p.flush()
    const segments = committed.filter((c) => c.kind === 'segment')
    assert.ok(segments.length >= 5, `expected several segments, got ${segments.length}`)
    for (let i = 1; i < segments.length; i++) assert.equal(segments[i]!.firstOffset, segments[i - 1]!.lastOffset + 1n)
    for (const s of segments.slice(0, -1)) {
      assert.ok(s.reason === 'size' || s.reason === 'records')
      assert.ok(s.kind === 'segment' && s.records <= 30)
    }
    assert.equal(segments.at(-1)!.head.nextOffset, 200n)
    assert.deepEqual(await readAll(store), input)
  })

  test('row groups are encoded as they fill, before the segment rolls, cut as encodeSegment cuts them', async () => {
    const store = new MemoryStore()
    const encodedBeforeRoll: number[] = []
    let groupsEncoded = 0
    const { p, committed } = await pipeline(store, {
      rowGroupBytes: 10_000,
      encodeRowGroup: (packed) => {
        groupsEncoded++
        return encodePackedRowGroup(packed, { compression: 'snappy' })
      },
    })
    const input = records(0, 1000)
    for (let i = 0; i < input.length; i += 50) {
      p.append(input.slice(i, i + 50))
      await new Promise((r) => setImmediate(r))
      encodedBeforeRoll.push(groupsEncoded)
    }
    // ~100 KiB raw in 10 KB groups: most were encoded while records were still arriving, none waited for the roll.
    assert.ok(groupsEncoded >= 9, `only ${groupsEncoded} row groups encoded before the roll`)
    assert.equal(committed.length, 0)
    await p.flush()
    assert.equal(committed.length, 1)
    assert.deepEqual(await readAll(store), input)
    let key = ''
    for await (const o of store.list(`${TOPIC}/data/`)) key = o.key
    const layout = await readSegmentLayout(store, key)
    assert.equal(layout.rowGroups.length, groupsEncoded)
    // One rule: a group closes before the record that would take it past the bound, so the bytes are encodeSegment's.
    const expected = encodeSegment(input, { topic: TOPIC, partition: 0, compression: 'snappy', rowGroupBytes: 10_000 })
    assert.ok((await store.get(key)).body.equals(expected.bytes), 'the archived segment differs')
    let start = 0
    for (const rg of layout.rowGroups) {
      const bytes = raw(input.slice(start, start + rg.records))
      assert.ok(bytes <= 10_000, `group of ${bytes} bytes ran past the bound`)
      assert.ok(
        rg === layout.rowGroups.at(-1) || bytes + rawRecordBytes(input[start + rg.records]!) > 10_000,
        `group of ${bytes} bytes closed early`,
      )
      start += rg.records
    }
    assert.ok(encodedBeforeRoll.at(-1)! >= 9)
  })

  test('large records (300 KiB to 2 MiB) give the segment encodeSegment gives, appended or fetched', async () => {
    let seed = 5
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
    const input: ArchiveRecord[] = Array.from({ length: 24 }, (_, i) => ({
      offset: BigInt(i),
      timestamp: 1_700_000_000_000n + BigInt(i),
      key: Buffer.from(`key-${i}`),
      value: Buffer.alloc(300 * 1024 + Math.floor(rand() * (1741 * 1024)), i),
      headers: i % 4 === 0 ? [] : [['trace', Buffer.alloc(Math.floor(rand() * 2000), 7)] as const],
    }))
    // Sizes that straddle the default 4 MiB bound every way: one, two and several records per group.
    input[5]!.value = Buffer.alloc(4 * 1024 * 1024 + 1, 1)
    input[6]!.value = Buffer.alloc(4 * 1024 * 1024 - 20, 2)
    input[7]!.value = Buffer.alloc(0)
    const options = { topic: TOPIC, partition: 0, compression: 'snappy' as const }
    const expected = encodeSegment(input, options)
    const batches = await Promise.all(
      [
        [0, 7],
        [7, 13],
        [13, 24],
      ].map(([from, to]) =>
        encodeBatch({
          baseOffset: from!,
          baseTimestamp: Number(input[from!]!.timestamp),
          records: input.slice(from, to),
        }),
      ),
    )
    for (const way of ['appended', 'fetched'] as const) {
      const store = new MemoryStore()
      const { p } = await pipeline(store, { ...options })
      if (way === 'appended') p.append(input)
      else for (const b of batches) p.appendFetched(b, null)
      await p.flush()
      const keys: string[] = []
      for await (const o of store.list(`${TOPIC}/data/`)) keys.push(o.key)
      assert.equal(keys.length, 1)
      const groups = (await readSegmentLayout(store, keys[0]!)).rowGroups.map((g) => g.records)
      assert.ok((await store.get(keys[0]!)).body.equals(expected.bytes), `${way}: groups ${groups.join(', ')}`)
      assert.ok(groups.length >= 8, `the records make several row groups: ${groups.join(', ')}`)
    }
  })

  test('rolls a quiet partition by age', async () => {
    let now = 1_000
    const store = new MemoryStore()
    const { p, committed } = await pipeline(store, {
      limits: { maxBytes: 1 << 30, maxRecords: 1_000_000, maxAgeMs: 5_000 },
      now: () => now,
    })
    p.append(records(0, 3))
    now += 4_999
    assert.equal(p.rollIfOlderThan(now), false)
    now += 1
    assert.equal(p.rollIfOlderThan(now), true)
    await p.settled()
    assert.equal(committed.length, 1)
    assert.equal(committed[0]!.kind === 'segment' && committed[0]!.reason, 'age')
    assert.equal((await readAll(store)).length, 3)
  })

  test('budget bytes are held until the segment is committed, then released', async () => {
    const store = new MemoryStore()
    const budget = new ByteBudget(10_000)
    const { p } = await pipeline(store, { budget })
    const rs = records(0, 50, 200)
    p.append(rs)
    assert.equal(budget.bytes, raw(rs) + 50 * RECORD_OVERHEAD_BYTES)
    assert.equal(budget.exhausted, true)
    let released = false
    const waiting = budget.waitForRoom().then(() => (released = true))
    await new Promise((r) => setImmediate(r))
    assert.equal(released, false)
    await p.flush()
    await waiting
    assert.equal(budget.bytes, 0)
    assert.equal(p.heldBytes, 0)
  })

  test('an encoded row group holds only its compressed bytes of the budget until the segment commits', async () => {
    const store = new MemoryStore()
    const budget = new ByteBudget(1 << 30)
    const { p } = await pipeline(store, { budget, rowGroupBytes: 20_000 })
    // Repetitive values: snappy shrinks them to a small fraction.
    const rs = records(0, 400, 200)
    p.append(rs)
    const charged = raw(rs) + rs.length * RECORD_OVERHEAD_BYTES
    while (p.encodingRowGroups > 0) await new Promise((r) => setImmediate(r))
    assert.ok(budget.bytes < charged / 2, `budget ${budget.bytes} of ${charged} after encoding`)
    assert.equal(budget.bytes, p.heldBytes)
    assert.ok(p.openRowGroupBytes < charged / 4, `open row group ${p.openRowGroupBytes} of ${charged}`)
    await p.flush()
    assert.equal(budget.bytes, 0)
    assert.deepEqual(await readAll(store), rs)
  })

  test('uploads across partitions never exceed the limiter slots, and each partition stays in order', async () => {
    let active = 0
    let peak = 0
    class SlowStore extends MemoryStore {
      override async put(key: string, body: Uint8Array, options?: PutOptions) {
        active++
        peak = Math.max(peak, active)
        await new Promise((r) => setTimeout(r, 2))
        active--
        return super.put(key, body, options)
      }
    }
    const store = new SlowStore()
    const limiter = new Limiter(2)
    const pipes = await Promise.all(
      [0, 1, 2, 3, 4].map((partition) =>
        pipeline(store, { partition, limiter, limits: { maxBytes: 1 << 30, maxRecords: 10, maxAgeMs: 60_000 } }),
      ),
    )
    for (const { p } of pipes) {
      for (let i = 0; i < 50; i += 10) p.append(records(i, 10))
    }
    await Promise.all(pipes.map(({ p }) => p.flush()))
    assert.ok(peak <= 2, `peak concurrent puts ${peak}`)
    for (const [partition] of pipes.entries()) assert.deepEqual(await readAll(store, partition), records(0, 50))
  })

  test('retriable store errors are retried, also when a write landed but its answer was lost: no loss, no duplicate', async () => {
    const store = new FlakyStore()
    let segmentFailures = 2
    let headLost = 1
    store.failPut = (key) => {
      if (key.endsWith('.parquet') && segmentFailures > 0) return segmentFailures-- > 0 ? 'before' : undefined
      if (key.endsWith('/HEAD') && headLost > 0) return headLost-- > 0 ? 'after' : undefined
      return undefined
    }
    const retries: unknown[] = []
    const { p, committed, stopped } = await pipeline(store, {
      limits: { maxBytes: 1 << 30, maxRecords: 20, maxAgeMs: 60_000 },
      onRetry: (err) => retries.push(err),
    })
    // The first HEAD goes through putIfAbsent (not injected); lose the answer of the second one.
    const input = records(0, 60)
    for (let i = 0; i < 60; i += 20) p.append(input.slice(i, i + 20))
    await p.flush()
    assert.deepEqual(stopped, [])
    assert.equal(headLost, 0)
    // The segment PUTs are retried here; the HEAD whose answer was lost is settled by the writer itself.
    assert.equal(retries.length, 2, `expected two retries, got ${retries.map(String).join('; ')}`)
    assert.equal(committed.at(-1)!.head.nextOffset, 60n)
    assert.deepEqual(await readAll(store), input)
  })

  test('a second writer on the partition fences the pipeline; HEAD keeps the other writer and is never corrupted', async () => {
    const store = new MemoryStore()
    const { p, stopped } = await pipeline(store, { writerName: 'archiver-a' })
    p.append(records(0, 10))
    await p.flush()
    // Another archiver takes over and commits the next offsets first.
    const other = await PartitionWriter.open(store, { topic: TOPIC, partition: 0, writer: 'archiver-b' })
    await other.appendSegment(records(10, 5))
    p.append(records(10, 10))
    await p.flush()
    assert.equal(p.state, 'fenced')
    assert.equal(stopped.length, 1)
    assert.ok(stopped[0] instanceof FencedError)
    // Later records are ignored, nothing more is written.
    p.append(records(20, 5))
    await p.flush()
    const head = await new ArchiveReader(store).head(TOPIC, 0)
    assert.equal(head?.writer, 'archiver-b')
    assert.equal(head?.nextOffset, 15n)
    assert.deepEqual(await readAll(store), records(0, 15))
  })

  test('a gap commits buffered records first, then the gap entry, and the position moves past it', async () => {
    const store = new MemoryStore()
    const { p, committed } = await pipeline(store)
    p.append(records(0, 10))
    p.gap(10n, 49n, 'retention')
    assert.equal(p.position, 50n)
    p.append(records(50, 5))
    await p.flush()
    assert.deepEqual(
      committed.map((c) => [c.kind, c.firstOffset, c.lastOffset]),
      [
        ['segment', 0n, 9n],
        ['gap', 10n, 49n],
        ['segment', 50n, 54n],
      ],
    )
    await assert.rejects(readAll(store), (err: unknown) => err instanceof DataLossError && err.firstOffset === 10n)
    const skipped: ArchiveRecord[] = []
    for await (const r of new ArchiveReader(store).read({ topic: TOPIC, partition: 0, onGap: 'skip' })) skipped.push(r)
    assert.deepEqual(skipped, [...records(0, 10), ...records(50, 5)])
  })

  test('records below the position are refused, offsets without records only move the position', async () => {
    const store = new MemoryStore()
    const { p } = await pipeline(store)
    p.append(records(0, 5), 8n)
    assert.equal(p.position, 8n)
    assert.throws(() => p.append(records(6, 2)), /below the next expected offset 8/)
    p.append(records(9, 2))
    await p.flush()
    assert.deepEqual(await readAll(store), [...records(0, 5), ...records(9, 2)])
  })

  test('close() drops what is not sealed and releases its budget', async () => {
    const store = new MemoryStore()
    const budget = new ByteBudget(1 << 30)
    const { p } = await pipeline(store, { budget })
    p.append(records(0, 10))
    p.close()
    await p.settled()
    assert.equal(budget.bytes, 0)
    assert.equal(await new ArchiveReader(store).head(TOPIC, 0), undefined)
  })

  test('fetched batches: a re-delivered batch adds only offsets past the position; budget as for records', async () => {
    const store = new MemoryStore()
    const budget = new ByteBudget(1 << 30)
    const { p } = await pipeline(store, { budget, limits: { maxBytes: 1500, maxRecords: 1_000, maxAgeMs: 60_000 } })
    const input = records(0, 30)
    const batch = (from: number, to: number) =>
      encodeBatch({ baseOffset: from, baseTimestamp: Number(input[from]!.timestamp), records: input.slice(from, to) })
    const [a, b, c] = await Promise.all([batch(0, 10), batch(10, 20), batch(20, 30)])
    p.appendFetched(Buffer.concat([a!, b!]), null)
    assert.equal(p.position, 20n)
    p.appendFetched(Buffer.concat([b!, c!]), null)
    assert.equal(p.position, 30n)
    // Nothing is committed yet (commits are asynchronous): every record is charged once, the repeated ones not again.
    assert.equal(budget.bytes, raw(input) + input.length * RECORD_OVERHEAD_BYTES)
    await p.flush()
    assert.equal(budget.bytes, 0)
    assert.deepEqual(await readAll(store), input)
  })

  test('a fetched response is not kept once its records are buffered (each partition would pin one)', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const { p } = await pipeline(new MemoryStore())
    const input = records(0, 5)
    const encoded = await encodeBatch({ baseOffset: 0, baseTimestamp: Number(input[0]!.timestamp), records: input })
    const append = (): WeakRef<ArrayBufferLike> => {
      const response = Buffer.alloc(encoded.length) // its own ArrayBuffer, not a pooled slab
      encoded.copy(response)
      p.appendFetched(response, null)
      return new WeakRef(response.buffer)
    }
    const ref = append()
    for (let i = 0; i < 5 && ref.deref() !== undefined; i++) {
      await new Promise((r) => setImmediate(r))
      gc()
    }
    assert.equal(ref.deref(), undefined, 'the response is still referenced after appendFetched')
    assert.equal(p.position, 5n)
  })

  test('a malformed batch after good ones: the good records stay buffered and the position moves past them only', async () => {
    const store = new MemoryStore()
    const { p } = await pipeline(store)
    const input = records(0, 6)
    const good = await encodeBatch({
      baseOffset: 0,
      baseTimestamp: Number(input[0]!.timestamp),
      records: input.slice(0, 3),
    })
    const bad = await encodeBatch({
      baseOffset: 3,
      baseTimestamp: Number(input[3]!.timestamp),
      records: input.slice(3),
    })
    bad.writeInt32BE(1 << 30, 57) // a record count far beyond the records there
    bad[61] = 0x7f // and the first record's length beyond the batch
    assert.throws(() => p.appendFetched(Buffer.concat([good, bad]), null), FormatError)
    assert.equal(p.position, 3n)
    await p.flush()
    assert.deepEqual(await readAll(store), input.slice(0, 3))
  })
})

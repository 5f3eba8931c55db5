// Offset maps: chunk bytes, the manifest as resume point and fence, translation over compaction holes, DuckDB reads.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { FormatError, IntegrityError, OffsetOrderError } from '../src/errors.js'
import { openStore } from '../src/store/open.js'
import { S3Store } from '../src/store/s3.js'
import { startS3Server } from '../src/testing/s3-server.js'
import type { ObjectStore } from '../src/store/types.js'
import { decodeOffsetMapChunk, encodeOffsetMapChunk } from '../src/offset-map/chunk.js'
import { OffsetMapFencedError, OffsetMapNotFoundError } from '../src/offset-map/errors.js'
import { readOffsetMapManifest } from '../src/offset-map/manifest.js'
import { listOffsetMapPartitions, listOffsetMapSources, OffsetMapReader } from '../src/offset-map/reader.js'
import { OffsetMapWriter } from '../src/offset-map/writer.js'
import { listSnapshotGroups, readGroupSnapshot, writeGroupSnapshot } from '../src/offset-map/groups.js'

const big = (xs: number[]) => BigInt64Array.from(xs.map(BigInt))

describe('offset map chunks', () => {
  it('round-trips entries and gives the same bytes for the same entries', () => {
    const entries = { source: big([0, 3, 4, 9, 1_000_000_000_000]), target: big([10, 11, 12, 13, 14]) }
    const opts = { sourceTopic: 'orders', targetTopic: 'orders-restored', partition: 2 }
    const a = encodeOffsetMapChunk(entries, opts)
    const b = encodeOffsetMapChunk(entries, opts)
    assert.deepEqual(Buffer.from(a.bytes), Buffer.from(b.bytes))
    assert.equal(a.sha256, b.sha256)
    assert.equal(a.firstSourceOffset, 0n)
    assert.equal(a.lastTargetOffset, 14n)
    const back = decodeOffsetMapChunk(a.bytes, { expectedSha256: a.sha256 })
    assert.deepEqual([...back.source], [...entries.source])
    assert.deepEqual([...back.target], [...entries.target])
  })

  it('rejects unordered entries, damaged bytes and non-Parquet bytes', () => {
    const opts = { sourceTopic: 'a', targetTopic: 'b', partition: 0 }
    assert.throws(() => encodeOffsetMapChunk({ source: big([1, 1]), target: big([1, 2]) }, opts), OffsetOrderError)
    assert.throws(() => encodeOffsetMapChunk({ source: big([1, 2]), target: big([5, 4]) }, opts), OffsetOrderError)
    const enc = encodeOffsetMapChunk({ source: big([1, 2]), target: big([1, 2]) }, opts)
    const damaged = Uint8Array.from(enc.bytes)
    damaged[damaged.length >> 1]! ^= 0xff
    assert.throws(() => decodeOffsetMapChunk(damaged, { expectedSha256: enc.sha256 }), IntegrityError)
    assert.throws(() => decodeOffsetMapChunk(Buffer.from('not parquet at all')), FormatError)
  })
})

describe('offset map writer and reader', () => {
  let dir: string
  let store: ObjectStore

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everlog-offset-map-'))
    store = openStore(pathToFileURL(dir).href)
  })
  after(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  // A compacted source: offsets 0..99 with every third one gone, restored to target offsets from 500.
  const sources = Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 3 !== 1)

  it('commits chunks, resumes from the manifest and translates holes forward', async () => {
    const opts = {
      sourceTopic: 'src',
      targetTopic: 'dst',
      partition: 1,
      writer: 'test',
      sourceStart: 0n,
      targetNext: 500n,
    }
    const w = await OffsetMapWriter.open(store, opts)
    let target = 500n
    for (const s of sources.slice(0, 30)) w.append(BigInt(s), target++)
    await w.flush()
    // A second writer opening the map (a resumed restore) continues where the first committed.
    const resumed = await OffsetMapWriter.open(store, { ...opts, sourceStart: 77n, targetNext: 0n })
    assert.equal(resumed.sourceNext, BigInt(sources[29]!) + 1n)
    assert.equal(resumed.targetNext, target)
    assert.throws(() => resumed.append(BigInt(sources[29]!), target), OffsetOrderError)
    for (const s of sources.slice(30)) resumed.append(BigInt(s), target++)
    resumed.advance(100n) // 99 % 3 === 0 so 99 is the last record; nothing past it
    await resumed.flush()
    // The first writer's etag is stale now: it is fenced.
    w.append(1000n, 10_000n)
    await assert.rejects(w.flush(), OffsetMapFencedError)
    // The fenced writer's chunk is not in the manifest: the owner removes it, so SQL sees only mapped rows.
    assert.deepEqual(await w.removeUnreferenced(), [])
    const removed = await resumed.removeUnreferenced()
    assert.equal(removed.length, 1)
    assert.match(removed[0]!, /^dst\/offset-map\/source=src\/partition=1\/00000000000000001000-[0-9a-f]{64}\.parquet$/)

    const m = (await readOffsetMapManifest(store, 'dst', 'src', 1))!.manifest
    assert.equal(m.records, sources.length)
    assert.equal(m.chunks.length, 2)
    assert.equal(m.sourceNext, 100n)
    assert.equal(m.targetNext, 500n + BigInt(sources.length))

    const reader = new OffsetMapReader(store)
    for (let s = 0; s < 100; s++) {
      const t = await reader.translate('dst', 'src', 1, BigInt(s))
      const next = sources.findIndex((x) => x >= s)
      assert.equal(t.targetOffset, 500n + BigInt(next), `source ${s}`)
      assert.equal(t.status, sources.includes(s) ? 'exact' : 'next', `source ${s}`)
    }
    const end = await reader.translate('dst', 'src', 1, 100n)
    assert.deepEqual([end.targetOffset, end.status], [m.targetNext, 'end'])
    assert.deepEqual(await listOffsetMapSources(store, 'dst'), ['src'])
    assert.deepEqual(await listOffsetMapPartitions(store, 'dst', 'src'), [1])
    await assert.rejects(reader.translate('dst', 'src', 7, 0n), OffsetMapNotFoundError)
  })

  it('maps offsets below the restored range to the first restored record', async () => {
    const w = await OffsetMapWriter.open(store, {
      sourceTopic: 'src',
      targetTopic: 'late',
      partition: 0,
      writer: 'test',
      sourceStart: 40n,
      targetNext: 0n,
    })
    w.append(41n, 0n)
    w.append(42n, 1n)
    await w.flush()
    const reader = new OffsetMapReader(store)
    assert.deepEqual(await reader.translate('late', 'src', 0, 3n), {
      partition: 0,
      sourceOffset: 3n,
      targetOffset: 0n,
      status: 'before-start',
    })
    assert.equal((await reader.translate('late', 'src', 0, 40n)).status, 'next')
  })

  it('is one table for DuckDB with hive partitions, the manifest left out', async () => {
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      const glob = join(dir, 'dst', 'offset-map', '*', '*', '*.parquet').replaceAll("'", "''")
      const rows = (
        await conn.runAndReadAll(
          `SELECT source, "partition", count(*) AS n, min(target_offset) AS lo, max(source_offset) AS hi
           FROM read_parquet('${glob}', hive_partitioning = true) GROUP BY ALL`,
        )
      ).getRowObjectsJS()
      assert.deepEqual(rows, [{ source: 'src', partition: 1n, n: BigInt(sources.length), lo: 500n, hi: 99n }])
    } finally {
      conn.closeSync()
      db.closeSync()
    }
  })

  it('keeps consumer-group snapshots per topic and group, newest or as of a time', async () => {
    const group = 'billing/v2.svc'
    await writeGroupSnapshot(store, {
      group,
      topic: 'src',
      takenAt: 1_700_000_000_000,
      partitions: [{ partition: 0, offset: 5n, metadata: null }],
    })
    await writeGroupSnapshot(store, {
      group,
      topic: 'src',
      takenAt: 1_700_000_060_000,
      partitions: [{ partition: 0, offset: 9n, metadata: 'm' }],
    })
    assert.deepEqual(await listSnapshotGroups(store, 'src'), [group])
    assert.equal((await readGroupSnapshot(store, 'src', group))!.partitions[0]!.offset, 9n)
    assert.equal((await readGroupSnapshot(store, 'src', group, { at: 1_700_000_030_000 }))!.partitions[0]!.offset, 5n)
    assert.equal(await readGroupSnapshot(store, 'src', group, { at: 1_600_000_000_000 }), undefined)
    assert.equal(await readGroupSnapshot(store, 'src', 'other'), undefined)
  })
})

describe('offset map over S3 (HTTP, conditional writes)', () => {
  it('two restores of one partition: the first manifest commit wins, the other is fenced', async () => {
    const s3 = await startS3Server()
    try {
      await s3.createBucket('maps')
      const store = new S3Store({ bucket: 'maps', prefix: 'archive/' }, s3.clientConfig())
      const opts = {
        sourceTopic: 'src',
        targetTopic: 'dst',
        partition: 0,
        writer: 'a',
        sourceStart: 0n,
        targetNext: 0n,
      }
      const a = await OffsetMapWriter.open(store, opts)
      const b = await OffsetMapWriter.open(store, { ...opts, writer: 'b' })
      for (let i = 0; i < 1000; i++) a.append(BigInt(i * 2), BigInt(i))
      b.append(0n, 0n)
      await a.flush()
      await assert.rejects(b.flush(), OffsetMapFencedError)
      const reader = new OffsetMapReader(store)
      assert.deepEqual(await reader.translate('dst', 'src', 0, 1001n), {
        partition: 0,
        sourceOffset: 1001n,
        targetOffset: 501n,
        status: 'next',
      })
      assert.equal((await reader.manifest('dst', 'src', 0)).writer, 'a')
      // b's chunk landed before its manifest write lost: the owner removes it, its own chunk stays.
      const removed = await a.removeUnreferenced()
      assert.equal(removed.length, 1)
      assert.notEqual(removed[0], a.manifest.chunks[0]!.key)
      assert.ok(await store.head(a.manifest.chunks[0]!.key))
      await store.close()
    } finally {
      await s3.close()
    }
  })
})

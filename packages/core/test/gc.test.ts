// gc after crashes: segments uploaded by commits that never reached HEAD are duplicate rows for anything reading
// data/ directly (Athena, DuckDB). After the grace period gc removes them (and offset-map chunks a crashed restore
// left) and nothing else, and the Athena table layout then counts every offset once.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import type { DuckDBConnection } from '@duckdb/node-api'
import { ensureArchive, writeTopicMeta } from '../src/catalog.js'
import { IntegrityError } from '../src/errors.js'
import { collectGarbage, DEFAULT_GC_GRACE_MS } from '../src/gc.js'
import { readHead } from '../src/head.js'
import { headKey, nodeKey } from '../src/layout.js'
import { OffsetMapWriter } from '../src/offset-map/writer.js'
import { PartitionWriter } from '../src/partition-writer.js'
import type { CommitHooks } from '../src/partition-writer.js'
import type { ArchiveRecord } from '../src/record.js'
import { FileStore } from '../src/store/file.js'
import { verifyArchive } from '../src/verify.js'

class Crash extends Error {}

function records(from: number, count: number): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: BigInt(from + i),
    timestamp: 1_700_000_000_000n + BigInt(from + i),
    key: null,
    value: Buffer.from(`v${from + i}`),
    headers: [],
  }))
}

const TOTAL = 200
const LATER = () => Date.now() + DEFAULT_GC_GRACE_MS + 60_000

describe('everlog gc', () => {
  let dir: string
  let store: FileStore
  let db: DuckDBInstance
  let conn: DuckDBConnection
  /** The objects that are not segments or index nodes, which gc must never touch. */
  const keep = [
    'everlog.json',
    'orders/topic.json',
    'orders/offset-map/source=orders/partition=0/manifest.json',
    'orders/metadata/v1.metadata.json',
  ]

  const mapChunks: string[] = []
  const strayChunk = `orders-restored/offset-map/source=orders/partition=0/${'0'.repeat(18)}10-${'ab'.repeat(32)}.parquet`

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everlog-gc-'))
    store = new FileStore(dir, { fsync: false })
    await ensureArchive(store)
    await writeTopicMeta(store, { topic: 'orders', partitions: 2 })
    await store.put(keep[2]!, Buffer.from('{}'))
    await store.put(keep[3]!, Buffer.from('{}'))
    // Partition 0: commits in segments of 10, with a crash after each 4th segment's upload and one after an index
    // node upload; the restarted writer then commits those offsets in a segment of another size, so the crashed
    // segment holds the same offsets as a committed one (a duplicate row for Athena).
    for (let at = 0, n = 0; at < TOTAL; n++) {
      const crashAt: keyof CommitHooks | undefined =
        n % 4 === 3 ? 'afterSegmentPut' : n % 9 === 5 ? 'beforeHeadWrite' : undefined
      const hooks: CommitHooks = crashAt
        ? {
            [crashAt]: () => {
              throw new Crash(crashAt)
            },
          }
        : {}
      const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'w', fanout: 4, hooks })
      const size = crashAt ? 10 : 7
      try {
        await w.appendSegment(records(at, Math.min(size, TOTAL - at)))
        at = Number(w.nextOffset)
      } catch (err) {
        assert.ok(err instanceof Crash, String(err))
      }
    }
    // Partition 1: the first commit crashed before any HEAD existed.
    const w1 = await PartitionWriter.open(store, {
      topic: 'orders',
      partition: 1,
      writer: 'w',
      hooks: { afterSegmentPut: () => Promise.reject(new Crash('first')) },
    })
    await assert.rejects(w1.appendSegment(records(0, 5)), Crash)
    // A restore's offset map: one committed chunk, and one a crashed run wrote without reaching its manifest.
    const map = await OffsetMapWriter.open(store, {
      sourceTopic: 'orders',
      targetTopic: 'orders-restored',
      partition: 0,
      writer: 'restore',
      sourceStart: 0n,
      targetNext: 0n,
    })
    for (let i = 0n; i < 10n; i++) map.append(i, i)
    const manifest = await map.flush()
    mapChunks.push(...manifest.chunks.map((c) => c.key))
    await store.put(strayChunk, Buffer.from('a chunk whose manifest was never written'))
    db = await DuckDBInstance.create(':memory:')
    conn = await db.connect()
  })

  after(async () => {
    conn?.closeSync()
    db?.closeSync()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** Counted the way Athena reads the table: every Parquet file under data/, partition from the path. */
  async function athenaLayout(): Promise<{ rows: number; distinct: number; partitions: number }> {
    const glob = join(dir, 'orders', 'data', '**', '*.parquet').replaceAll("'", "''")
    const [row] = (
      await conn.runAndReadAll(
        `SELECT count(*) AS n, count(DISTINCT ("partition", "offset")) AS d, count(DISTINCT "partition") AS p
         FROM read_parquet('${glob}', hive_partitioning = true)`,
      )
    ).getRowObjectsJS()
    return { rows: Number(row!.n), distinct: Number(row!.d), partitions: Number(row!.p) }
  }

  it('the crashes left duplicate rows in the Athena layout, and verify counts them as unreferenced', async () => {
    const before = await athenaLayout()
    assert.equal(before.distinct, TOTAL + 5, 'every offset is there (partition 1 only in a leftover)')
    assert.ok(before.rows > before.distinct, `duplicates: ${before.rows} rows for ${before.distinct} offsets`)
    const v = await verifyArchive(store)
    assert.deepEqual(v.problems, [])
    assert.ok(v.unreferenced && v.unreferenced.objects > 0, JSON.stringify(v.unreferenced))
  })

  it('within the grace period gc keeps everything, even with --apply', async () => {
    const result = await collectGarbage(store, { apply: true })
    assert.equal(result.deleted.objects, 0)
    assert.equal(result.collectable.objects, 0)
    assert.ok(result.young.objects > 0, 'the leftovers are counted as too young')
  })

  it('a dry run after the grace period lists the leftovers and deletes nothing', async () => {
    const result = await collectGarbage(store, { now: LATER })
    assert.equal(result.applied, false)
    assert.equal(result.deleted.objects, 0)
    assert.ok(result.objects.some((o) => o.kind === 'segment'))
    assert.ok(
      result.objects.some((o) => o.kind === 'node'),
      'superseded and crashed index nodes',
    )
    assert.deepEqual(
      result.objects.filter((o) => o.kind === 'offset-map-chunk').map((o) => o.key),
      [strayChunk],
      'the offset-map chunk no manifest lists, not the committed one',
    )
    for (const o of result.objects) assert.ok(await store.head(o.key), `${o.key} is still there`)
    assert.equal(
      result.collectable.bytes,
      result.objects.reduce((n, o) => n + o.size, 0),
    )
  })

  it('refuses to delete anything while the archive has a broken object', async () => {
    const root = (await readHead(store, 'orders', 0))!.head.root!
    const original = await store.get(nodeKey('orders', 0, root))
    await store.put(nodeKey('orders', 0, root), Buffer.from('not a node'))
    try {
      await assert.rejects(collectGarbage(store, { now: LATER, apply: true }), IntegrityError)
    } finally {
      await store.put(nodeKey('orders', 0, root), original.body)
    }
  })

  it('--apply after the grace period deletes exactly the leftovers: each offset once, the archive sound', async () => {
    const listed = await collectGarbage(store, { now: LATER })
    const result = await collectGarbage(store, { now: LATER, apply: true })
    assert.deepEqual(
      result.objects.map((o) => o.key),
      listed.objects.map((o) => o.key),
    )
    assert.equal(result.deleted.objects, listed.collectable.objects)
    assert.equal(result.deleted.bytes, listed.collectable.bytes)
    for (const o of result.objects) assert.equal(await store.head(o.key), undefined, `${o.key} is gone`)

    const afterGc = await athenaLayout()
    assert.deepEqual(afterGc, { rows: TOTAL, distinct: TOTAL, partitions: 1 }, 'every committed offset once')
    const v = await verifyArchive(store)
    assert.deepEqual(v.problems, [])
    assert.equal(v.checked.records, TOTAL)
    assert.deepEqual(v.unreferenced, { objects: 0, bytes: 0 })
    for (const key of [...keep, ...mapChunks, headKey('orders', 0)]) assert.ok(await store.head(key), `${key} is kept`)
    assert.equal(await store.head(strayChunk), undefined)
    // Nothing left to collect.
    assert.equal((await collectGarbage(store, { now: LATER })).collectable.objects, 0)
  })
})

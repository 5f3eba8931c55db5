import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryStore, PartitionWriter, writeTopicMeta, type ArchiveRecord, type ObjectStore } from '@everlog/core'
import { openQuery, type ArchiveQuery, type OpenQueryOptions } from '../src/index.js'

const TOPIC = 'clicks'
const PARTITIONS = 4
const RECORDS = 4000
const T0 = 1_700_000_000_000n

/** Every GET's returned bytes, whatever was read: HEADs, index nodes, footers, row groups, whole segments. */
function counting(inner: ObjectStore): { store: ObjectStore; bytes: () => number } {
  let bytes = 0
  const store: ObjectStore = Object.create(inner)
  store.get = async (key, range) => {
    const got = await inner.get(key, range)
    bytes += got.body.length
    return got
  }
  return { store, bytes: () => bytes }
}

/** ~400 bytes of poorly compressible text, so the archive's bytes are mostly record data. */
function value(p: number, i: number): Buffer {
  let x = (p * 7_368_787 + i * 2_654_435_761) >>> 0
  let s = `{"click":${i},"partition":${p},"payload":"`
  for (let j = 0; j < 360; j++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0
    s += String.fromCharCode(97 + (x >>> 27))
  }
  return Buffer.from(`${s}"}`)
}

/** Record i of every partition has timestamp T0 + i s (+ p ms); segments of 1000 records, row groups of ~24 KiB. */
async function build(store: ObjectStore): Promise<number> {
  for (let p = 0; p < PARTITIONS; p++) {
    const w = await PartitionWriter.open(store, { topic: TOPIC, partition: p, writer: 't', rowGroupBytes: 24 * 1024 })
    for (let s = 0; s < RECORDS; s += 1000) {
      const seg: ArchiveRecord[] = []
      for (let i = s; i < s + 1000; i++) {
        seg.push({
          offset: BigInt(i),
          timestamp: T0 + BigInt(i) * 1000n + BigInt(p),
          key: i % 9 === 0 ? null : Buffer.from(`user-${i % 13}`),
          value: i % 31 === 30 ? null : value(p, i),
          headers: i % 2 === 0 ? [['source', Buffer.from('web')]] : [],
        })
      }
      await w.appendSegment(seg)
    }
  }
  await writeTopicMeta(store, { topic: TOPIC, partitions: PARTITIONS })
  let total = 0
  for await (const o of store.list(`${TOPIC}/data/`)) total += o.size
  return total
}

const ROWS = `SELECT "partition", "offset", epoch_ms("timestamp") AS ts, hex(key) AS k, hex(value) AS v,
  list_transform(headers, h -> [h.key, hex(h.value)]) AS h FROM ${TOPIC}`
const ORDER = ` ORDER BY "partition", "offset"`

async function rows(q: ArchiveQuery, sql: string): Promise<unknown[]> {
  return (await q.connection.runAndReadAll(sql)).getRowObjectsJson()
}

test('a narrow range reads only the row groups it needs (ranged GETs), and answers like a full scan', async (t) => {
  const base = new MemoryStore()
  const archived = await build(base)
  const dirs: string[] = []
  const cacheDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'everlog-prune-'))
    dirs.push(d)
    return d
  }
  t.after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

  // The reference: every segment downloaded, the range applied by SQL.
  const full = await openQuery(base, { cacheDir: await cacheDir() })
  t.after(() => full.close())
  assert.equal(full.rowGroups, 0)

  const open = async (range: OpenQueryOptions, dir?: string) => {
    const c = counting(base)
    const q = await openQuery(c.store, { ...range, cacheDir: dir ?? (await cacheDir()) })
    t.after(() => q.close())
    return { q, fetched: c.bytes() }
  }
  const from = T0 + 2000n * 1000n // 1% of the records of each partition, in the middle of a segment
  const to = from + 39n * 1000n + 3n
  const cases: { name: string; range: OpenQueryOptions; where: string; maxShare: number }[] = [
    {
      name: '1% time range',
      range: { fromTime: from, toTime: to },
      where: `epoch_ms("timestamp") BETWEEN ${from} AND ${to}`,
      maxShare: 0.05,
    },
    {
      name: '1% offset range',
      range: { fromOffset: 1210n, toOffset: 1249n },
      where: `"offset" BETWEEN 1210 AND 1249`,
      maxShare: 0.05,
    },
    {
      name: 'one partition, 1% time range',
      range: { partitions: [2], fromTime: from, toTime: to },
      where: `"partition" = 2 AND epoch_ms("timestamp") BETWEEN ${from} AND ${to}`,
      maxShare: 0.05 / PARTITIONS,
    },
  ]
  for (const c of cases) {
    const { q, fetched } = await open(c.range)
    const want = await rows(full, `${ROWS} WHERE ${c.where}${ORDER}`)
    assert.ok(want.length > 0, `${c.name}: the case must select records`)
    // The table holds exactly the range's records, whatever the SQL says.
    assert.deepEqual(await rows(q, ROWS + ORDER), want, c.name)
    assert.ok(q.rowGroups > 0, `${c.name}: read no single row group`)
    assert.ok(
      fetched <= c.maxShare * archived,
      `${c.name}: fetched ${fetched} bytes, ${((100 * fetched) / archived).toFixed(2)}% of ${archived}`,
    )
    assert.equal(q.downloadedBytes <= fetched, true, `${c.name}: reports ${q.downloadedBytes} > ${fetched} fetched`)
  }

  // A range across a segment boundary, and one outside the archive.
  const across = await open({ fromOffset: 990n, toOffset: 1010n })
  assert.deepEqual(
    await rows(across.q, ROWS + ORDER),
    await rows(full, `${ROWS} WHERE "offset" BETWEEN 990 AND 1010${ORDER}`),
  )
  const none = await open({ fromTime: T0 - 10_000n, toTime: T0 - 1n })
  assert.deepEqual(await rows(none.q, `SELECT count(*)::INT AS n FROM ${TOPIC}`), [{ n: 0 }])
  assert.ok(none.fetched < 0.01 * archived)
})

test('row groups read on their own are cached, verified and reused; cached whole segments are used as they are', async (t) => {
  const base = new MemoryStore()
  await build(base)
  const dir = await mkdtemp(join(tmpdir(), 'everlog-prune-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const range = { fromOffset: 1500n, toOffset: 1519n }
  const count = async (q: ArchiveQuery) => rows(q, `SELECT count(*)::INT AS n FROM ${TOPIC}`)

  const c1 = counting(base)
  const first = await openQuery(c1.store, { ...range, cacheDir: dir })
  t.after(() => first.close())
  assert.deepEqual(await count(first), [{ n: 20 * PARTITIONS }])
  assert.ok(first.downloadedFiles > 0 && first.rowGroups >= PARTITIONS)

  // Again: only footers and the index are read; every row group comes from the cache.
  const c2 = counting(base)
  const second = await openQuery(c2.store, { ...range, cacheDir: dir })
  t.after(() => second.close())
  assert.equal(second.downloadedFiles, 0)
  assert.equal(second.reusedFiles, first.downloadedFiles)
  assert.ok(c2.bytes() < c1.bytes() / 2, `second query fetched ${c2.bytes()} bytes, first ${c1.bytes()}`)
  assert.deepEqual(await count(second), [{ n: 20 * PARTITIONS }])

  // A damaged row-group file is noticed and fetched again.
  const partDir = join(dir, TOPIC, 'data', 'partition=1')
  const victim = join(partDir, (await readdir(partDir)).filter((f) => /\.rg\d+\.parquet$/.test(f))[0]!)
  await writeFile(victim, 'not parquet')
  const third = await openQuery(base, { ...range, cacheDir: dir })
  t.after(() => third.close())
  assert.deepEqual(third.corruptFiles, [victim])
  assert.equal(third.downloadedFiles, 1)
  assert.deepEqual(await count(third), [{ n: 20 * PARTITIONS }])

  // After a full scan cached whole segments, a narrow query reads them from disk and fetches no segment bytes.
  const all = await openQuery(base, { cacheDir: dir })
  all.close()
  const c4 = counting(base)
  const fourth = await openQuery(c4.store, { ...range, cacheDir: dir })
  t.after(() => fourth.close())
  assert.equal(fourth.downloadedBytes, 0)
  assert.deepEqual(await count(fourth), [{ n: 20 * PARTITIONS }])

  await assert.rejects(openQuery(base, { fromOffset: 5n, toOffset: 4n, cacheDir: dir }), /ends \(4\) before/)
})

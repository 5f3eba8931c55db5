import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ArchiveReader, FileStore, S3Store, type ArchiveRecord, type ObjectStore } from '@everlog/core'
import { startS3Server } from '@everlog/core/testing'
import { athenaDdl, openQuery, type ArchiveQuery } from '../src/index.js'
import { HOUR, T0, writeArchive } from './fixtures.js'

const TOPIC = 'orders'
const PARTITIONS = 3
const RECORDS = 300

async function rows(q: ArchiveQuery, sql: string): Promise<Record<string, unknown>[]> {
  return (await q.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]
}

async function readAll(store: ObjectStore): Promise<ArchiveRecord[]> {
  const reader = new ArchiveReader(store)
  const out: ArchiveRecord[] = []
  for (let p = 0; p < PARTITIONS; p++) for await (const r of reader.read({ topic: TOPIC, partition: p })) out.push(r)
  return out
}

/** The same checks on every store: DuckDB's answers equal what ArchiveReader returns. */
async function checkAgainstReader(q: ArchiveQuery, store: ObjectStore): Promise<void> {
  const expected = await readAll(store)
  const [agg] = await rows(
    q,
    `SELECT count(*) AS n, min("offset") AS lo, max("offset") AS hi, sum(octet_length(value)) AS bytes,
            count(*) FILTER (WHERE value IS NULL) AS tombstones, count(*) FILTER (WHERE key IS NULL) AS nullkeys
     FROM orders`,
  )
  assert.equal(Number(agg!.n), expected.length)
  assert.equal(Number(agg!.lo), 0)
  assert.equal(Number(agg!.hi), RECORDS - 1)
  assert.equal(
    Number(agg!.bytes),
    expected.reduce((s, r) => s + (r.value?.length ?? 0), 0),
  )
  assert.equal(Number(agg!.tombstones), expected.filter((r) => r.value === null).length)
  assert.equal(Number(agg!.nullkeys), expected.filter((r) => r.key === null).length)

  // A sample of full rows, byte for byte, headers in order with duplicates.
  const sample = await rows(
    q,
    `SELECT "partition", "offset", epoch_ms("timestamp") AS ts, hex(key) AS key, hex(value) AS value,
            list_transform(headers, h -> [h.key, hex(h.value)]) AS headers
     FROM orders WHERE "offset" % 37 = 3 ORDER BY "partition", "offset"`,
  )
  const want = expected.filter((r) => r.offset % 37n === 3n)
  assert.equal(sample.length, want.length)
  for (const [i, row] of sample.entries()) {
    const r = want[i]!
    assert.equal(BigInt(row.offset as string | number), r.offset)
    assert.equal(BigInt(row.ts as string | number), r.timestamp)
    assert.equal(row.key, r.key === null ? null : r.key.toString('hex').toUpperCase())
    assert.equal(row.value, r.value === null ? null : r.value.toString('hex').toUpperCase())
    assert.deepEqual(
      row.headers,
      r.headers.map(([k, v]) => [k, v === null ? null : v.toString('hex').toUpperCase()]),
    )
  }

  // The decoded view parses JSON values and keeps the last of repeated header keys.
  const [decoded] = await rows(
    q,
    `SELECT sum(CAST(json_extract(value, '$.amount') AS INTEGER)) AS amount,
            count(*) FILTER (WHERE headers['source'] = 'retry') AS retried
     FROM orders_decoded`,
  )
  const amounts = expected.filter((r) => r.value).map((r) => JSON.parse(r.value!.toString()).amount as number)
  assert.equal(
    Number(decoded!.amount),
    amounts.reduce((a, b) => a + b, 0),
  )
  assert.equal(Number(decoded!.retried), expected.filter((r) => r.offset % 3n === 0n).length)
}

test('file store: DuckDB reads the segments in place and agrees with ArchiveReader', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'everlog-query-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const store = new FileStore(dir)
  await writeArchive(store, { topic: TOPIC, partitions: PARTITIONS, records: RECORDS, segmentRecords: 40 })
  const q = await openQuery(store)
  t.after(() => q.close())
  assert.equal(q.downloadedBytes, 0, 'a file store is never copied')
  assert.deepEqual(
    q.tables.map((x) => [x.topic, x.table, x.view]),
    [[TOPIC, 'orders', 'orders_decoded']],
  )
  await checkAgainstReader(q, store)

  // Every SQL statement in the package README runs in DuckDB against this archive.
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const statements = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.split(';'))
    .map((sql) => sql.replace(/^--.*$/gm, '').trim())
    .filter((sql) => sql.length > 0)
  assert.ok(statements.length >= 3, 'the README shows example queries')
  for (const sql of statements) assert.ok((await rows(q, sql)).length > 0, `README query returned rows: ${sql}`)

  // Every example query of the DDL output runs in DuckDB.
  const ddl = athenaDdl({ store: 's3://b/p', topic: TOPIC, partitions: PARTITIONS })
  for (const example of ddl.examples) {
    const out = await rows(q, example.sql)
    assert.ok(out.length > 0, `example "${example.title}" returned rows`)
  }
})

let s3: Awaited<ReturnType<typeof startS3Server>>
before(async () => {
  s3 = await startS3Server()
})
after(async () => {
  await s3?.close()
})

function s3Store(bucket: string): S3Store {
  return new S3Store({ bucket, prefix: 'archive/' }, s3.clientConfig())
}

test('S3 store over HTTP: segments are cached, verified and reused; time pruning downloads less', async (t) => {
  await s3.createBucket('query-s3')
  const store = s3Store('query-s3')
  t.after(() => store.close())
  await writeArchive(store, { topic: TOPIC, partitions: PARTITIONS, records: RECORDS, segmentRecords: 40 })
  const cacheDir = await mkdtemp(join(tmpdir(), 'everlog-cache-'))
  t.after(() => rm(cacheDir, { recursive: true, force: true }))

  const progress: number[] = []
  const first = await openQuery(store, { cacheDir, onProgress: (p) => progress.push(p.done) })
  await checkAgainstReader(first, store)
  first.close()
  assert.equal(first.downloadedFiles, PARTITIONS * Math.ceil(RECORDS / 40))
  assert.ok(progress.length === first.downloadedFiles, 'progress reported per segment')

  const second = await openQuery(store, { cacheDir })
  t.after(() => second.close())
  assert.equal(second.downloadedBytes, 0, 'second query downloads nothing')
  assert.equal(second.reusedFiles, first.downloadedFiles)

  // A corrupted cached file is detected by its hash and fetched again.
  // Cached files keep their keys relative to the store root (content addressed, so stores may share a cache).
  const partDir = join(cacheDir, TOPIC, 'data', 'partition=1')
  const victimPath = join(partDir, (await readdir(partDir)).sort()[0]!)
  await writeFile(victimPath, 'not a parquet file')
  const third = await openQuery(store, { cacheDir })
  t.after(() => third.close())
  assert.deepEqual(third.corruptFiles, [victimPath])
  assert.equal(third.downloadedFiles, 1)
  await checkAgainstReader(third, store)

  // Pruning by time: one hour of a five-hour archive touches only the overlapping segments.
  const pruneDir = await mkdtemp(join(tmpdir(), 'everlog-cache-'))
  t.after(() => rm(pruneDir, { recursive: true, force: true }))
  const pruned = await openQuery(store, { cacheDir: pruneDir, fromTime: T0 + HOUR, toTime: T0 + 2n * HOUR })
  t.after(() => pruned.close())
  assert.ok(pruned.downloadedFiles < first.downloadedFiles / 2, `${pruned.downloadedFiles} of ${first.downloadedFiles}`)
  const [n] = await rows(
    pruned,
    `SELECT count(*) AS n FROM orders WHERE epoch_ms("timestamp") BETWEEN ${T0 + HOUR} AND ${T0 + 2n * HOUR}`,
  )
  const all = await readAll(store)
  assert.equal(Number(n!.n), all.filter((r) => r.timestamp >= T0 + HOUR && r.timestamp <= T0 + 2n * HOUR).length)
})

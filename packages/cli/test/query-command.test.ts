// `everlog query` and `everlog athena ddl` as a user runs them, against an archive the test writes.
import assert from 'node:assert/strict'
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { FileStore, PartitionWriter, S3Store, writeTopicMeta } from '@everlog/core'
import { startS3Server, type S3TestServer } from '@everlog/core/testing'
import { writeArchive } from '../../query/test/fixtures.js'
import { everlog } from './support.js'

const sql = (s: string) => `'${s.replace(/'/g, "''")}'`

let dir: string
let url: string
let s3: S3TestServer

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'everlog-cli-query-'))
  url = pathToFileURL(dir).href
  await writeArchive(new FileStore(dir), { topic: 'orders.v1', partitions: 2, records: 120, segmentRecords: 50 })
  s3 = await startS3Server({ bucket: 'archive' })
  await writeArchive(new S3Store({ bucket: 'archive', prefix: 'p/' }, s3.clientConfig()), {
    topic: 'orders.v1',
    partitions: 2,
    records: 120,
    segmentRecords: 50,
  })
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
  await s3?.close()
})

test('query prints a table, JSON lines or CSV', async () => {
  const sql = 'SELECT "partition", count(*) AS n, max("offset") AS hi FROM orders_v1 GROUP BY 1 ORDER BY 1'
  const t = await everlog(['query', '--store', url, sql])
  assert.equal(t.code, 0, t.stderr)
  assert.deepEqual(
    t.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)),
    [
      ['partition', 'n', 'hi'],
      ['0', '120', '119'],
      ['1', '120', '119'],
    ],
  )
  const j = await everlog(['query', '--store', url, '--format', 'jsonl', sql])
  assert.deepEqual(
    j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [
      { partition: '0', n: '120', hi: '119' },
      { partition: '1', n: '120', hi: '119' },
    ],
  )
  const c = await everlog([
    'query',
    '--store',
    url,
    '--format',
    'csv',
    'SELECT value FROM orders_v1_decoded WHERE "offset" = 1 AND "partition" = 0',
  ])
  assert.equal(c.stdout, 'value\n"{""order"":1,""partition"":0,""amount"":7}"\n')
})

test('an S3 archive is queried through the cache and gives the same answer', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'everlog-cli-cache-'))
  t.after(() => rm(cacheDir, { recursive: true, force: true }))
  const env = {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }
  const sql = 'SELECT count(*) AS n, sum(octet_length(value)) AS bytes FROM orders_v1'
  const fromS3 = await everlog(
    ['query', '--store', 's3://archive/p', '--cache-dir', cacheDir, '--format', 'jsonl', sql],
    env,
  )
  assert.equal(fromS3.code, 0, fromS3.stderr)
  const fromFile = await everlog(['query', '--store', url, '--format', 'jsonl', sql])
  assert.equal(fromS3.stdout, fromFile.stdout)
  assert.match(fromS3.stderr, /orders\.v1: 6\/6 segments ready/)

  // The WHERE clause bounds the offsets: only the segments holding them are read (one per partition here).
  const narrowCache = await mkdtemp(join(tmpdir(), 'everlog-cli-cache-'))
  t.after(() => rm(narrowCache, { recursive: true, force: true }))
  const narrow =
    'SELECT "partition", count(*) AS n FROM orders_v1 WHERE "offset" BETWEEN 60 AND 70 GROUP BY 1 ORDER BY 1'
  const narrowS3 = await everlog(
    ['query', '--store', 's3://archive/p', '--cache-dir', narrowCache, '--format', 'jsonl', narrow],
    env,
  )
  assert.equal(narrowS3.code, 0, narrowS3.stderr)
  assert.equal(narrowS3.stdout, (await everlog(['query', '--store', url, '--format', 'jsonl', narrow])).stdout)
  assert.equal(narrowS3.stdout, '{"partition":"0","n":"11"}\n{"partition":"1","n":"11"}\n')
  assert.match(narrowS3.stderr, /orders\.v1: 2\/2 segments ready/)
})

test("SQL errors show DuckDB's message with the position; bad flags say what is allowed", async () => {
  const bad = await everlog(['query', '--store', url, 'SELECT nope FROM orders_v1'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /Referenced column "nope" not found/)
  assert.match(bad.stderr, /LINE 1: SELECT nope FROM orders_v1\n\s+\^/)
  const fmt = await everlog(['query', '--store', url, '--format', 'xml', 'SELECT 1'])
  assert.equal(fmt.code, 2)
  assert.equal(fmt.stderr, 'everlog: --format xml: expected one of table, jsonl, csv\n')
  const time = await everlog(['query', '--store', url, '--from-time', 'yesterday', 'SELECT 1'])
  assert.match(time.stderr, /^everlog: --from-time must be an ISO 8601 time .*got "yesterday"\n$/)
})

test('the SQL reaches only the archive: no other file read or written, no database attached, the lock holds', async (t) => {
  const outside = join(dir, '..', `outside-${Date.now()}.csv`)
  await writeFile(outside, 'secret\n1\n')
  t.after(() => rm(outside, { force: true }))
  const attempts = [
    `SELECT * FROM read_text(${sql(outside)})`,
    `SELECT * FROM read_csv(${sql(outside)})`,
    `SELECT * FROM glob(${sql(join(dir, '..', '*'))})`,
    `COPY (SELECT 1) TO ${sql(outside + '.out')}`,
    `ATTACH ${sql(outside + '.duckdb')}`,
    'SET enable_external_access = true',
  ]
  const runs = await Promise.all(attempts.map((q) => everlog(['query', '--store', url, q])))
  runs.forEach((r, i) => {
    assert.equal(r.code, 2, `${attempts[i]} was refused: ${r.stdout}`)
    assert.match(r.stderr, /Permission Error|configuration has been locked/, attempts[i])
  })
  // The archive's own tables still read, and the flag lets a user join their own files.
  const allowed = await everlog([
    'query',
    '--store',
    url,
    '--allow-local-files',
    '--format',
    'jsonl',
    `SELECT (SELECT count(*) FROM orders_v1) AS n, (SELECT secret FROM read_csv(${sql(outside)})) AS s`,
  ])
  assert.equal(allowed.code, 0, allowed.stderr)
  assert.deepEqual(JSON.parse(allowed.stdout), { n: '240', s: '1' })
})

test('several statements print every result, in order', async () => {
  const r = await everlog(['query', '--store', url, '--format', 'jsonl', 'SELECT 1 AS a; SELECT 2 AS b'])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [{ a: 1 }, { b: 2 }],
  )
})

test('a corrupted segment of a file store fails the query, as cat does', async (t) => {
  const copy = await mkdtemp(join(tmpdir(), 'everlog-cli-corrupt-'))
  t.after(() => rm(copy, { recursive: true, force: true }))
  await cp(dir, copy, { recursive: true })
  const segments = (await readdir(copy, { recursive: true })).filter((f) => f.endsWith('.parquet'))
  const victim = join(copy, segments[0]!)
  const bytes = await readFile(victim)
  bytes[bytes.length >> 1] ^= 0xff
  await writeFile(victim, bytes)
  const r = await everlog(['query', '--store', pathToFileURL(copy).href, 'SELECT count(*) FROM orders_v1'])
  assert.equal(r.code, 2, r.stdout)
  assert.match(r.stderr, /^everlog: segment \S+ in file:\/\/\S+ is corrupt: its bytes hash to [0-9a-f]{64}\n$/)
})

test('athena ddl prints the table, the decoded view and example queries for a topic', async () => {
  const env = {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }
  const r = await everlog(
    ['athena', 'ddl', '--store', 's3://archive/p', '--topic', 'orders.v1', '--database', 'kafka'],
    env,
  )
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /CREATE EXTERNAL TABLE IF NOT EXISTS kafka\.orders_v1 \(/)
  assert.match(r.stdout, /LOCATION 's3:\/\/archive\/p\/orders\.v1\/data\/'/)
  assert.match(r.stdout, /'projection\.partition\.range' = '0,1'/)
  assert.match(r.stdout, /CREATE OR REPLACE VIEW kafka\.orders_v1_decoded AS/)
  assert.equal(r.stderr, '', 'zstd segments: nothing to warn about')
  const file = await everlog(['athena', 'ddl', '--store', url, '--topic', 'orders.v1'])
  assert.equal(file.code, 2)
  assert.match(file.stderr, /Athena reads S3 only/)
})

test('athena ddl warns when the segments are compressed with a codec Athena cannot read (lz4)', async () => {
  const store = new S3Store({ bucket: 'archive', prefix: 'lz4/' }, s3.clientConfig())
  const writer = await PartitionWriter.open(store, { topic: 'clicks', partition: 0, writer: 't', compression: 'lz4' })
  await writer.appendSegment([{ offset: 0n, timestamp: 1n, key: null, value: Buffer.from('v'), headers: [] }])
  await writeTopicMeta(store, { topic: 'clicks', partitions: 1 })
  const env = {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }
  const r = await everlog(['athena', 'ddl', '--store', 's3://archive/lz4', '--topic', 'clicks'], env)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /CREATE EXTERNAL TABLE IF NOT EXISTS clicks \(/)
  assert.match(
    r.stderr,
    /^everlog: warning: segments of clicks are compressed with lz4 \(e\.g\. clicks\/data\/partition=0\/\S+\.parquet\), which Amazon Athena cannot read/,
  )
})

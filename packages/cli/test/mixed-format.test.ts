// An archive whose partitions hold format-1 segments (TIMESTAMP(MILLIS), older Everlog) followed by format-2 ones
// (TIMESTAMP(MICROS)): `everlog cat`, `everlog query` (in place, and row groups pruned by time from S3) and
// `everlog verify --deep` read it as one.
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { FileStore, PartitionWriter, S3Store, writeTopicMeta } from '@everlog/core'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import { setSegmentTimestampUnitForTests, startS3Server, type S3TestServer } from '@everlog/core/testing'
import { makeRecord } from '../../query/test/fixtures.js'
import { everlog } from './support.js'

const PARTITIONS = 2
const RECORDS = 300
/** Offsets below this are archived as format 1. */
const OLD = 150

let dir: string
let url: string
let s3: S3TestServer
let s3Env: NodeJS.ProcessEnv
const written = new Map<number, ArchiveRecord[]>()

async function writeMixed(store: ObjectStore): Promise<void> {
  for (let p = 0; p < PARTITIONS; p++) {
    const records = Array.from({ length: RECORDS }, (_, i) => makeRecord(p, BigInt(i)))
    written.set(p, records)
    const writer = await PartitionWriter.open(store, {
      topic: 'orders',
      partition: p,
      writer: 'mixed-test',
      rowGroupBytes: 2048,
    })
    for (let i = 0; i < RECORDS; i += 50) {
      setSegmentTimestampUnitForTests(i < OLD ? 'ms' : 'us')
      try {
        await writer.appendSegment(records.slice(i, i + 50))
      } finally {
        setSegmentTimestampUnitForTests('us')
      }
    }
  }
  await writeTopicMeta(store, { topic: 'orders', partitions: PARTITIONS })
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'everlog-cli-mixed-'))
  url = pathToFileURL(dir).href
  await writeMixed(new FileStore(dir))
  s3 = await startS3Server({ bucket: 'archive' })
  await writeMixed(new S3Store({ bucket: 'archive', prefix: 'p/' }, s3.clientConfig()))
  s3Env = {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
  await s3?.close()
})

test('cat prints every record of both formats with its millisecond timestamp', async () => {
  const r = await everlog(['cat', '--store', url, '--topic', 'orders'])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { partition: number; offset: string; timestamp: string; value: string | null })
  const expected = [...written].flatMap(([p, records]) =>
    records.map((x) => ({
      partition: p,
      offset: String(x.offset),
      timestamp: String(x.timestamp),
      value: x.value?.toString() ?? null,
    })),
  )
  assert.deepEqual(
    lines.map((l) => ({ partition: l.partition, offset: l.offset, timestamp: l.timestamp, value: l.value })),
    expected,
  )
})

test('query reads both formats in place and from S3, and a time range across them returns exactly its rows', async (t) => {
  const all = 'SELECT "partition", "offset", epoch_ms("timestamp") AS ms FROM orders ORDER BY 1, 2'
  const expected = [...written].flatMap(([p, records]) => records.map((x) => `${p},${x.offset},${x.timestamp}`))
  const lo = written.get(0)![120]!.timestamp
  const hi = written.get(0)![180]!.timestamp
  // Offsets 120..180 of partition 0; partition 1's timestamps are 1 ms later, so 120..179 there.
  const range = `SELECT count(*) AS n FROM orders WHERE "timestamp" >= epoch_ms(${lo}) AND "timestamp" <= epoch_ms(${hi})`
  const cacheDir = await mkdtemp(join(tmpdir(), 'everlog-cli-mixed-cache-'))
  t.after(() => rm(cacheDir, { recursive: true, force: true }))
  for (const [store, env] of [
    [url, {}],
    ['s3://archive/p', s3Env],
  ] as const) {
    const r = await everlog(['query', '--store', store, '--cache-dir', cacheDir, '--format', 'csv', all], env)
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.stdout.trim().split('\n').slice(1), expected, store)
    // A fresh cache for the range: from S3 only the row groups whose (millisecond) bounds meet it are fetched.
    const narrowCache = await mkdtemp(join(tmpdir(), 'everlog-cli-mixed-cache-'))
    t.after(() => rm(narrowCache, { recursive: true, force: true }))
    const n = await everlog(['query', '--store', store, '--cache-dir', narrowCache, '--format', 'csv', range], env)
    assert.equal(n.code, 0, n.stderr)
    assert.deepEqual(n.stdout.trim().split('\n'), ['n', String(61 + 60)], store)
  }
})

test('verify --deep passes on the mixed archive', async () => {
  const deep = await everlog(['verify', '--store', url, '--deep'])
  assert.equal(deep.code, 0, deep.stdout + deep.stderr)
  assert.match(
    deep.stdout,
    new RegExp(`^ok: 1 topics, ${PARTITIONS} partitions, \\d+ index nodes, 12 segments, 0 gaps, 600 records`),
  )
})

test('iceberg publish lists each format-1 segment as a format-2 copy; query --iceberg reads every record once', async () => {
  const published = await everlog(['iceberg', 'publish', '--store', url, '--topic', 'orders'])
  assert.equal(published.code, 0, published.stderr)
  // Offsets 0..149 of each partition: three format-1 segments, copied once under iceberg/data/.
  const copies = await readdir(join(dir, 'orders', 'iceberg', 'data'), { recursive: true })
  assert.equal(copies.filter((f) => f.endsWith('.parquet')).length, PARTITIONS * 3)
  const sql = 'SELECT "partition", "offset", epoch_ms("timestamp") AS ms FROM orders ORDER BY 1, 2'
  const r = await everlog(['query', '--store', url, '--iceberg', '--format', 'csv', sql])
  assert.equal(r.code, 0, r.stderr)
  const expected = [...written].flatMap(([p, records]) => records.map((x) => `${p},${x.offset},${x.timestamp}`))
  assert.deepEqual(r.stdout.trim().split('\n').slice(1), expected)
})

// `everlog iceberg publish|snapshots|expire` and `everlog query --iceberg/--as-of`, run as a user runs them.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { FileStore, PartitionWriter, S3Store, publishIceberg } from '@everlog/core'
import { startS3Server } from '@everlog/core/testing'
import { makeRecord, writeArchive } from '../../query/test/fixtures.js'
import { everlog } from './support.js'

let dir: string
let url: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'everlog-cli-iceberg-'))
  url = pathToFileURL(dir).href
  await writeArchive(new FileStore(dir), { topic: 'orders.v1', partitions: 2, records: 100, segmentRecords: 25 })
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('publish, query the snapshot, publish again, list and expire snapshots', async () => {
  const first = await everlog(['iceberg', 'publish', '--store', url, '--all-topics'])
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stdout, /^orders\.v1: published snapshot \d+ \(metadata v1\): \+8 segments, \+200 records/)
  const published = new Date().toISOString()

  const writer = await PartitionWriter.open(new FileStore(dir), { topic: 'orders.v1', partition: 1, writer: 't' })
  await writer.appendSegment(Array.from({ length: 10 }, (_, i) => makeRecord(1, BigInt(100 + i))))

  const sql = 'SELECT "partition", count(*) AS n FROM orders_v1 GROUP BY 1 ORDER BY 1'
  const lagging = await everlog(['query', '--store', url, '--iceberg', '--format', 'csv', sql])
  assert.equal(lagging.code, 0, lagging.stderr)
  assert.equal(lagging.stdout, 'partition,n\n0,100\n1,100\n')

  const second = await everlog(['iceberg', 'publish', '--store', url, '--topic', 'orders.v1', '--json'])
  assert.equal(second.code, 0, second.stderr)
  const r = JSON.parse(second.stdout) as { version: number; addedRecords: number; totalRecords: number }
  assert.deepEqual([r.version, r.addedRecords, r.totalRecords], [2, 10, 210])

  const asOf = await everlog(['query', '--store', url, '--as-of', published, '--format', 'csv', sql])
  assert.equal(asOf.stdout, 'partition,n\n0,100\n1,100\n', asOf.stderr)
  const current = await everlog(['query', '--store', url, '--iceberg', '--format', 'csv', sql])
  assert.equal(current.stdout, 'partition,n\n0,100\n1,110\n', current.stderr)

  const list = await everlog(['iceberg', 'snapshots', '--store', url, '--topic', 'orders.v1', '--json'])
  const snapshots = list.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { current: boolean; records: number })
  assert.deepEqual(
    snapshots.map((s) => [s.records, s.current]),
    [
      [200, false],
      [210, true],
    ],
  )

  const expire = await everlog(['iceberg', 'expire', '--store', url, '--all-topics', '--older-than', '0s'])
  assert.equal(expire.code, 0, expire.stderr)
  assert.match(expire.stdout, /^orders\.v1: expired 1 snapshots, 1 kept \(metadata v3/)
  const gone = await everlog(['query', '--store', url, '--as-of', published, sql])
  assert.equal(gone.code, 2)
  assert.match(gone.stderr, /no Iceberg snapshot as of .*oldest kept snapshot/)
})

test('usage mistakes get one line saying what to do', async () => {
  const badAge = await everlog(['iceberg', 'expire', '--store', url, '--all-topics', '--older-than', 'soon'])
  assert.equal(badAge.code, 2)
  assert.match(badAge.stderr, /--older-than "soon"/)
})

test('athena ddl --iceberg prints the Glue request that registers the current metadata', async (t) => {
  const s3 = await startS3Server({ bucket: 'lake' })
  t.after(() => s3.close())
  const store = new S3Store({ bucket: 'lake', prefix: 'archive/' }, s3.clientConfig())
  t.after(() => store.close())
  await writeArchive(store, { topic: 'orders.v1', partitions: 1, records: 20, segmentRecords: 10 })
  await publishIceberg(store, 'orders.v1')
  await publishIceberg(store, 'orders.v1') // nothing new: still v1
  const env = {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }
  const args = [
    'athena',
    'ddl',
    '--iceberg',
    '--store',
    's3://lake/archive',
    '--topic',
    'orders.v1',
    '--database',
    'kafka',
  ]
  const r = await everlog(args, env)
  assert.equal(r.code, 0, r.stderr)
  const json = r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('--'))
    .join('\n')
  const request = JSON.parse(json) as {
    DatabaseName: string
    TableInput: { Name: string; Parameters: Record<string, string> }
  }
  assert.equal(request.DatabaseName, 'kafka')
  assert.equal(request.TableInput.Name, 'orders_v1')
  assert.equal(request.TableInput.Parameters.table_type, 'ICEBERG')
  assert.equal(
    request.TableInput.Parameters.metadata_location,
    's3://lake/archive/orders.v1/iceberg/metadata/v1.metadata.json',
  )
})

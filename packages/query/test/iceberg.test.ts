// `everlog query --iceberg / --as-of`: DuckDB restricted to exactly the files of a published Iceberg snapshot, on an
// S3 store over HTTP, beside newer commits and crash leftovers that the snapshot does not list.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  PartitionWriter,
  S3Store,
  encodeSegment,
  expireIcebergSnapshots,
  publishIceberg,
  segmentKey,
  type ObjectStore,
} from '@everlog/core'
import { startS3Server } from '@everlog/core/testing'
import { openQuery, selectSegments, type SegmentSelection } from '../src/index.js'
import { makeRecord, writeArchive } from './fixtures.js'

const TOPIC = 'orders'
const PARTITIONS = 2

let s3: Awaited<ReturnType<typeof startS3Server>>
let cacheDir: string
before(async () => {
  s3 = await startS3Server()
  cacheDir = await mkdtemp(join(tmpdir(), 'everlog-iceberg-query-'))
})
after(async () => {
  await s3?.close()
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true })
})

async function count(store: ObjectStore, selection: SegmentSelection): Promise<{ n: number; distinct: number }> {
  const q = await openQuery(store, { ...selection, cacheDir })
  try {
    const reader = await q.connection.runAndReadAll(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT ("partition", "offset"))::INTEGER AS d FROM orders`,
    )
    const [row] = reader.getRowObjectsJS() as { n: number; d: number }[]
    return { n: row!.n, distinct: row!.d }
  } finally {
    q.close()
  }
}

test('DuckDB reads exactly the Iceberg snapshot: current, as of a time, and after expiry', async (t) => {
  await s3.createBucket('iceberg-query')
  const store = new S3Store({ bucket: 'iceberg-query', prefix: 'archive/' }, s3.clientConfig())
  t.after(() => store.close())
  await writeArchive(store, { topic: TOPIC, partitions: PARTITIONS, records: 120, segmentRecords: 40 })

  let clock = 1_000_000
  const first = await publishIceberg(store, TOPIC, { now: () => clock })
  assert.equal(first.totalRecords, 240)

  // After the publish: more commits, and a segment a crashed archiver PUT but never committed.
  for (let p = 0; p < PARTITIONS; p++) {
    const writer = await PartitionWriter.open(store, { topic: TOPIC, partition: p, writer: 'query-test' })
    await writer.appendSegment(Array.from({ length: 30 }, (_, i) => makeRecord(p, BigInt(120 + i))))
  }
  const orphan = encodeSegment(
    Array.from({ length: 5 }, (_, i) => makeRecord(0, BigInt(150 + i))),
    { topic: TOPIC, partition: 0 },
  )
  await store.put(segmentKey(TOPIC, 0, orphan.firstOffset, orphan.sha256), orphan.bytes)

  // The snapshot lags the HEADs until the next publish; both views hold every offset once.
  assert.deepEqual(await count(store, { source: 'iceberg' }), { n: 240, distinct: 240 })
  assert.deepEqual(await count(store, {}), { n: 300, distinct: 300 })

  clock = 2_000_000
  const second = await publishIceberg(store, TOPIC, { now: () => clock })
  assert.equal(second.addedFiles, PARTITIONS)
  assert.deepEqual(await count(store, { source: 'iceberg' }), { n: 300, distinct: 300 })
  assert.deepEqual(await count(store, { asOf: 1_500_000 }), { n: 240, distinct: 240 })
  assert.deepEqual(await count(store, { asOf: 2_000_000 }), { n: 300, distinct: 300 })
  await assert.rejects(count(store, { asOf: 999_999 }), /no Iceberg snapshot as of/)
  // The snapshot's segments carry the bounds the manifests hold: time pruning works on them as on the index.
  const fromIceberg = await selectSegments(store, TOPIC, { source: 'iceberg' })
  const fromHeads = await selectSegments(store, TOPIC)
  assert.deepEqual(fromIceberg, fromHeads)

  // Expiry drops the first snapshot from the metadata; the segments all stay.
  const expired = await expireIcebergSnapshots(store, TOPIC, { olderThanMs: 1_500_000, now: () => 3_000_000 })
  assert.equal(expired.expired.length, 1)
  assert.equal(expired.kept, 1)
  await assert.rejects(count(store, { asOf: 1_500_000 }), /oldest kept snapshot/)
  assert.deepEqual(await count(store, { source: 'iceberg' }), { n: 300, distinct: 300 })
  assert.deepEqual(await count(store, {}), { n: 300, distinct: 300 })
})

test('a topic without a published table says how to publish one', async (t) => {
  await s3.createBucket('iceberg-none')
  const store = new S3Store({ bucket: 'iceberg-none', prefix: '' }, s3.clientConfig())
  t.after(() => store.close())
  await writeArchive(store, { topic: TOPIC, partitions: 1, records: 10, segmentRecords: 10 })
  await assert.rejects(selectSegments(store, TOPIC, { source: 'iceberg' }), {
    code: 'ICEBERG_TABLE_NOT_FOUND',
    message: /everlog iceberg publish --topic orders/,
  })
})

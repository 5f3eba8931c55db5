// DuckDB reads our segments as plain Parquet: counts, bytes, column types, headers and the statistics it prunes by.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import type { DuckDBConnection } from '@duckdb/node-api'
import type { ArchiveRecord } from '../src/record.js'
import { encodeSegment } from '../src/segment/encode.js'
import type { SegmentCompression } from '../src/segment/types.js'

const records: ArchiveRecord[] = Array.from({ length: 5000 }, (_, i) => ({
  offset: 1_000_000n + BigInt(i),
  timestamp: 1_700_000_000_000n + BigInt(i * 10),
  key: i % 10 === 0 ? null : Buffer.from(`customer-${i % 50}`),
  value: i % 100 === 0 ? null : Buffer.from(JSON.stringify({ order: i, items: 'x'.repeat(i % 300) })),
  headers:
    i % 2 === 0
      ? []
      : [
          ['trace', Buffer.from(`t-${i}`)],
          ['trace', null],
          ['ключ', Buffer.from([0, 255])],
        ],
}))
const valueBytes = records.reduce((n, r) => n + (r.value?.length ?? 0), 0)

describe('DuckDB reads segments', () => {
  let dir: string
  let db: DuckDBInstance
  let conn: DuckDBConnection
  const files = new Map<SegmentCompression, string>()

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everlog-segment-duckdb-'))
    for (const compression of ['zstd', 'snappy', 'gzip', 'lz4', 'none'] as const) {
      const enc = encodeSegment(records, { topic: 'orders', partition: 0, compression, rowGroupBytes: 64 * 1024 })
      const path = join(dir, `${compression}.parquet`)
      await writeFile(path, enc.bytes)
      files.set(compression, path)
    }
    db = await DuckDBInstance.create(':memory:')
    conn = await db.connect()
  })

  after(async () => {
    conn?.closeSync()
    db?.closeSync()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const rows = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJS()
  const q = (path: string) => `read_parquet('${path.replaceAll("'", "''")}')`

  it('counts records and value bytes for every codec', async () => {
    for (const [compression, path] of files) {
      const [row] = await rows(
        `SELECT count(*) AS n, sum(octet_length(value)) AS bytes, count(value) AS "values", count(key) AS keys,
           min("offset") AS lo, max("offset") AS hi FROM ${q(path)}`,
      )
      assert.deepEqual(
        row,
        { n: 5000n, bytes: BigInt(valueBytes), values: 4950n, keys: 4500n, lo: 1_000_000n, hi: 1_004_999n },
        compression,
      )
    }
  })

  it('reports the standard column types', async () => {
    const cols = await rows(`DESCRIBE SELECT * FROM ${q(files.get('zstd')!)}`)
    assert.deepEqual(
      cols.map((c) => [c['column_name'], c['column_type']]),
      [
        ['offset', 'BIGINT'],
        ['timestamp', 'TIMESTAMP WITH TIME ZONE'],
        ['key', 'BLOB'],
        ['value', 'BLOB'],
        ['headers', 'STRUCT("key" VARCHAR, "value" BLOB)[]'],
      ],
    )
  })

  it('reads the timestamp as UTC microseconds (segment format 2), and filters by time exactly', async () => {
    const [schema] = await rows(
      `SELECT converted_type, logical_type FROM parquet_schema('${files.get('zstd')!}') WHERE name = 'timestamp'`,
    )
    assert.equal(schema!['converted_type'], 'TIMESTAMP_MICROS')
    assert.match(String(schema!['logical_type']), /isAdjustedToUTC=1.*MICROS=MicroSeconds\(\)/)
    // Records i = 100..199 have timestamps T0 + 10 i ms.
    const [hit] = await rows(
      `SELECT count(*) AS n, min("offset") AS lo FROM ${q(files.get('zstd')!)}
       WHERE "timestamp" BETWEEN make_timestamptz(1700000001000000) AND make_timestamptz(1700000001990000)`,
    )
    assert.deepEqual(hit, { n: 100n, lo: 1_000_100n })
  })

  it('reads headers in order with duplicates, nulls and unicode keys, and timestamps as UTC instants', async () => {
    const [row] = await rows(
      `SELECT len(headers) AS n, headers[1].key AS k1, decode(headers[1].value) AS v1, headers[2].key AS k2,
         headers[2].value IS NULL AS v2null, headers[3].key AS k3, hex(headers[3].value) AS v3,
         epoch_ms("timestamp") AS ts
       FROM ${q(files.get('snappy')!)} WHERE "offset" = 1000001`,
    )
    assert.deepEqual(row, {
      n: 3n,
      k1: 'trace',
      v1: 't-1',
      k2: 'trace',
      v2null: true,
      k3: 'ключ',
      v3: '00FF',
      ts: 1_700_000_000_010n,
    })
    const [empty] = await rows(`SELECT len(headers) AS n FROM ${q(files.get('snappy')!)} WHERE "offset" = 1000000`)
    assert.deepEqual(empty, { n: 0n })
  })

  it('finds offset and timestamp statistics per row group, and our key/value metadata', async () => {
    const path = files.get('zstd')!
    const stats = await rows(
      `SELECT row_group_id, path_in_schema AS col, stats_min_value AS lo, stats_max_value AS hi
       FROM parquet_metadata('${path}') WHERE path_in_schema IN ('offset', 'timestamp') ORDER BY row_group_id, col`,
    )
    const groups = stats.length / 2
    assert.ok(groups > 5, `expected several row groups, got ${groups}`)
    assert.equal(stats[0]!['lo'], '1000000')
    assert.equal(stats.at(-2)!['hi'], '1004999')
    for (const s of stats) assert.ok(s['lo'] !== null && s['hi'] !== null, `stats for ${String(s['col'])}`)
    // The predicate engines prune row groups with: a point lookup by offset.
    const [hit] = await rows(`SELECT count(*) AS n FROM ${q(path)} WHERE "offset" = 1002500`)
    assert.deepEqual(hit, { n: 1n })

    const kv = await rows(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${path}') ORDER BY k`)
    const meta = Object.fromEntries(
      kv.filter((r) => String(r['k']).startsWith('everlog.')).map((r) => [r['k'], r['v']]),
    )
    assert.deepEqual(meta, {
      'everlog.firstOffset': '1000000',
      'everlog.format': '2',
      'everlog.lastOffset': '1004999',
      'everlog.maxTimestamp': '1700000049990',
      'everlog.minTimestamp': '1700000000000',
      'everlog.partition': '0',
      'everlog.records': '5000',
      'everlog.topic': 'orders',
    })
  })
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileStore, readTopicMeta } from '@everlog/core'
import { SEGMENT_COLUMNS, athenaDdl, formatAthenaDdl, openQuery, tableNameForTopic } from '../src/index.js'
import { writeArchive } from './fixtures.js'

// The Athena DDL type of each column, as DuckDB reports the same Parquet column.
const ATHENA_TO_DUCKDB: Record<string, string> = {
  bigint: 'BIGINT',
  timestamp: 'TIMESTAMP WITH TIME ZONE',
  binary: 'BLOB',
  'array<struct<key:string,value:binary>>': 'STRUCT("key" VARCHAR, "value" BLOB)[]',
}

/** Columns as written in the CREATE EXTERNAL TABLE text: `name` type COMMENT '...'. */
function ddlColumns(sql: string): { name: string; type: string }[] {
  const body = sql.slice(sql.indexOf('(') + 1, sql.indexOf('\n)'))
  return body
    .split(',\n')
    .map((line) => /`([^`]+)` (\S+)/.exec(line.trim()))
    .map((m) => ({ name: m![1]!, type: m![2]! }))
}

test('Athena DDL columns equal the Parquet schema DuckDB reads from our segments', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'everlog-ddl-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const store = new FileStore(dir)
  await writeArchive(store, { topic: 'orders.v1', partitions: 3, records: 40, segmentRecords: 15 })
  const meta = await readTopicMeta(store, 'orders.v1')
  const ddl = athenaDdl({ store: 's3://bucket/archive', topic: 'orders.v1', partitions: meta!.partitions })

  const q = await openQuery(store)
  t.after(() => q.close())
  const described = (await q.connection.runAndReadAll(`DESCRIBE ${tableNameForTopic('orders.v1')}`)).getRowsJson()
  const duck = described.map((r) => ({ name: String(r[0]), type: String(r[1]) }))

  const fromDdl = ddlColumns(ddl.createTable)
  assert.deepEqual(
    fromDdl.map((c) => c.name),
    duck.filter((c) => c.name !== 'partition').map((c) => c.name),
    'same column names in the same order',
  )
  for (const col of fromDdl) {
    const seen = duck.find((c) => c.name === col.name)
    assert.equal(
      ATHENA_TO_DUCKDB[col.type],
      seen?.type,
      `column ${col.name}: Athena ${col.type} vs DuckDB ${seen?.type}`,
    )
  }
  assert.deepEqual(
    SEGMENT_COLUMNS.map((c) => c.duckdb),
    duck.filter((c) => c.name !== 'partition').map((c) => c.type),
  )
  assert.equal(duck.at(-1)?.name, 'partition', 'the hive partition column comes last, as in Athena')
})

test('partition projection is consistent with topic.json and the bucket layout', () => {
  const ddl = athenaDdl({ store: 's3://my-bucket/prefix/', topic: 'orders', partitions: 12, database: 'kafka' })
  const sql = ddl.createTable
  assert.match(sql, /^CREATE EXTERNAL TABLE IF NOT EXISTS kafka\.orders \(/)
  assert.match(sql, /PARTITIONED BY \(`partition` int\)/)
  assert.match(sql, /LOCATION 's3:\/\/my-bucket\/prefix\/orders\/data\/'/)
  assert.match(sql, /'projection\.enabled' = 'true'/)
  assert.match(sql, /'projection\.partition\.type' = 'integer'/)
  assert.match(sql, /'projection\.partition\.range' = '0,11'/)
  assert.match(
    sql,
    /'storage\.location\.template' = 's3:\/\/my-bucket\/prefix\/orders\/data\/partition=\$\{partition\}\/'/,
  )
  assert.match(ddl.createView, /^CREATE OR REPLACE VIEW kafka\.orders_decoded AS/)
  const text = formatAthenaDdl(ddl)
  assert.equal((text.match(/^-- /gm) ?? []).length, 5, 'a header comment, a section comment and three example titles')
})

test('bad DDL input is refused with a message naming the problem', () => {
  assert.throws(() => athenaDdl({ store: 'file:///tmp/x', topic: 'orders', partitions: 1 }), /Athena reads S3 only/)
  assert.throws(() => athenaDdl({ store: 's3://b/p', topic: 'orders', partitions: 0 }), /expected >= 1/)
  assert.throws(() => athenaDdl({ store: 's3://b/p', topic: 'o', partitions: 1, table: 'Bad-Name' }), /invalid table/)
})

test('topic names become SQL-safe table names shared by Athena and DuckDB', () => {
  assert.equal(tableNameForTopic('Orders.v1-EU'), 'orders_v1_eu')
  assert.equal(tableNameForTopic('2024_events'), 't_2024_events')
})

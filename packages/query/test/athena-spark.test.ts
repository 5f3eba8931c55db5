// The Athena DDL executed by an engine other than DuckDB: the statements `everlog athena ddl` prints, run in Spark
// SQL (Hive support, local mode) over a file-store archive (the bucket layout), then the example queries it prints;
// their results must equal DuckDB's (`everlog query`) and what ArchiveReader reads.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { crc32 } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { encodeSegment, FileStore } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { missingSpark, startSpark } from '@everlog/testkit'
import type { SparkSession } from '@everlog/testkit'
import { athenaDdl, formatAthenaDdl, openQuery } from '../src/index.js'
import { HOUR, writeArchive } from './fixtures.js'

const TOPIC = 'orders'
const PARTITIONS = 3
const BUCKET = 's3://my-bucket/archive'

/**
 * What Spark needs changed in the printed statements, and why. Every change must apply (the test fails when the DDL
 * no longer contains what a change replaces), so this list stays the exact difference between Athena and Spark.
 * Not a change of any statement: Spark reads Athena's "quoted" identifiers with
 * spark.sql.ansi.doubleQuotedIdentifiers=true.
 */
function sparkChanges(location: string): { why: string; from: string | RegExp; to: string }[] {
  return [
    {
      why: 'LOCATION: a local copy of the bucket layout instead of S3 (Spark here has no S3 connector)',
      from: `${BUCKET}/${TOPIC}/data/`,
      to: location,
    },
    {
      why: 'Spark has no multimap_from_entries nor ROW(); the same map (each header key to its values, in order) built from Spark functions',
      from: 'multimap_from_entries(transform(headers, h -> ROW(h.key, from_utf8(h.value))))',
      to:
        'map_from_entries(transform(array_distinct(transform(headers, h -> h.key)), ' +
        "k -> struct(k, transform(filter(headers, h -> h.key = k), h -> decode(h.value, 'UTF-8')))))",
    },
    {
      why: "Spark has no from_utf8 (a SQL function of that name is not resolved inside a lambda in Spark 4.0): decode(x, 'UTF-8')",
      from: /from_utf8\((\w+)\)/g,
      to: "decode($1, 'UTF-8')",
    },
    {
      why: "Spark's contains() takes strings only (and cannot be redefined): array_contains for an array",
      from: 'contains(map_keys(headers)',
      to: 'array_contains(map_keys(headers)',
    },
  ]
}

/** The printed script as statements, comments dropped. */
function statementsOf(script: string): string[] {
  return script
    .split(/;\n/)
    .map((s) =>
      s
        .split('\n')
        .filter((l) => !l.startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((s) => s.length > 0)
}

/** Engine values made comparable: timestamps as epoch ms, integers as numbers, bytes as hex. */
function plain(v: unknown): unknown {
  if (v instanceof Date) return v.getTime()
  if (typeof v === 'bigint') return Number(v)
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  return v
}

describe('the Athena DDL in Spark SQL (Hive support, local mode)', () => {
  let dir = ''
  let spark: SparkSession | undefined
  let written = new Map<number, ArchiveRecord[]>()
  const skip = missingSpark()

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everlog-athena-spark-'))
    written = await writeArchive(new FileStore(dir), {
      topic: TOPIC,
      partitions: PARTITIONS,
      records: 120,
      segmentRecords: 40,
      // The first segment of each partition as an archive written before segment format 2 holds it (MILLIS): one
      // table, one `timestamp` type over both units.
      format1Below: 40,
    })
    if (!skip) spark = await startSpark({ conf: { 'spark.sql.ansi.doubleQuotedIdentifiers': 'true' } })
  })
  after(async () => {
    await spark?.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('the printed statements run, with the recorded changes only, and the example queries equal DuckDB and the archive', async (t) => {
    if (skip) return t.skip(skip)
    const ddl = athenaDdl({ store: BUCKET, topic: TOPIC, partitions: PARTITIONS })
    const printed = statementsOf(formatAthenaDdl(ddl))
    assert.equal(printed.length, 2 + ddl.examples.length)
    const location = pathToFileURL(join(dir, TOPIC, 'data')).href + '/'
    let statements = printed
    for (const change of sparkChanges(location)) {
      const next = statements.map((s) => s.replace(change.from, change.to))
      assert.notDeepEqual(next, statements, `the DDL no longer has what this change replaces: ${change.why}`)
      statements = next
    }
    const [createTable, createView, ...examples] = statements as [string, string, ...string[]]
    const s = spark!
    await s.sql(createTable)
    // Partition projection (the TBLPROPERTIES, left in) is Athena's: Spark finds no partition until they are listed.
    assert.deepEqual((await s.sql(`SELECT count(*) FROM ${ddl.table}`)).rows, [[0]])
    await s.sql(`MSCK REPAIR TABLE ${ddl.table}`)
    await s.sql(createView)

    const all = [...written.values()].flat()
    const [total] = (await s.sql(`SELECT count(*), sum(octet_length(value)), sum(size(headers)) FROM ${ddl.table}`))
      .rows as [number, number, number][]
    assert.deepEqual(total, [
      all.length,
      all.reduce((n, r) => n + (r.value?.length ?? 0), 0),
      all.reduce((n, r) => n + r.headers.length, 0),
    ])

    const duck = await openQuery(new FileStore(dir))
    try {
      for (const [i, example] of ddl.examples.entries()) {
        const fromSpark = (await s.sql(examples[i]!)).rows.map((r) => r.map(plain))
        const fromDuck = (await duck.connection.runAndReadAll(example.sql)).getRowsJS().map((r) => r.map(plain))
        assert.ok(fromSpark.length > 0, `${example.title}: no rows`)
        // Rows that tie on the ORDER BY may come in any order: compared as sorted lists.
        const sorted = (rows: unknown[][]) => rows.map((r) => JSON.stringify(r)).sort()
        assert.deepEqual(sorted(fromSpark), sorted(fromDuck), `${example.title}: Spark and DuckDB differ`)
        assert.deepEqual(
          sorted(fromSpark),
          sorted(expectedRows(i, written)),
          `${example.title}: differs from the archive`,
        )
      }
    } finally {
      duck.close()
    }
  })

  test('Spark reads segments of every codec, every value (checksums over keys, values and headers)', async (t) => {
    if (skip) return t.skip(skip)
    const records = written.get(0)!
    const want = [
      records.length,
      records.reduce((n, r) => n + (r.value?.length ?? 0), 0),
      records.reduce((n, r) => n + (r.key === null ? 0 : crc32(r.key)), 0),
      records.reduce((n, r) => n + (r.value === null ? 0 : crc32(r.value)), 0),
      records.reduce((n, r) => n + r.headers.reduce((m, [k, v]) => m + crc32(Buffer.from(k)) + crc32(v ?? ''), 0), 0),
      Number(records.at(-1)!.offset),
      Number(records.reduce((m, r) => (r.timestamp > m ? r.timestamp : m), 0n)),
    ]
    for (const compression of ['zstd', 'snappy', 'gzip', 'lz4', 'none'] as const) {
      const file = join(dir, `${compression}.parquet`)
      await writeFile(
        file,
        encodeSegment(records, { topic: TOPIC, partition: 0, compression, rowGroupBytes: 4096 }).bytes,
      )
      const { rows } = await spark!.sql(
        `SELECT count(*), sum(octet_length(value)), sum(crc32(key)), sum(crc32(value)),
                sum(aggregate(headers, 0L, (acc, h) -> acc + crc32(encode(h.key, 'UTF-8')) + coalesce(crc32(h.value), crc32(X''))))
                , max("offset"), max("timestamp")
         FROM parquet.\`${pathToFileURL(file).href}\``,
      )
      assert.deepEqual(rows, [want], compression)
    }
  })
})

/** The example queries' answers, computed from the records written (what ArchiveReader reads back). */
function expectedRows(example: number, written: Map<number, ArchiveRecord[]>): unknown[][] {
  const utf8 = (b: Buffer | null) => (b === null ? null : b.toString('utf8'))
  if (example === 0) {
    const perHour = new Map<number, number>()
    for (const r of [...written.values()].flat()) {
      const hour = Number((r.timestamp / HOUR) * HOUR)
      perHour.set(hour, (perHour.get(hour) ?? 0) + 1)
    }
    return [...perHour].sort(([a], [b]) => a - b)
  }
  if (example === 1) {
    const latest: unknown[][] = []
    for (const records of written.values()) {
      const last = new Map<string, ArchiveRecord>()
      for (const r of records) if (r.key !== null) last.set(r.key.toString('utf8'), r)
      for (const r of last.values()) latest.push([utf8(r.key), utf8(r.value), Number(r.offset), Number(r.timestamp)])
    }
    return latest
  }
  const rows: unknown[][] = []
  for (const [p, records] of [...written].sort(([a], [b]) => a - b)) {
    for (const r of records) {
      const sources = r.headers.filter(([k]) => k === 'source')
      if (sources.length > 0) rows.push([p, Number(r.offset), utf8(r.key), utf8(sources.at(-1)![1])])
    }
  }
  return rows.slice(0, 100)
}

// Query: `SELECT count(*)` over a full scan and over narrowed ranges (1 % of the time range, 1 % of every
// partition's offsets, one partition), through DuckDB over an S3 archive with a fresh local cache each time: bytes
// fetched from the store (share of the archive; target <= 5 % for the 1 % ranges) and time.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readHead, S3Store } from '../../packages/core/src/index.js'
import type { ObjectStore } from '../../packages/core/src/index.js'
import { openQuery } from '../../packages/query/src/index.js'
import type { RecordRange } from '../../packages/query/src/index.js'
import { CountingStore } from '../lib/counting-store.js'
import { notMeasured } from '../lib/context.js'
import type { BenchContext, Row, ScenarioResult } from '../lib/context.js'
import { figure, ratio, show } from '../lib/stats.js'
import { S3_BUCKET, S3_PREFIX } from './replay.js'

export interface QueryMeasure {
  label: string
  rows: number
  seconds: number
  /** Bytes every GET returned (index, footers, row groups, segments), counted at the store. */
  fetched: number
  files: number
  rowGroups: number
}

/** Counts the records `where` selects, with openQuery narrowed by `range` (an empty range: a full scan). */
export async function measureQuery(
  store: ObjectStore,
  topic: string,
  label: string,
  range: RecordRange,
  where: string,
): Promise<QueryMeasure> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'everlog-bench-cache-'))
  const counting = new CountingStore(store)
  try {
    const start = performance.now()
    const q = await openQuery(counting, { cacheDir, topics: [topic], ...range })
    const table = q.tables[0]!.table
    const reader = await q.connection.runAndReadAll(`SELECT count(*) AS n FROM "${table}" WHERE ${where}`)
    const seconds = (performance.now() - start) / 1000
    const rows = Number(reader.getRowObjectsJson()[0]!.n)
    q.close()
    return { label, rows, seconds, fetched: counting.counts.bytes, files: q.downloadedFiles, rowGroups: q.rowGroups }
  } finally {
    await rm(cacheDir, { recursive: true, force: true })
  }
}

/** Bytes of a topic's segments as its HEADs account them. */
export async function archivedBytes(store: ObjectStore, topic: string, partitions: number): Promise<number> {
  let bytes = 0
  for (let p = 0; p < partitions; p++) bytes += (await readHead(store, topic, p))?.head.bytes ?? 0
  return bytes
}

export async function queryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const S = 'query'
  if (!ctx.archiveDir) return notMeasured(S, 'no archive: the archive scenario did not run or failed')
  // The replay scenario copied the archive to S3; copy it here when replay was skipped.
  const store = new S3Store({ bucket: S3_BUCKET, prefix: S3_PREFIX }, ctx.s3.clientConfig())
  if ((await readHead(store, ctx.main.topic, 0)) === undefined) {
    const { copyToS3 } = await import('./replay.js')
    await (await copyToS3(ctx, ctx.archiveDir)).close()
  }
  const { main } = ctx
  const total = await archivedBytes(store, main.topic, main.partitions)
  // Record i has timestamp T0 + i ms and offset i / P in partition i mod P (lib/data.ts): 1 % of the records, in
  // the middle of the topic, by time and by offset.
  const T0 = 1_700_000_000_000n
  const from = T0 + BigInt(Math.floor(main.records / 2))
  const to = from + BigInt(Math.floor(main.records / 100)) - 1n
  const perPartition = Math.floor(main.records / main.partitions)
  const fromOffset = BigInt(Math.floor(perPartition / 2))
  const toOffset = fromOffset + BigInt(Math.max(1, Math.floor(perPartition / 100))) - 1n
  const cases = [
    { key: 'full', label: 'full scan (S3 -> cache -> DuckDB)', range: {}, target: undefined },
    {
      key: 'time',
      label: '1% time range',
      range: { fromTime: from, toTime: to },
      where: `epoch_ms("timestamp") BETWEEN ${from} AND ${to}`,
      target: 0.05,
    },
    {
      key: 'offset',
      label: '1% offset range (every partition)',
      range: { fromOffset, toOffset },
      where: `"offset" BETWEEN ${fromOffset} AND ${toOffset}`,
      target: 0.05,
    },
    {
      key: 'partition',
      label: 'one partition (all of it)',
      range: { partitions: [0] },
      where: `"partition" = 0`,
      target: undefined,
    },
    {
      key: 'partitionTime',
      label: 'one partition, 1% time range',
      range: { partitions: [0], fromTime: from, toTime: to },
      where: `"partition" = 0 AND epoch_ms("timestamp") BETWEEN ${from} AND ${to}`,
      target: 0.05,
    },
  ] as const
  const whereOf = (c: (typeof cases)[number]) => ('where' in c ? c.where : 'true')
  const measured: Record<string, QueryMeasure[]> = {}
  for (const c of cases) measured[c.key] = []
  // Warm-up (DuckDB instance, JIT of the cache path), excluded.
  await measureQuery(store, main.topic, 'warm-up', cases[1].range, whereOf(cases[1]))
  for (let r = 0; r < ctx.options.runs; r++) {
    for (const c of cases) measured[c.key]!.push(await measureQuery(store, main.topic, c.label, c.range, whereOf(c)))
  }
  await store.close()
  // Every narrowed query must count what the full scan counts for the same condition.
  const expected = {
    time: Number(to - from + 1n),
    offset: Number(toOffset - fromOffset + 1n) * main.partitions,
  }
  for (const m of measured.time!) {
    if (m.rows !== expected.time) throw new Error(`${m.label} counted ${m.rows} records, expected ${expected.time}`)
  }
  for (const m of measured.offset!) {
    if (m.rows !== expected.offset) throw new Error(`${m.label} counted ${m.rows} records, expected ${expected.offset}`)
  }
  const rows: Row[] = []
  const data: Record<string, unknown> = { archivedBytes: total, rangeRecords: expected }
  for (const c of cases) {
    const ms = measured[c.key]!
    const share = figure(ms.map((m) => m.fetched / total))
    const f = {
      seconds: figure(ms.map((m) => m.seconds)),
      fetchedBytes: figure(ms.map((m) => m.fetched)),
      shareOfArchive: share,
      files: figure(ms.map((m) => m.files)),
      rowGroups: figure(ms.map((m) => m.rowGroups)),
      timeOverFull: ratio(
        ms.map((m) => m.seconds),
        measured.full!.map((m) => m.seconds),
      ),
    }
    data[c.key] = f
    rows.push({
      scenario: S,
      metric: c.label,
      value:
        `${show(f.seconds, 2, 's')} (${show(f.timeOverFull, 2, 'x')} the full scan's), ` +
        `${show(figure(f.fetchedBytes.runs.map((b) => b / 1e6)), 1, 'MB')} = ${show(figure(share.runs.map((x) => 100 * x)), 2, '%')} of the archive, ` +
        `${f.files.median} files (${f.rowGroups.median} single row groups)`,
      ...(c.target !== undefined
        ? { target: `<= ${100 * c.target}% of the archive's bytes`, ok: share.median <= c.target }
        : {}),
    })
  }
  return {
    measured: true,
    rows,
    data: {
      ...data,
      note: 'segments as the archiver cut them; pruned by the index, then by row-group statistics (ranged GETs)',
    },
  }
}

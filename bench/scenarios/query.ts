// Query: `SELECT count(*)` over a 1% time range with segment pruning against a full scan, both through DuckDB over
// an S3 archive (segments fetched into a fresh local cache): bytes downloaded (share of the archive) and time.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readHead, S3Store } from '../../packages/core/src/index.js'
import type { ObjectStore } from '../../packages/core/src/index.js'
import { openQuery } from '../../packages/query/src/index.js'
import { notMeasured } from '../lib/context.js'
import type { BenchContext, ScenarioResult } from '../lib/context.js'
import { figure, show } from '../lib/stats.js'
import { S3_BUCKET, S3_PREFIX } from './replay.js'

export interface QueryMeasure {
  label: string
  rows: number
  seconds: number
  downloaded: number
  files: number
}

/** Counts the records of `topic` with from <= timestamp <= to (epoch ms), pruning segments by time when asked. */
export async function measureQuery(
  store: ObjectStore,
  topic: string,
  label: string,
  range: { from: bigint; to: bigint },
  prune: boolean,
): Promise<QueryMeasure> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'everlog-bench-cache-'))
  try {
    const start = performance.now()
    const q = await openQuery(store, {
      cacheDir,
      topics: [topic],
      ...(prune ? { fromTime: range.from, toTime: range.to } : {}),
    })
    const table = q.tables[0]!.table
    const reader = await q.connection.runAndReadAll(
      `SELECT count(*) AS n FROM "${table}" WHERE epoch_ms("timestamp") BETWEEN ${range.from} AND ${range.to}`,
    )
    const seconds = (performance.now() - start) / 1000
    const rows = Number(reader.getRowObjectsJson()[0]!.n)
    q.close()
    return { label, rows, seconds, downloaded: q.downloadedBytes, files: q.downloadedFiles }
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
  // Record i has timestamp T0 + i ms (lib/data.ts): 1% of the records, in the middle of the topic's time range.
  const T0 = 1_700_000_000_000n
  const from = T0 + BigInt(Math.floor(main.records / 2))
  const range = { from, to: from + BigInt(Math.floor(main.records / 100)) - 1n }
  const full: QueryMeasure[] = []
  const selective: QueryMeasure[] = []
  // Warm-up (DuckDB instance, WASM-free but JIT of the cache path), excluded.
  await measureQuery(store, main.topic, 'warm-up', range, true)
  for (let r = 0; r < ctx.options.runs; r++) {
    full.push(await measureQuery(store, main.topic, 'full scan', range, false))
    selective.push(await measureQuery(store, main.topic, '1% time range', range, true))
  }
  await store.close()
  const expected = Number(range.to - range.from + 1n)
  for (const m of [...full, ...selective]) {
    if (m.rows !== expected) throw new Error(`${m.label} counted ${m.rows} records, expected ${expected}`)
  }
  const f = (ms: QueryMeasure[]) => ({
    seconds: figure(ms.map((m) => m.seconds)),
    downloadedBytes: figure(ms.map((m) => m.downloaded)),
    files: figure(ms.map((m) => m.files)),
  })
  const fullF = f(full)
  const selF = f(selective)
  const bytesRatio = figure(selective.map((m, i) => m.downloaded / full[i]!.downloaded))
  const timeRatio = figure(selective.map((m, i) => m.seconds / full[i]!.seconds))
  return {
    measured: true,
    rows: [
      {
        scenario: S,
        metric: 'full scan (S3 -> cache -> DuckDB)',
        value: `${show(fullF.seconds, 2, 's')}, ${show(figure(fullF.downloadedBytes.runs.map((b) => b / 1e6)), 1, 'MB')}, ${fullF.files.median} files`,
      },
      {
        scenario: S,
        metric: '1% time range, segments pruned',
        value: `${show(selF.seconds, 2, 's')}, ${show(figure(selF.downloadedBytes.runs.map((b) => b / 1e6)), 1, 'MB')}, ${selF.files.median} files`,
      },
      { scenario: S, metric: 'selective / full: bytes', value: show(bytesRatio, 3) },
      { scenario: S, metric: 'selective / full: time', value: show(timeRatio, 3) },
    ],
    data: {
      archivedBytes: total,
      rangeRecords: expected,
      full: fullF,
      selective: selF,
      bytesRatio,
      timeRatio,
      note: 'segments are as the archiver cut them (default 64 MiB / 1M records); pruning works per segment',
    },
  }
}

// `npm run bench`: every scenario on the same generated data in one run — segment format, archive, replay, seek,
// scale, query — each side of a comparison in its own process, every figure min/median/max over measured runs
// after a warm-up. Prints a table and writes bench/results/latest.json (+ scale.svg). See bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startS3Server } from '../packages/core/src/testing/index.js'
import { startDevBroker } from '../packages/dev-broker/src/index.js'
import type { BenchContext, BenchOptions, Row, ScenarioResult } from './lib/context.js'
import { notMeasured } from './lib/context.js'
import { kafkaClient, produceDataset, FETCH } from './lib/kafka.js'
import { machineInfo } from './lib/machine.js'
import { MiB } from './lib/stats.js'
import { scaleSvg } from './lib/svg.js'
import { archiveScenario } from './scenarios/archive.js'
import { queryScenario } from './scenarios/query.js'
import { replayScenario } from './scenarios/replay.js'
import { scaleScenario } from './scenarios/scale.js'
import { seekScenario } from './scenarios/seek.js'
import { segmentScenario } from './scenarios/segment.js'

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<ScenarioResult>> = {
  segment: segmentScenario,
  archive: archiveScenario,
  replay: replayScenario,
  seek: seekScenario,
  scale: scaleScenario,
  query: queryScenario,
}

const HERE = fileURLToPath(new URL('.', import.meta.url))

function parseOptions(argv: string[]): BenchOptions & { out: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      records: { type: 'string' },
      partitions: { type: 'string' },
      'value-bytes': { type: 'string' },
      runs: { type: 'string' },
      concurrency: { type: 'string' },
      'seek-segments': { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(
      'npm run bench -- [--quick] [--records N] [--partitions P] [--value-bytes B] [--runs R] [--concurrency C]\n' +
        `                 [--seek-segments S] [--only ${Object.keys(SCENARIOS).join(',')}] [--profile] [--out file.json]`,
    )
    process.exit(0)
  }
  const int = (name: string, v: string | undefined, fallback: number) => {
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`)
    return n
  }
  const quick = values.quick
  const records = int('records', values.records, quick ? 20_000 : 1_000_000)
  const only = values.only?.split(',').map((s) => s.trim())
  for (const s of only ?? []) {
    if (!(s in SCENARIOS)) throw new Error(`--only: unknown scenario "${s}" (${Object.keys(SCENARIOS).join(', ')})`)
  }
  return {
    quick,
    records,
    partitions: int('partitions', values.partitions, 8),
    valueBytes: int('value-bytes', values['value-bytes'], 1024),
    runs: int('runs', values.runs, quick ? 2 : 3),
    partitionsConsumedConcurrently: int('concurrency', values.concurrency, 1),
    seekSegments: int('seek-segments', values['seek-segments'], quick ? 1500 : 10_000),
    seekRecordsPerSegment: quick ? 4 : 10,
    seeks: quick ? 15 : 50,
    scaleRecords: Math.max(1000, Math.floor(records / (quick ? 2 : 4))),
    scalePartitions: [1, 8, 100],
    only: only ? new Set(only) : undefined,
    profileDir: values.profile ? join(HERE, 'results', 'profiles') : undefined,
    out: values.out ?? join(HERE, 'results', 'latest.json'),
  }
}

function printTable(rows: Row[]): void {
  const w0 = Math.max(...rows.map((r) => r.scenario.length))
  const w1 = Math.max(...rows.map((r) => r.metric.length))
  let last = ''
  for (const r of rows) {
    if (r.scenario !== last && last !== '') console.log('')
    last = r.scenario
    const target = r.target ? `  [target ${r.target}: ${r.ok ? 'met' : 'NOT met'}]` : ''
    console.log(`${r.scenario.padEnd(w0)}  ${r.metric.padEnd(w1)}  ${r.value}${target}`)
  }
}

const options = parseOptions(process.argv.slice(2))
const started = new Date()
const machine = machineInfo()
const log = (line: string) => process.stderr.write(`${line}\n`)
log(
  `everlog bench${options.quick ? ' --quick' : ''}: ${options.records} records of ~${options.valueBytes} B in ` +
    `${options.partitions} partitions, ${options.runs} measured runs; ${machine.cpus} CPUs, load ${machine.loadAverage.join(' ')}`,
)

const tmp = await mkdtemp(join(tmpdir(), 'everlog-bench-'))
const broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
const s3 = await startS3Server()
const kafka = kafkaClient(broker.brokers)
const results: Record<string, ScenarioResult> = {}
let ctx: BenchContext | undefined
try {
  const t = performance.now()
  broker.createTopic('bench', { partitions: options.partitions })
  broker.createTopic('bench-warm', { partitions: options.partitions })
  const warmRecords = Math.max(2000, Math.floor(options.records / 20))
  const main = await produceDataset(kafka, {
    topic: 'bench',
    partitions: options.partitions,
    records: options.records,
    valueBytes: options.valueBytes,
  })
  const warm = await produceDataset(kafka, {
    topic: 'bench-warm',
    partitions: options.partitions,
    records: warmRecords,
    valueBytes: options.valueBytes,
  })
  log(
    `setup: produced ${main.records} + ${warm.records} warm-up records (${(main.rawBytes / MiB).toFixed(1)} MiB raw) ` +
      `in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  )
  ctx = { options, broker, s3, kafka, main, warm, tmp, log }
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (options.only && !options.only.has(name)) continue
    const t0 = performance.now()
    log(`${name} ...`)
    try {
      results[name] = await scenario(ctx)
    } catch (err) {
      log(`${name} failed: ${(err as Error).stack ?? err}`)
      results[name] = notMeasured(name, `failed: ${(err as Error).message.split('\n')[0]}`)
    }
    log(`${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
} finally {
  await s3.close()
  await broker.close()
  await rm(tmp, { recursive: true, force: true })
}

const rows = Object.values(results).flatMap((r) => r.rows)
console.log('')
printTable(rows)
const report = {
  generatedAt: started.toISOString(),
  seconds: Math.round((Date.now() - started.getTime()) / 100) / 10,
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  // Paths relative to the repository, so results never record where a machine keeps its checkout.
  options: {
    ...options,
    out: relative(join(HERE, '..'), options.out),
    profileDir: options.profileDir === undefined ? undefined : relative(join(HERE, '..'), options.profileDir),
    only: options.only ? [...options.only] : undefined,
    fetch: FETCH,
  },
  machine,
  loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
  dataset: ctx ? { main: ctx.main, warm: ctx.warm } : undefined,
  scenarios: Object.fromEntries(
    Object.entries(results).map(([k, r]) => [k, r.measured ? { measured: true, ...r.data } : r]),
  ),
  table: rows,
}
mkdirSync(join(options.out, '..'), { recursive: true })
writeFileSync(
  options.out,
  `${JSON.stringify(report, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
)
const scale = results.scale
if (scale?.measured && Array.isArray(scale.data.archive)) {
  writeFileSync(join(options.out, '..', 'scale.svg'), scaleSvg(scale.data.archive as never))
}
console.log(`\nwrote ${options.out} (${report.seconds} s)`)

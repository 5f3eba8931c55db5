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
import { kafkaMissing, startKafka } from '../packages/testkit/src/index.js'
import type { KafkaBroker } from '../packages/testkit/src/index.js'
import type { BenchContext, BenchOptions, KafkaBackend, Row, ScenarioResult } from './lib/context.js'
import { notMeasured } from './lib/context.js'
import { kafkaClient, produceDataset, FETCH } from './lib/kafka.js'
import type { Dataset } from './lib/kafka.js'
import { machineInfo } from './lib/machine.js'
import { figure, MiB } from './lib/stats.js'
import type { Figure } from './lib/stats.js'
import { flatnessSvg, scaleSvg } from './lib/svg.js'
import { archiveScenario } from './scenarios/archive.js'
import { queryScenario } from './scenarios/query.js'
import { replayScenario } from './scenarios/replay.js'
import { FLAT, scaleScenario } from './scenarios/scale.js'
import type { ScalePoint } from './scenarios/scale.js'
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
const dev: KafkaBackend = {
  label: 'dev broker',
  brokers: broker.brokers,
  kafka,
  createTopic: async (topic, partitions) => {
    broker.createTopic(topic, { partitions })
  },
}
// Apache Kafka is the baseline every Kafka target is held against; the dev broker stays as a second row.
const realMissing = kafkaMissing()
let realBroker: KafkaBroker | undefined
let real: KafkaBackend | undefined
if (realMissing === undefined) {
  realBroker = await startKafka({ jvmArgs: ['-Xmx1g'] })
  const realKafka = kafkaClient(realBroker.brokers)
  real = {
    label: `Apache Kafka ${realBroker.version}`,
    brokers: realBroker.brokers,
    kafka: realKafka,
    createTopic: async (topic, partitions) => {
      const admin = realKafka.admin()
      await admin.connect()
      try {
        // The data's timestamps are in the past: without this, time retention would delete it at once.
        await admin.createTopics({
          topics: [{ topic, numPartitions: partitions, configEntries: [{ name: 'retention.ms', value: '-1' }] }],
          waitForLeaders: true,
        })
        // Leaders are elected before the broker serves the partitions: wait until every one answers ListOffsets.
        for (let attempt = 0; ; attempt++) {
          try {
            if ((await admin.fetchTopicOffsets(topic)).length === partitions) break
          } catch (err) {
            if (attempt >= 100) throw err
          }
          await new Promise((r) => setTimeout(r, 100))
        }
      } finally {
        await admin.disconnect()
      }
    },
  }
} else {
  log(`Apache Kafka is not measured: ${realMissing}`)
}
const results: Record<string, ScenarioResult> = {}
let ctx: BenchContext | undefined
try {
  const t = performance.now()
  const warmRecords = Math.max(2000, Math.floor(options.records / 20))
  let main: Dataset | undefined
  let warm: Dataset | undefined
  // The same records into every backend (the generator is deterministic), so offsets and archives are equal.
  for (const backend of [dev, ...(real ? [real] : [])]) {
    await backend.createTopic('bench', options.partitions)
    await backend.createTopic('bench-warm', options.partitions)
    main = await produceDataset(backend.kafka, {
      topic: 'bench',
      partitions: options.partitions,
      records: options.records,
      valueBytes: options.valueBytes,
    })
    warm = await produceDataset(backend.kafka, {
      topic: 'bench-warm',
      partitions: options.partitions,
      records: warmRecords,
      valueBytes: options.valueBytes,
    })
  }
  log(
    `setup: produced ${main!.records} + ${warm!.records} warm-up records (${(main!.rawBytes / MiB).toFixed(1)} MiB raw) ` +
      `into ${[dev, ...(real ? [real] : [])].map((b) => b.label).join(' and ')} in ` +
      `${((performance.now() - t) / 1000).toFixed(1)} s`,
  )
  ctx = { options, broker, dev, real, realMissing, s3, kafka, main: main!, warm: warm!, tmp, log }
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
  await realBroker?.stop()
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
  writeFileSync(join(options.out, '..', 'flatness.svg'), flatness(scale.data))
}

/** Archive and replay rates relative to 8 partitions, and to the 1x archive (scale scenario data). */
function flatness(data: Record<string, unknown>): string {
  const points = data.archive as ScalePoint[]
  const base = points.find((p) => p.partitions === 8) ?? points[0]!
  const rel = (f: Figure, b: Figure): Figure =>
    figure(f.runs.map((x, i) => x / b.runs[Math.min(i, b.runs.length - 1)]!))
  const growth = data.replayGrowth as Record<string, unknown> | string
  const g = typeof growth === 'object' ? growth : undefined
  const fig = (v: unknown) => (typeof v === 'object' && v !== null && 'median' in v ? (v as Figure) : undefined)
  const one: Figure = figure([1])
  return flatnessSvg(
    [
      {
        title: `by partitions (relative to ${base.partitions})`,
        categories: points.map((p) => String(p.partitions)),
        series: [
          {
            name: 'archive MiB/s',
            color: '#1f6feb',
            values: points.map((p) => rel(p.MiBPerSecond, base.MiBPerSecond)),
          },
          {
            name: 'replay records/s',
            color: '#d1242f',
            values: points.map((p) => rel(p.replayRecordsPerSecond, base.replayRecordsPerSecond)),
          },
        ],
      },
      {
        title: 'by archive size (relative to 1x)',
        categories: ['1x', '10x'],
        series: [
          { name: 'archive MiB/s', color: '#1f6feb', values: [one, fig(g?.archiveBigOverSmall)] },
          { name: 'replay records/s', color: '#d1242f', values: [one, fig(g?.bigOverSmall)] },
        ],
      },
    ],
    FLAT,
  )
}
console.log(`\nwrote ${options.out} (${report.seconds} s)`)

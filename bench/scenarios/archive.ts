// Archive: the archiver (`--once`) from the dev broker into a file store against a plain kafkajs consumer that only
// decodes the same records, each side in its own process, runs interleaved. Throughput ratio (target >= 0.8), bytes
// written against raw bytes, peak RSS of each side.
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { runChild } from '../lib/child.js'
import type { ChildMeasure } from '../lib/child.js'
import { directoryBytes } from '../lib/context.js'
import type { BenchContext, ScenarioResult } from '../lib/context.js'
import type { Dataset } from '../lib/kafka.js'
import { figure, MiB, ratio, show } from '../lib/stats.js'
import type { ArchiveTaskParams, ConsumeTaskParams, ConsumeTaskResult, TopicRef } from '../lib/tasks.js'

const ref = (d: Dataset): TopicRef => ({ topic: d.topic, partitions: d.partitions, records: d.records })

export interface ArchiveRun {
  measure: ChildMeasure
  bytesWritten: number
  dir: string
}

/** One archiver run into a fresh directory; the directory is kept (the caller removes it or reuses it). */
export async function archiveRun(ctx: BenchContext, main: Dataset, profileName?: string): Promise<ArchiveRun> {
  const dir = await mkdtemp(join(ctx.tmp, 'archive-'))
  const params: ArchiveTaskParams = {
    brokers: ctx.broker.brokers,
    warm: ref(ctx.warm),
    main: ref(main),
    store: pathToFileURL(dir).href,
  }
  const profile = profileName && ctx.options.profileDir ? { profileDir: ctx.options.profileDir, profileName } : {}
  const measure = await runChild<ChildMeasure>('archive', params, profile)
  return { measure, bytesWritten: await directoryBytes(join(dir, main.topic)), dir }
}

export async function kafkajsDecodeRun(ctx: BenchContext, main: Dataset, profileName?: string): Promise<ChildMeasure> {
  const params: ConsumeTaskParams = {
    brokers: ctx.broker.brokers,
    warm: ref(ctx.warm),
    main: ref(main),
    handlers: ['eachBatch'],
    // The archiver consumes with partitionsConsumedConcurrently 1: the baseline does the same.
    partitionsConsumedConcurrently: 1,
  }
  const profile = profileName && ctx.options.profileDir ? { profileDir: ctx.options.profileDir, profileName } : {}
  const result = await runChild<ConsumeTaskResult>('consume', params, profile)
  return { ...result.byHandler.eachBatch!, maxRssBytes: result.maxRssBytes }
}

export async function archiveScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { main } = ctx
  const archiver: ArchiveRun[] = []
  const kafkajs: ChildMeasure[] = []
  for (let r = 0; r < ctx.options.runs; r++) {
    const last = r === ctx.options.runs - 1
    const run = await archiveRun(ctx, main, last ? 'archive-archiver' : undefined)
    archiver.push(run)
    kafkajs.push(await kafkajsDecodeRun(ctx, main, last ? 'archive-kafkajs' : undefined))
    ctx.log(
      `  archive run ${r + 1}/${ctx.options.runs}: archiver ${run.measure.seconds.toFixed(2)} s, kafkajs decode ${kafkajs.at(-1)!.seconds.toFixed(2)} s`,
    )
    // The last archive is kept for the replay and query scenarios.
    if (!last) await rm(run.dir, { recursive: true, force: true })
  }
  ctx.archiveDir = archiver.at(-1)!.dir
  const rate = (ms: ChildMeasure[]) => ms.map((m) => main.rawBytes / MiB / m.seconds)
  const archiverMiBs = figure(rate(archiver.map((a) => a.measure)))
  const kafkajsMiBs = figure(rate(kafkajs))
  const throughputRatio = ratio(rate(archiver.map((a) => a.measure)), rate(kafkajs))
  const cpuRatio = ratio(
    kafkajs.map((m) => m.cpuSeconds),
    archiver.map((a) => a.measure.cpuSeconds),
  )
  const writtenShare = figure(archiver.map((a) => a.bytesWritten / main.rawBytes))
  const rssArchiver = figure(archiver.map((a) => a.measure.maxRssBytes / MiB))
  const rssKafkajs = figure(kafkajs.map((m) => m.maxRssBytes / MiB))
  const S = 'archive'
  return {
    measured: true,
    rows: [
      { scenario: S, metric: 'archiver --once -> file store', value: show(archiverMiBs, 1, 'MiB/s') },
      { scenario: S, metric: 'kafkajs consumer, decode only', value: show(kafkajsMiBs, 1, 'MiB/s') },
      {
        scenario: S,
        metric: 'throughput ratio archiver / kafkajs',
        value: show(throughputRatio, 2, 'x'),
        target: '>= 0.8',
        ok: throughputRatio.median >= 0.8,
      },
      {
        scenario: S,
        metric: 'CPU ratio archiver / kafkajs (cost per record)',
        value: show(figure(cpuRatio.runs.map((x) => 1 / x)), 2, 'x'),
      },
      {
        scenario: S,
        metric: 'bytes written / raw bytes',
        value: show(figure(writtenShare.runs.map((x) => 100 * x)), 1, '%'),
      },
      { scenario: S, metric: 'peak RSS archiver', value: show(rssArchiver, 0, 'MiB') },
      { scenario: S, metric: 'peak RSS kafkajs', value: show(rssKafkajs, 0, 'MiB') },
    ],
    data: {
      records: main.records,
      rawBytes: main.rawBytes,
      archiverMiBPerSecond: archiverMiBs,
      kafkajsMiBPerSecond: kafkajsMiBs,
      archiverRecordsPerSecond: figure(archiver.map((a) => main.records / a.measure.seconds)),
      kafkajsRecordsPerSecond: figure(kafkajs.map((m) => main.records / m.seconds)),
      throughputRatio,
      target: 0.8,
      archiverCpuSeconds: figure(archiver.map((a) => a.measure.cpuSeconds)),
      kafkajsCpuSeconds: figure(kafkajs.map((m) => m.cpuSeconds)),
      bytesWritten: figure(archiver.map((a) => a.bytesWritten)),
      bytesWrittenOverRaw: writtenShare,
      peakRssArchiverMiB: rssArchiver,
      peakRssKafkajsMiB: rssKafkajs,
    },
  }
}

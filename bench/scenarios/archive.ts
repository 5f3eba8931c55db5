// Archive: the archiver (`--once`) from Apache Kafka (and from the dev broker, a second row) into a file store
// against a plain kafkajs consumer that only decodes the same records from the same broker, each side in its own
// process, runs interleaved. Throughput ratio (target >= 1.0 against Apache Kafka), bytes written against raw
// bytes, peak RSS of each side.
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { runChild } from '../lib/child.js'
import type { ChildMeasure } from '../lib/child.js'
import { directoryBytes } from '../lib/context.js'
import type { BenchContext, KafkaBackend, Row, ScenarioResult } from '../lib/context.js'
import type { Dataset } from '../lib/kafka.js'
import { javaConsumeThroughput } from '../../packages/testkit/src/index.js'
import type { JavaThroughput } from '../../packages/testkit/src/index.js'
import { FETCH } from '../lib/kafka.js'
import { figure, MiB, ratio, show } from '../lib/stats.js'
import type { ArchiveTaskParams, ConsumeTaskParams, ConsumeTaskResult, TopicRef } from '../lib/tasks.js'

const ref = (d: Dataset): TopicRef => ({ topic: d.topic, partitions: d.partitions, records: d.records })

export interface ArchiveRun {
  measure: ChildMeasure
  bytesWritten: number
  dir: string
}

/** One archiver run into a fresh directory; the directory is kept (the caller removes it or reuses it). */
/** The backend targets are held against: Apache Kafka when it runs here, else the dev broker. */
export const primary = (ctx: BenchContext): KafkaBackend => ctx.real ?? ctx.dev

export async function archiveRun(
  ctx: BenchContext,
  main: Dataset,
  profileName?: string,
  backend: KafkaBackend = primary(ctx),
): Promise<ArchiveRun> {
  const dir = await mkdtemp(join(ctx.tmp, 'archive-'))
  const params: ArchiveTaskParams = {
    brokers: backend.brokers,
    warm: ref(ctx.warm),
    main: ref(main),
    store: pathToFileURL(dir).href,
  }
  const profile = profileName && ctx.options.profileDir ? { profileDir: ctx.options.profileDir, profileName } : {}
  const measure = await runChild<ChildMeasure>('archive', params, profile)
  return { measure, bytesWritten: await directoryBytes(join(dir, main.topic)), dir }
}

export async function kafkajsDecodeRun(
  ctx: BenchContext,
  main: Dataset,
  profileName?: string,
  backend: KafkaBackend = primary(ctx),
): Promise<ChildMeasure> {
  const params: ConsumeTaskParams = {
    brokers: backend.brokers,
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

/**
 * Kafka's own Java consumer (kafka-clients) reading the same records from Apache Kafka with the same fetch settings,
 * touching key, value and headers: the ceiling a Kafka client reaches on this machine. Its own JVM (warm-up pass
 * first, like the workers); a failure is reported, never turned into a figure.
 */
async function javaCeilingRun(ctx: BenchContext, main: Dataset, brokers: string[]): Promise<JavaThroughput | Error> {
  try {
    const r = await javaConsumeThroughput(
      brokers.join(','),
      { topic: ctx.warm.topic, records: ctx.warm.records },
      { topic: main.topic, records: main.records },
      FETCH,
    )
    if (r.records !== main.records) return new Error(`read ${r.records} records of ${main.records}`)
    return r
  } catch (err) {
    return err as Error
  }
}

interface BackendRuns {
  backend: KafkaBackend
  archiver: ArchiveRun[]
  kafkajs: ChildMeasure[]
  /** Apache Kafka only: the Java consumer's runs (or why one failed). */
  java: (JavaThroughput | Error)[]
}

export async function archiveScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { main } = ctx
  const backends: BackendRuns[] = [...(ctx.real ? [ctx.real] : []), ctx.dev].map((backend) => ({
    backend,
    archiver: [],
    kafkajs: [],
    java: [],
  }))
  for (let r = 0; r < ctx.options.runs; r++) {
    const last = r === ctx.options.runs - 1
    for (const b of backends) {
      const profile = last && b.backend === primary(ctx)
      const run = await archiveRun(ctx, main, profile ? 'archive-archiver' : undefined, b.backend)
      b.archiver.push(run)
      b.kafkajs.push(await kafkajsDecodeRun(ctx, main, profile ? 'archive-kafkajs' : undefined, b.backend))
      if (b.backend === ctx.real) b.java.push(await javaCeilingRun(ctx, main, b.backend.brokers))
      const java = b.java.at(-1)
      ctx.log(
        `  archive run ${r + 1}/${ctx.options.runs} (${b.backend.label}): archiver ${run.measure.seconds.toFixed(2)} s, ` +
          `kafkajs decode ${b.kafkajs.at(-1)!.seconds.toFixed(2)} s` +
          (java === undefined
            ? ''
            : `, Java consumer ${java instanceof Error ? `failed: ${java.message.split('\n')[0]}` : `${java.seconds.toFixed(2)} s`}`),
      )
      // The last archive from the primary backend is kept for the replay and query scenarios.
      if (!last || b.backend !== primary(ctx)) await rm(run.dir, { recursive: true, force: true })
    }
  }
  ctx.archiveDir = backends[0]!.archiver.at(-1)!.dir
  ctx.archiveRates = backends[0]!.archiver.map((a) => main.rawBytes / MiB / a.measure.seconds)
  const S = 'archive'
  const rows: Row[] = []
  const data: Record<string, unknown> = { records: main.records, rawBytes: main.rawBytes }
  if (!ctx.real) rows.push({ scenario: S, metric: 'Apache Kafka', value: `not measured: ${ctx.realMissing}` })
  for (const { backend, archiver, kafkajs, java } of backends) {
    const isReal = backend === ctx.real
    const from = ` <- ${backend.label}`
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
    rows.push(
      { scenario: S, metric: `archiver --once -> file store${from}`, value: show(archiverMiBs, 1, 'MiB/s') },
      { scenario: S, metric: `kafkajs consumer, decode only${from}`, value: show(kafkajsMiBs, 1, 'MiB/s') },
      {
        scenario: S,
        metric: `throughput ratio archiver / kafkajs${from}`,
        value: show(throughputRatio, 2, 'x'),
        ...(isReal ? { target: '>= 1.0', ok: throughputRatio.median >= 1 } : {}),
      },
      {
        scenario: S,
        metric: `CPU ratio archiver / kafkajs (cost per record)${from}`,
        value: show(figure(cpuRatio.runs.map((x) => 1 / x)), 2, 'x'),
      },
      {
        scenario: S,
        metric: `peak RSS archiver / kafkajs${from}`,
        value: `${show(rssArchiver, 0)} / ${show(rssKafkajs, 0)} MiB`,
      },
    )
    let javaData: Record<string, unknown> | undefined
    if (isReal) {
      const metric = `Java consumer (kafka-clients), decode only: the ceiling${from}`
      const failed = java.find((j): j is Error => j instanceof Error)
      if (failed || java.length === 0) {
        const reason = failed ? `failed: ${failed.message.split('\n')[0]}` : 'not run'
        rows.push({ scenario: S, metric, value: `not measured: ${reason}` })
        javaData = { measured: false, reason }
      } else {
        const js = java as JavaThroughput[]
        const javaRates = js.map((j) => main.rawBytes / MiB / j.seconds)
        const overJava = ratio(rate(archiver.map((a) => a.measure)), javaRates)
        javaData = {
          MiBPerSecond: figure(javaRates),
          recordsPerSecond: figure(js.map((j) => main.records / j.seconds)),
          cpuSeconds: figure(js.map((j) => j.cpuSeconds)),
          peakRssMiB: figure(js.map((j) => j.maxRssBytes / MiB)),
          archiverOverJava: overJava,
        }
        rows.push(
          {
            scenario: S,
            metric,
            value: `${show(figure(javaRates), 1, 'MiB/s')}, CPU ${show(figure(js.map((j) => j.cpuSeconds)), 2, 's')}`,
          },
          { scenario: S, metric: `throughput ratio archiver / Java consumer${from}`, value: show(overJava, 2, 'x') },
        )
      }
    }
    if (backend === primary(ctx)) {
      rows.push({
        scenario: S,
        metric: 'bytes written / raw bytes',
        value: show(figure(writtenShare.runs.map((x) => 100 * x)), 1, '%'),
      })
    }
    data[isReal ? 'apacheKafka' : 'devBroker'] = {
      broker: backend.label,
      archiverMiBPerSecond: archiverMiBs,
      kafkajsMiBPerSecond: kafkajsMiBs,
      archiverRecordsPerSecond: figure(archiver.map((a) => main.records / a.measure.seconds)),
      kafkajsRecordsPerSecond: figure(kafkajs.map((m) => main.records / m.seconds)),
      throughputRatio,
      target: isReal ? 1 : undefined,
      archiverCpuSeconds: figure(archiver.map((a) => a.measure.cpuSeconds)),
      kafkajsCpuSeconds: figure(kafkajs.map((m) => m.cpuSeconds)),
      bytesWritten: figure(archiver.map((a) => a.bytesWritten)),
      bytesWrittenOverRaw: writtenShare,
      peakRssArchiverMiB: rssArchiver,
      peakRssKafkajsMiB: rssKafkajs,
      ...(javaData ? { javaConsumer: javaData } : {}),
    }
  }
  return { measured: true, rows, data }
}

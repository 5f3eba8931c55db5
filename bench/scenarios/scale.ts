// Scale: the archiver on the same records spread over 1, 8 and 100 partitions (throughput, peak RSS), and
// ArchiveConsumer replaying each of those archives (file store, eachBatch); at the largest partition count also
// peak RSS against kafkajs reading the same topic. Then the size dimension: an archive of a tenth of the main
// topic against the main one, archived and replayed. Rates should stay flat (within 15 %) as work grows.
import { rm } from 'node:fs/promises'
import { runChild } from '../lib/child.js'
import type { ChildMeasure } from '../lib/child.js'
import { notMeasured } from '../lib/context.js'
import type { BenchContext, Row, ScenarioResult } from '../lib/context.js'
import { produceDataset } from '../lib/kafka.js'
import type { ConsumeMeasure, ConsumeTaskResult, Handler } from '../lib/tasks.js'
import type { Dataset } from '../lib/kafka.js'
import { figure, MiB, ratio, show } from '../lib/stats.js'
import type { Figure } from '../lib/stats.js'
import { archiveRun, kafkajsDecodeRun, primary } from './archive.js'
import { consumeParams, REPLAY_TARGETS } from './replay.js'
import type { Side } from './replay.js'

export interface ScalePoint {
  partitions: number
  records: number
  MiBPerSecond: Figure
  recordsPerSecond: Figure
  peakRssMiB: Figure
  /** ArchiveConsumer (file store, eachBatch) replaying this archive. */
  replayRecordsPerSecond: Figure
  /** The archive scenario's baseline on this topic: a kafkajs consumer (eachBatch) decoding the same records. */
  kafkajsMiBPerSecond: Figure
  /** Archiver MiB/s over kafkajs' MiB/s, run by run. */
  archiverOverKafkajs: Figure
}

/** Rates within 15 % of each other count as flat. */
export const FLAT = 0.85

/** --quick measures each scale point once to stay within its time budget; a full run repeats like the others. */
const scaleRuns = (ctx: BenchContext) => (ctx.options.quick ? 1 : ctx.options.runs)

const streamingRate = (d: Dataset, m: ConsumeMeasure) => d.records / (m.seconds - m.firstRecordSeconds)

async function consume(
  ctx: BenchContext,
  d: Dataset,
  side: Side,
  handlers: Handler[],
  dir: string,
): Promise<ConsumeTaskResult> {
  return runChild<ConsumeTaskResult>('consume', consumeParams(ctx, d, side, handlers, dir))
}

export async function scaleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const S = 'scale'
  const rows: Row[] = []
  const points: ScalePoint[] = []
  const backend = primary(ctx)
  const largest = Math.max(...ctx.options.scalePartitions)
  let memory: Record<string, unknown> | undefined
  for (const partitions of ctx.options.scalePartitions) {
    const topic = `scale-${partitions}`
    await backend.createTopic(topic, partitions)
    const d = await produceDataset(backend.kafka, {
      topic,
      partitions,
      records: ctx.options.scaleRecords,
      valueBytes: ctx.options.valueBytes,
    })
    const runs: ChildMeasure[] = []
    const baseline: ChildMeasure[] = []
    const replays: number[] = []
    const rss: { kafkajs: number[]; file: number[] } = { kafkajs: [], file: [] }
    for (let r = 0; r < scaleRuns(ctx); r++) {
      const run = await archiveRun(ctx, d)
      runs.push(run.measure)
      // The archiver's baseline measured as in the archive scenario, on this topic: the ratio at each partition count.
      baseline.push(await kafkajsDecodeRun(ctx, d))
      if (partitions === largest) {
        // Memory with many partitions: both sides run both handlers, as in the replay scenario.
        const kafkajs = await consume(ctx, d, 'kafkajs', ['eachMessage', 'eachBatch'], run.dir)
        const file = await consume(ctx, d, 'file', ['eachMessage', 'eachBatch'], run.dir)
        rss.kafkajs.push(kafkajs.maxRssBytes / MiB)
        rss.file.push(file.maxRssBytes / MiB)
        replays.push(streamingRate(d, file.byHandler.eachBatch!))
      } else {
        replays.push(streamingRate(d, (await consume(ctx, d, 'file', ['eachBatch'], run.dir)).byHandler.eachBatch!))
      }
      await rm(run.dir, { recursive: true, force: true })
    }
    const mibs = (ms: ChildMeasure[]) => ms.map((m) => d.rawBytes / MiB / m.seconds)
    const point: ScalePoint = {
      partitions,
      records: d.records,
      MiBPerSecond: figure(mibs(runs)),
      kafkajsMiBPerSecond: figure(mibs(baseline)),
      archiverOverKafkajs: ratio(mibs(runs), mibs(baseline)),
      recordsPerSecond: figure(runs.map((m) => d.records / m.seconds)),
      peakRssMiB: figure(runs.map((m) => m.maxRssBytes / MiB)),
      replayRecordsPerSecond: figure(replays),
    }
    points.push(point)
    ctx.log(
      `  scale ${partitions} partitions: archive ${show(point.MiBPerSecond, 1, 'MiB/s')}, RSS ${show(point.peakRssMiB, 0, 'MiB')}; ` +
        `replay ${show(figure(replays.map((x) => x / 1000)), 1, 'k records/s')}`,
    )
    rows.push(
      {
        scenario: S,
        metric: `archive ${partitions} partition${partitions === 1 ? '' : 's'}`,
        value: `${show(point.MiBPerSecond, 1, 'MiB/s')}, peak RSS ${show(point.peakRssMiB, 0, 'MiB')}`,
        // Issue target: peak RSS with 100 partitions and default settings (the bench's fetch settings are the defaults).
        ...(partitions === 100 ? { target: '<= 512 MiB', ok: point.peakRssMiB.max <= 512 } : {}),
      },
      {
        scenario: S,
        metric: `archiver / kafkajs decode only, ${partitions} partition${partitions === 1 ? '' : 's'} <- ${backend.label}`,
        value: `${show(point.archiverOverKafkajs, 2, 'x')} (kafkajs ${show(point.kafkajsMiBPerSecond, 1, 'MiB/s')})`,
        // Issue target: the archiver at least as fast as the baseline at 8 (the archive scenario) and at 100 partitions.
        ...(partitions === largest && partitions !== 8
          ? { target: '>= 1.0', ok: point.archiverOverKafkajs.median >= 1 }
          : {}),
      },
      {
        scenario: S,
        metric: `replay ${partitions} partition${partitions === 1 ? '' : 's'} (file, eachBatch)`,
        value: show(figure(replays.map((x) => x / 1000)), 1, 'k records/s'),
      },
    )
    if (partitions === largest) {
      const r = ratio(rss.file, rss.kafkajs)
      memory = { partitions, kafkajsMiB: figure(rss.kafkajs), fileMiB: figure(rss.file), fileOverKafkajs: r }
      rows.push({
        scenario: S,
        metric: `peak RSS file / kafkajs <- ${backend.label} (${partitions} partitions, both handlers)`,
        value: `${show(r, 2, 'x')} (${show(figure(rss.file), 0)} / ${show(figure(rss.kafkajs), 0)} MiB)`,
        target: `<= ${REPLAY_TARGETS.rss}`,
        ok: r.median <= REPLAY_TARGETS.rss,
      })
    }
  }
  // Flat from 8 partitions to the largest count.
  const at = (p: number) => points.find((x) => x.partitions === p)
  const eight = at(8)
  const many = at(largest)
  const byPartitions: Record<string, Figure> = {}
  if (eight && many && many !== eight) {
    const archiveFlat = ratio(many.MiBPerSecond.runs, eight.MiBPerSecond.runs)
    const replayFlat = ratio(many.replayRecordsPerSecond.runs, eight.replayRecordsPerSecond.runs)
    byPartitions.archive = archiveFlat
    byPartitions.replay = replayFlat
    rows.push(
      {
        scenario: S,
        metric: `archive throughput ${largest} / 8 partitions`,
        value: show(archiveFlat, 2, 'x'),
        target: `flat (>= ${FLAT})`,
        ok: archiveFlat.median >= FLAT,
      },
      {
        scenario: S,
        metric: `replay throughput ${largest} / 8 partitions`,
        value: show(replayFlat, 2, 'x'),
        target: `flat (>= ${FLAT})`,
        ok: replayFlat.median >= FLAT,
      },
    )
  }

  let growth: Record<string, unknown> | undefined
  if (!ctx.archiveDir) {
    rows.push(...notMeasured(S, 'rates vs archive size: no archive of the main topic').rows)
  } else {
    await backend.createTopic('bench-tenth', ctx.main.partitions)
    const small: Dataset = await produceDataset(backend.kafka, {
      topic: 'bench-tenth',
      partitions: ctx.main.partitions,
      records: Math.max(1000, Math.floor(ctx.main.records / 10)),
      valueBytes: ctx.options.valueBytes,
    })
    const smallArchive: number[] = []
    const smallReplay: number[] = []
    const bigReplay: number[] = []
    for (let r = 0; r < scaleRuns(ctx); r++) {
      const run = await archiveRun(ctx, small)
      smallArchive.push(small.rawBytes / MiB / run.measure.seconds)
      smallReplay.push(
        streamingRate(small, (await consume(ctx, small, 'file', ['eachBatch'], run.dir)).byHandler.eachBatch!),
      )
      bigReplay.push(
        streamingRate(
          ctx.main,
          (await consume(ctx, ctx.main, 'file', ['eachBatch'], ctx.archiveDir)).byHandler.eachBatch!,
        ),
      )
      await rm(run.dir, { recursive: true, force: true })
    }
    const replayFlat = ratio(bigReplay, smallReplay)
    // The main archive's rate comes from the archive scenario's runs (same backend, same settings).
    const bigArchive = ctx.archiveRates ?? []
    const archiveFlat =
      bigArchive.length > 0
        ? ratio(bigArchive.slice(0, smallArchive.length), smallArchive.slice(0, bigArchive.length))
        : undefined
    growth = {
      smallRecords: small.records,
      bigRecords: ctx.main.records,
      smallRecordsPerSecond: figure(smallReplay),
      bigRecordsPerSecond: figure(bigReplay),
      bigOverSmall: replayFlat,
      archiveSmallMiBPerSecond: figure(smallArchive),
      archiveBigMiBPerSecond: bigArchive.length > 0 ? figure(bigArchive) : 'not measured',
      archiveBigOverSmall: archiveFlat ?? 'not measured',
    }
    const k = (xs: number[]) => show(figure(xs.map((x) => x / 1000)), 1, 'k records/s')
    rows.push(
      { scenario: S, metric: `replay archive of ${small.records} records (file, eachBatch)`, value: k(smallReplay) },
      { scenario: S, metric: `replay archive of ${ctx.main.records} records (10x)`, value: k(bigReplay) },
      {
        scenario: S,
        metric: 'replay throughput 10x archive / 1x',
        value: show(replayFlat, 2, 'x'),
        target: `flat (>= ${FLAT})`,
        ok: replayFlat.median >= FLAT,
      },
      {
        scenario: S,
        metric: `archive ${small.records} records / ${ctx.main.records} (10x)`,
        value: `${show(figure(smallArchive), 1)} / ${bigArchive.length > 0 ? show(figure(bigArchive), 1) : 'not measured'} MiB/s`,
      },
      {
        scenario: S,
        metric: 'archive throughput 10x archive / 1x',
        value: archiveFlat ? show(archiveFlat, 2, 'x') : 'not measured: the archive scenario did not run',
        ...(archiveFlat ? { target: `flat (>= ${FLAT})`, ok: archiveFlat.median >= FLAT } : {}),
      },
    )
  }
  return {
    measured: true,
    rows,
    data: {
      broker: backend.label,
      archive: points,
      replayPeakRss: memory ?? 'not measured',
      byPartitions,
      replayGrowth: growth ?? 'not measured',
    },
  }
}

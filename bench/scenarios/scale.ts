// Scale: archiver throughput and peak RSS with the same records spread over 1, 8 and 100 partitions; and replay
// throughput (ArchiveConsumer, eachBatch, file store) of an archive and of one 10x larger, which should stay flat.
import { rm } from 'node:fs/promises'
import { runChild } from '../lib/child.js'
import type { ChildMeasure } from '../lib/child.js'
import { notMeasured } from '../lib/context.js'
import type { BenchContext, Row, ScenarioResult } from '../lib/context.js'
import { produceDataset } from '../lib/kafka.js'
import type { ConsumeMeasure, ConsumeTaskResult } from '../lib/tasks.js'
import type { Dataset } from '../lib/kafka.js'
import { figure, MiB, ratio, show } from '../lib/stats.js'
import type { Figure } from '../lib/stats.js'
import { archiveRun } from './archive.js'
import { consumeParams } from './replay.js'

export interface ScalePoint {
  partitions: number
  records: number
  MiBPerSecond: Figure
  recordsPerSecond: Figure
  peakRssMiB: Figure
}

/** --quick measures each scale point once to stay within its time budget; a full run repeats like the others. */
const scaleRuns = (ctx: BenchContext) => (ctx.options.quick ? 1 : ctx.options.runs)

export async function scaleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const S = 'scale'
  const rows: Row[] = []
  const points: ScalePoint[] = []
  for (const partitions of ctx.options.scalePartitions) {
    const topic = `scale-${partitions}`
    ctx.broker.createTopic(topic, { partitions })
    const d = await produceDataset(ctx.kafka, {
      topic,
      partitions,
      records: ctx.options.scaleRecords,
      valueBytes: ctx.options.valueBytes,
    })
    const runs: ChildMeasure[] = []
    for (let r = 0; r < scaleRuns(ctx); r++) {
      const run = await archiveRun(ctx, d)
      runs.push(run.measure)
      await rm(run.dir, { recursive: true, force: true })
    }
    const point: ScalePoint = {
      partitions,
      records: d.records,
      MiBPerSecond: figure(runs.map((m) => d.rawBytes / MiB / m.seconds)),
      recordsPerSecond: figure(runs.map((m) => d.records / m.seconds)),
      peakRssMiB: figure(runs.map((m) => m.maxRssBytes / MiB)),
    }
    points.push(point)
    ctx.log(
      `  scale ${partitions} partitions: ${show(point.MiBPerSecond, 1, 'MiB/s')}, RSS ${show(point.peakRssMiB, 0, 'MiB')}`,
    )
    rows.push({
      scenario: S,
      metric: `archive ${partitions} partition${partitions === 1 ? '' : 's'}`,
      value: `${show(point.MiBPerSecond, 1, 'MiB/s')}, peak RSS ${show(point.peakRssMiB, 0, 'MiB')}`,
      // Issue target: peak RSS with 100 partitions and default settings (the bench's fetch settings are the defaults).
      ...(partitions === 100 ? { target: '<= 512 MiB', ok: point.peakRssMiB.max <= 512 } : {}),
    })
  }

  let growth: Record<string, unknown> | undefined
  if (!ctx.archiveDir) {
    rows.push(...notMeasured(S, 'replay vs archive size: no archive of the main topic').rows)
  } else {
    ctx.broker.createTopic('bench-tenth', { partitions: ctx.main.partitions })
    const small: Dataset = await produceDataset(ctx.kafka, {
      topic: 'bench-tenth',
      partitions: ctx.main.partitions,
      records: Math.max(1000, Math.floor(ctx.main.records / 10)),
      valueBytes: ctx.options.valueBytes,
    })
    const smallArchive = await archiveRun(ctx, small)
    const replay = async (d: Dataset, dir: string) => {
      const out: ConsumeMeasure[] = []
      for (let r = 0; r < scaleRuns(ctx); r++) {
        const result = await runChild<ConsumeTaskResult>('consume', consumeParams(ctx, d, 'file', ['eachBatch'], dir))
        out.push(result.byHandler.eachBatch!)
      }
      return out.map((m) => d.records / (m.seconds - m.firstRecordSeconds))
    }
    const smallRate = await replay(small, smallArchive.dir)
    const bigRate = await replay(ctx.main, ctx.archiveDir)
    await rm(smallArchive.dir, { recursive: true, force: true })
    const flat = ratio(bigRate, smallRate)
    growth = {
      smallRecords: small.records,
      bigRecords: ctx.main.records,
      smallRecordsPerSecond: figure(smallRate),
      bigRecordsPerSecond: figure(bigRate),
      bigOverSmall: flat,
    }
    const k = (xs: number[]) => show(figure(xs.map((x) => x / 1000)), 1, 'k records/s')
    rows.push(
      { scenario: S, metric: `replay archive of ${small.records} records (file, eachBatch)`, value: k(smallRate) },
      { scenario: S, metric: `replay archive of ${ctx.main.records} records (10x)`, value: k(bigRate) },
      {
        scenario: S,
        metric: 'replay throughput 10x archive / 1x',
        value: show(flat, 2, 'x'),
        target: 'flat (>= 0.8)',
        ok: flat.median >= 0.8,
      },
    )
  }
  return { measured: true, rows, data: { archive: points, replayGrowth: growth ?? 'not measured' } }
}

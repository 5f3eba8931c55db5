// Replay: ArchiveConsumer (archive-first) reading the archived topic from the file store and from S3 over HTTP,
// against kafkajs reading the same records from the dev broker; eachMessage and eachBatch; same fetch settings
// and partitionsConsumedConcurrently on every side. Targets: file >= 2x kafkajs, S3 >= 1x.
import { pathToFileURL } from 'node:url'
import { FileStore, S3Store } from '../../packages/core/src/index.js'
import type { ObjectStore } from '../../packages/core/src/index.js'
import { runChild } from '../lib/child.js'
import { notMeasured } from '../lib/context.js'
import type { BenchContext, Row, ScenarioResult } from '../lib/context.js'
import type { Dataset } from '../lib/kafka.js'
import { figure, MiB, ratio, show } from '../lib/stats.js'
import type { Figure } from '../lib/stats.js'
import type { ConsumeMeasure, ConsumeTaskParams, ConsumeTaskResult, Handler } from '../lib/tasks.js'

export const S3_BUCKET = 'everlog-test'
export const S3_PREFIX = 'replay/'

/** Copies every object of a file store archive to the S3 server (setup, not measured). */
export async function copyToS3(ctx: BenchContext, dir: string): Promise<ObjectStore> {
  const from = new FileStore(dir)
  const to = new S3Store({ bucket: S3_BUCKET, prefix: S3_PREFIX }, ctx.s3.clientConfig())
  const pending: Promise<unknown>[] = []
  for await (const o of from.list('')) {
    pending.push(from.get(o.key).then(({ body }) => to.put(o.key, body)))
    if (pending.length >= 8) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  await from.close()
  return to
}

type Side = 'kafkajs' | 'file' | 's3'

export function consumeParams(
  ctx: BenchContext,
  main: Dataset,
  side: Side,
  handlers: Handler[],
  archiveDir: string,
): ConsumeTaskParams {
  const ref = (d: Dataset) => ({ topic: d.topic, partitions: d.partitions, records: d.records })
  return {
    brokers: ctx.broker.brokers,
    warm: ref(ctx.warm),
    main: ref(main),
    handlers,
    partitionsConsumedConcurrently: ctx.options.partitionsConsumedConcurrently,
    archive:
      side === 'kafkajs'
        ? undefined
        : side === 'file'
          ? { url: pathToFileURL(archiveDir).href }
          : { url: `s3://${S3_BUCKET}/${S3_PREFIX}`, store: { s3: ctx.s3.clientConfig() } },
  }
}

export async function replayScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const S = 'replay'
  if (!ctx.archiveDir) return notMeasured(S, 'no archive: the archive scenario did not run or failed')
  const { main } = ctx
  const s3Store = await copyToS3(ctx, ctx.archiveDir)
  await s3Store.close()
  const rows: Row[] = []
  const data: Record<string, unknown> = {
    records: main.records,
    rawBytes: main.rawBytes,
    partitionsConsumedConcurrently: ctx.options.partitionsConsumedConcurrently,
  }
  const HANDLERS = ['eachMessage', 'eachBatch'] as const
  const results: Record<Side, ConsumeTaskResult[]> = { kafkajs: [], file: [], s3: [] }
  for (let r = 0; r < ctx.options.runs; r++) {
    for (const side of ['kafkajs', 'file', 's3'] as const) {
      const last = r === ctx.options.runs - 1
      const profile =
        last && ctx.options.profileDir ? { profileDir: ctx.options.profileDir, profileName: `replay-${side}` } : {}
      const params = consumeParams(ctx, main, side, [...HANDLERS], ctx.archiveDir)
      results[side].push(await runChild<ConsumeTaskResult>('consume', params, profile))
    }
    ctx.log(
      `  replay run ${r + 1}/${ctx.options.runs}: ` +
        (['kafkajs', 'file', 's3'] as const)
          .map((s) =>
            HANDLERS.map((h) => `${s} ${h} ${results[s].at(-1)!.byHandler[h]!.seconds.toFixed(2)} s`).join(', '),
          )
          .join(', '),
    )
  }
  const rss = (side: Side) => figure(results[side].map((x) => x.maxRssBytes / MiB))
  data.peakRssMiB = { kafkajs: rss('kafkajs'), file: rss('file'), s3: rss('s3') }
  for (const handler of HANDLERS) {
    const measured = {} as Record<Side, ConsumeMeasure[]>
    for (const side of ['kafkajs', 'file', 's3'] as const)
      measured[side] = results[side].map((x) => x.byHandler[handler]!)
    // Throughput from the first record to the last: connect, group join and the first fetch are the same fixed
    // cost on every side and are reported apart (firstRecordSeconds), so small --quick runs stay comparable.
    const streaming = (m: ConsumeMeasure) => m.seconds - m.firstRecordSeconds
    const rate = (ms: ConsumeMeasure[]) => ms.map((m) => main.records / streaming(m))
    const perSide = (side: Side) => ({
      recordsPerSecond: figure(rate(measured[side])),
      MiBPerSecond: figure(measured[side].map((m) => main.rawBytes / MiB / streaming(m))),
      cpuSeconds: figure(measured[side].map((m) => m.cpuSeconds)),
      firstRecordSeconds: figure(measured[side].map((m) => m.firstRecordSeconds)),
    })
    const fileRatio = ratio(rate(measured.file), rate(measured.kafkajs))
    const s3Ratio = ratio(rate(measured.s3), rate(measured.kafkajs))
    data[handler] = {
      kafkajs: perSide('kafkajs'),
      file: perSide('file'),
      s3: perSide('s3'),
      fileOverKafkajs: fileRatio,
      s3OverKafkajs: s3Ratio,
      targets: { file: 2, s3: 1 },
    }
    const rec = (f: Figure) => show(figure(f.runs.map((x) => x / 1000)), 1, 'k records/s')
    rows.push(
      { scenario: S, metric: `${handler}: kafkajs <- dev broker`, value: rec(perSide('kafkajs').recordsPerSecond) },
      {
        scenario: S,
        metric: `${handler}: ArchiveConsumer <- file store`,
        value: rec(perSide('file').recordsPerSecond),
      },
      {
        scenario: S,
        metric: `${handler}: ArchiveConsumer <- S3 over HTTP`,
        value: rec(perSide('s3').recordsPerSecond),
      },
      {
        scenario: S,
        metric: `${handler}: file / kafkajs`,
        value: show(fileRatio, 2, 'x'),
        target: '>= 2',
        ok: fileRatio.median >= 2,
      },
      {
        scenario: S,
        metric: `${handler}: S3 / kafkajs`,
        value: show(s3Ratio, 2, 'x'),
        target: '>= 1',
        ok: s3Ratio.median >= 1,
      },
    )
    rows.push({
      scenario: S,
      metric: `${handler}: first record after connect, kafkajs / file / S3`,
      value: (['kafkajs', 'file', 's3'] as const)
        .map((s) => show(perSide(s).firstRecordSeconds, 2))
        .join(' / ')
        .concat(' s'),
    })
    if (handler === 'eachBatch') {
      rows.push({
        scenario: S,
        metric: 'peak RSS kafkajs / file / S3 (worker running both handlers)',
        value: (['kafkajs', 'file', 's3'] as const)
          .map((s) => show(rss(s), 0))
          .join(' / ')
          .concat(' MiB'),
      })
    }
  }
  return { measured: true, rows, data }
}

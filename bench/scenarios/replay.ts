// Replay: ArchiveConsumer (archive-first, its group on Apache Kafka) reading the archived topic from the file store
// and from S3 over HTTP, against kafkajs reading the same records from Apache Kafka (and from the dev broker, a
// second row); eachMessage and eachBatch; same fetch settings and partitionsConsumedConcurrently on every side.
// Targets against Apache Kafka: file >= 4x kafkajs, S3 >= 3x; peak RSS <= 1.5x kafkajs'.
import { pathToFileURL } from 'node:url'
import { FileStore, S3Store } from '../../packages/core/src/index.js'
import type { ObjectStore } from '../../packages/core/src/index.js'
import { runChild } from '../lib/child.js'
import { notMeasured } from '../lib/context.js'
import type { BenchContext, KafkaBackend, Row, ScenarioResult } from '../lib/context.js'
import type { Dataset } from '../lib/kafka.js'
import { figure, MiB, ratio, show } from '../lib/stats.js'
import { primary } from './archive.js'
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

/** kafkajs from a broker, or ArchiveConsumer (its group on the primary broker) from an archive. */
export type Side = 'kafkajs' | 'kafkajs-dev' | 'file' | 's3'

export function consumeParams(
  ctx: BenchContext,
  main: Dataset,
  side: Side,
  handlers: Handler[],
  archiveDir: string,
  backend: KafkaBackend = side === 'kafkajs-dev' ? ctx.dev : primary(ctx),
): ConsumeTaskParams {
  const ref = (d: Dataset) => ({ topic: d.topic, partitions: d.partitions, records: d.records })
  return {
    brokers: backend.brokers,
    warm: ref(ctx.warm),
    main: ref(main),
    handlers,
    partitionsConsumedConcurrently: ctx.options.partitionsConsumedConcurrently,
    archive:
      side === 'kafkajs' || side === 'kafkajs-dev'
        ? undefined
        : side === 'file'
          ? { url: pathToFileURL(archiveDir).href }
          : { url: `s3://${S3_BUCKET}/${S3_PREFIX}`, store: { s3: ctx.s3.clientConfig() } },
  }
}

export const REPLAY_TARGETS = { file: 4, s3: 3, rss: 1.5 } as const

export async function replayScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const S = 'replay'
  if (!ctx.archiveDir) return notMeasured(S, 'no archive: the archive scenario did not run or failed')
  const { main } = ctx
  const s3Store = await copyToS3(ctx, ctx.archiveDir)
  await s3Store.close()
  const rows: Row[] = []
  const real = ctx.real
  const data: Record<string, unknown> = {
    records: main.records,
    rawBytes: main.rawBytes,
    partitionsConsumedConcurrently: ctx.options.partitionsConsumedConcurrently,
    baseline: primary(ctx).label,
  }
  const HANDLERS = ['eachMessage', 'eachBatch'] as const
  const sides: Side[] = [...(real ? (['kafkajs'] as const) : []), 'kafkajs-dev', 'file', 's3']
  const results: Partial<Record<Side, ConsumeTaskResult[]>> = {}
  for (const side of sides) results[side] = []
  for (let r = 0; r < ctx.options.runs; r++) {
    for (const side of sides) {
      const last = r === ctx.options.runs - 1
      const profile =
        last && ctx.options.profileDir ? { profileDir: ctx.options.profileDir, profileName: `replay-${side}` } : {}
      const params = consumeParams(ctx, main, side, [...HANDLERS], ctx.archiveDir)
      results[side]!.push(await runChild<ConsumeTaskResult>('consume', params, profile))
    }
    ctx.log(
      `  replay run ${r + 1}/${ctx.options.runs}: ` +
        sides
          .map((s) =>
            HANDLERS.map((h) => `${s} ${h} ${results[s]!.at(-1)!.byHandler[h]!.seconds.toFixed(2)} s`).join(', '),
          )
          .join(', '),
    )
  }
  const base: Side = real ? 'kafkajs' : 'kafkajs-dev'
  const labelOf = (side: Side) =>
    side === 'kafkajs'
      ? `kafkajs <- ${real!.label}`
      : side === 'kafkajs-dev'
        ? 'kafkajs <- dev broker'
        : side === 'file'
          ? 'ArchiveConsumer <- file store'
          : 'ArchiveConsumer <- S3 over HTTP'
  if (!real) rows.push({ scenario: S, metric: 'Apache Kafka', value: `not measured: ${ctx.realMissing}` })
  const rssRuns = (side: Side) => results[side]!.map((x) => x.maxRssBytes / MiB)
  data.peakRssMiB = Object.fromEntries(sides.map((s) => [s, figure(rssRuns(s))]))
  for (const handler of HANDLERS) {
    const measured = {} as Record<Side, ConsumeMeasure[]>
    for (const side of sides) measured[side] = results[side]!.map((x) => x.byHandler[handler]!)
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
    const over = (side: Side, baseline: Side) => ratio(rate(measured[side]), rate(measured[baseline]))
    const handlerData: Record<string, unknown> = { targets: { file: REPLAY_TARGETS.file, s3: REPLAY_TARGETS.s3 } }
    for (const side of sides) handlerData[side] = perSide(side)
    const rec = (f: Figure) => show(figure(f.runs.map((x) => x / 1000)), 1, 'k records/s')
    for (const side of sides)
      rows.push({ scenario: S, metric: `${handler}: ${labelOf(side)}`, value: rec(perSide(side).recordsPerSecond) })
    for (const [archive, name, target] of [
      ['file', 'file', REPLAY_TARGETS.file],
      ['s3', 'S3', REPLAY_TARGETS.s3],
    ] as const) {
      const r = over(archive, base)
      handlerData[`${archive}Over${real ? 'ApacheKafka' : 'DevBroker'}`] = r
      rows.push({
        scenario: S,
        metric: `${handler}: ${name} / kafkajs <- ${primary(ctx).label}`,
        value: show(r, 2, 'x'),
        ...(real ? { target: `>= ${target}`, ok: r.median >= target } : {}),
      })
    }
    if (real) {
      const file = over('file', 'kafkajs-dev')
      const s3 = over('s3', 'kafkajs-dev')
      handlerData.fileOverDevBroker = file
      handlerData.s3OverDevBroker = s3
      rows.push({
        scenario: S,
        metric: `${handler}: file / S3 over kafkajs <- dev broker`,
        value: `${show(file, 2, 'x')} / ${show(s3, 2, 'x')}`,
      })
    }
    data[handler] = handlerData
    rows.push({
      scenario: S,
      metric: `${handler}: first record after connect, ${sides.join(' / ')}`,
      value: sides
        .map((s) => show(perSide(s).firstRecordSeconds, 2))
        .join(' / ')
        .concat(' s'),
    })
  }
  rows.push({
    scenario: S,
    metric: `peak RSS ${sides.join(' / ')} (worker running both handlers)`,
    value: sides
      .map((s) => show(figure(rssRuns(s)), 0))
      .join(' / ')
      .concat(' MiB'),
  })
  for (const [archive, name] of [
    ['file', 'file'],
    ['s3', 'S3'],
  ] as const) {
    const r = ratio(rssRuns(archive), rssRuns(base))
    data[`peakRss${name}OverKafkajs`] = r
    rows.push({
      scenario: S,
      metric: `peak RSS ${name} / kafkajs <- ${primary(ctx).label} (${main.partitions} partitions)`,
      value: show(r, 2, 'x'),
      target: `<= ${REPLAY_TARGETS.rss}`,
      ok: r.median <= REPLAY_TARGETS.rss,
    })
  }
  return { measured: true, rows, data }
}

// The archiver's own benchmark: `node --conditions=everlog-source --import tsx bench/archiver.ts [--records N]
// [--partitions P] [--value-bytes B]`. Archives N records (default 1M of ~1 KiB) from the dev broker with --once into a
// file store, against a plain kafkajs consumer that only decodes the same records, each side in its own process
// (bench/worker.ts), in the same run: records/s, MB/s, the ratio (target >= 0.8) and peak RSS. Then peak RSS of the
// archiver with 100 partitions and default settings (target <= 512 MiB). `npm run bench` runs the same comparison
// as its "archive" scenario with repeated runs; this script is the quick, archiver-only view.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { startDevBroker } from '../packages/dev-broker/src/index.js'
import { runChild } from './lib/child.js'
import type { ChildMeasure } from './lib/child.js'
import { kafkaClient, produceDataset } from './lib/kafka.js'
import type { Dataset } from './lib/kafka.js'
import type { ArchiveTaskParams, ConsumeTaskParams, ConsumeTaskResult, TopicRef } from './lib/tasks.js'

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '4' },
    'value-bytes': { type: 'string', default: '1000' },
    'scale-partitions': { type: 'string', default: '100' },
  },
})
const records = Number(values.records)
const partitions = Number(values.partitions)
const valueBytes = Number(values['value-bytes'])
const scalePartitions = Number(values['scale-partitions'])

const MB = 1e6
const MiB = 1024 * 1024
const ref = (d: Dataset): TopicRef => ({ topic: d.topic, partitions: d.partitions, records: d.records })

const broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
const tmp = await mkdtemp(join(tmpdir(), 'everlog-bench-archiver-'))
try {
  const kafka = kafkaClient(broker.brokers)
  const admin = kafka.admin()
  await admin.connect()
  const topics = [
    { topic: 'warm', partitions, records: Math.min(20_000, records) },
    { topic: 'main', partitions, records },
    { topic: 'wide', partitions: scalePartitions, records },
  ]
  await admin.createTopics({ topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions })) })
  await admin.disconnect()
  const t0 = performance.now()
  const sets: Dataset[] = []
  for (const t of topics) sets.push(await produceDataset(kafka, { ...t, valueBytes }))
  const [warmSet, mainSet, wideSet] = sets as [Dataset, Dataset, Dataset]
  console.log(
    `produced ${records} records x ${valueBytes} B (${(mainSet.rawBytes / MB).toFixed(0)} MB raw) twice, ` +
      `${partitions} and ${scalePartitions} partitions, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  )

  const archiveDir = await mkdtemp(join(tmp, 'archive-'))
  const archive = await runChild<ChildMeasure>('archive', {
    brokers: broker.brokers,
    warm: ref(warmSet),
    main: ref(mainSet),
    store: pathToFileURL(archiveDir).href,
  } satisfies ArchiveTaskParams)
  const consumed = await runChild<ConsumeTaskResult>('consume', {
    brokers: broker.brokers,
    warm: ref(warmSet),
    main: ref(mainSet),
    handlers: ['eachBatch'],
    partitionsConsumedConcurrently: 1,
  } satisfies ConsumeTaskParams)
  const kafkajs: ChildMeasure = { ...consumed.byHandler.eachBatch!, maxRssBytes: consumed.maxRssBytes }
  const row = (name: string, m: ChildMeasure) =>
    `${name.padEnd(34)} ${(records / m.seconds).toFixed(0).padStart(9)} rec/s ${(mainSet.rawBytes / MB / m.seconds)
      .toFixed(1)
      .padStart(
        7,
      )} MB/s  ${m.seconds.toFixed(2).padStart(6)} s  cpu ${m.cpuSeconds.toFixed(1)} s  peak RSS ${(m.maxRssBytes / MiB).toFixed(0)} MiB`
  console.log(row('archiver --once -> file store', archive))
  console.log(row('kafkajs consumer, decode only', kafkajs))
  const ratio = kafkajs.seconds / archive.seconds
  console.log(
    `throughput ratio archiver / kafkajs: ${ratio.toFixed(2)} (target >= 0.8: ${ratio >= 0.8 ? 'met' : 'NOT met'})`,
  )
  await rm(archiveDir, { recursive: true, force: true })

  const wideDir = await mkdtemp(join(tmp, 'wide-'))
  const wideRun = await runChild<ChildMeasure>('archive', {
    brokers: broker.brokers,
    warm: ref(warmSet),
    main: ref(wideSet),
    store: pathToFileURL(wideDir).href,
  } satisfies ArchiveTaskParams)
  console.log(row(`archiver, ${scalePartitions} partitions, defaults`, wideRun))
  const rss = wideRun.maxRssBytes / MiB
  console.log(
    `peak RSS with ${scalePartitions} partitions: ${rss.toFixed(0)} MiB (target <= 512 MiB: ${rss <= 512 ? 'met' : 'NOT met'})`,
  )
} finally {
  await broker.close()
  await rm(tmp, { recursive: true, force: true })
}

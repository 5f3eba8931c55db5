// One side of a comparison, run in its own process by lib/child.ts: `worker.ts <task> <json params>`. Each task
// first runs a warm-up pass on a small topic (JIT, WASM instantiation, connection setup), then the measured pass,
// and prints one RESULT_PREFIX line with wall and CPU seconds of the measured pass and the process's peak RSS.
import type { Consumer, EachBatchPayload, EachMessagePayload } from 'kafkajs'
import { Archiver } from '../packages/archiver/src/archiver.js'
import { ArchiveConsumer } from '../packages/consumer/src/archive-consumer.js'
import { openStore, readHead } from '../packages/core/src/index.js'
import { peakRssBytes as peakRss, RESULT_PREFIX } from './lib/child.js'
import type { ChildMeasure } from './lib/child.js'
import { FETCH, kafkaClient } from './lib/kafka.js'
import type { ArchiveTaskParams, ConsumeTaskParams, ConsumeTaskResult, Handler, TopicRef } from './lib/tasks.js'
import { runSeekTask } from './scenarios/seek-task.js'
import { segmentFormatFigures } from './segment-format.js'

function measureStart() {
  const cpu = process.cpuUsage()
  const t = performance.now()
  return () => {
    const u = process.cpuUsage(cpu)
    return { seconds: (performance.now() - t) / 1000, cpuSeconds: (u.user + u.system) / 1e6 }
  }
}

async function archiveOnce(p: ArchiveTaskParams, ref: TopicRef, group: string): Promise<void> {
  const archiver = new Archiver(
    {
      brokers: p.brokers,
      topics: [ref.topic],
      store: p.store,
      group,
      once: true,
      logLevel: 'silent',
      progressIntervalMs: 0,
      http: { port: 0, host: '127.0.0.1' },
      kafka: {
        maxBytes: FETCH.maxBytes,
        maxBytesPerPartition: FETCH.maxBytesPerPartition,
        maxWaitTimeInMs: FETCH.maxWaitTimeInMs,
      },
    },
    { processMetrics: false },
  )
  await archiver.start()
  await archiver.done
}

async function archiveTask(p: ArchiveTaskParams): Promise<ChildMeasure> {
  await archiveOnce(p, p.warm, `bench-archive-warm-${process.pid}`)
  const done = measureStart()
  await archiveOnce(p, p.main, `bench-archive-${process.pid}`)
  const m = done()
  // Checked outside the timing: the archive must hold every record, or the figure means nothing.
  const store = openStore(p.store)
  let records = 0
  for (let partition = 0; partition < p.main.partitions; partition++) {
    records += (await readHead(store, p.main.topic, partition))?.head.records ?? 0
  }
  await store.close()
  if (records !== p.main.records) throw new Error(`archive holds ${records} records of ${p.main.records}`)
  return { ...m, records, maxRssBytes: peakRss() }
}

/** Consumes `ref` from the beginning until every record was seen; touches key, value and headers of each. */
async function consume(p: ConsumeTaskParams, handler: Handler, ref: TopicRef, groupId: string) {
  const kafka = kafkaClient(p.brokers)
  const config = {
    groupId,
    maxBytes: FETCH.maxBytes,
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
    minBytes: FETCH.minBytes,
    maxWaitTimeInMs: FETCH.maxWaitTimeInMs,
  }
  const consumer: Consumer = p.archive
    ? (new ArchiveConsumer({ ...config, kafka, archive: p.archive.url, store: p.archive.store }) as unknown as Consumer)
    : kafka.consumer(config)
  let seen = 0
  let bytes = 0
  let firstRecordSeconds = 0
  const done = measureStart()
  await consumer.connect()
  await consumer.subscribe({ topics: [ref.topic], fromBeginning: true })
  await new Promise<void>((resolve, reject) => {
    const touch = (m: EachMessagePayload['message']) => {
      bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0)
      for (const h in m.headers) bytes += (m.headers[h] as Buffer).length
    }
    const first = () => {
      if (seen === 0) firstRecordSeconds = done().seconds
    }
    consumer
      .run({
        partitionsConsumedConcurrently: p.partitionsConsumedConcurrently,
        ...(handler === 'eachMessage'
          ? {
              eachMessage: async ({ message }: EachMessagePayload) => {
                first()
                touch(message)
                if (++seen >= ref.records) resolve()
              },
            }
          : {
              eachBatch: async ({ batch }: EachBatchPayload) => {
                first()
                for (const m of batch.messages) touch(m)
                seen += batch.messages.length
                if (seen >= ref.records) resolve()
              },
            }),
      })
      .catch(reject)
  })
  const m = done()
  await consumer.disconnect()
  if (seen !== ref.records) throw new Error(`consumed ${seen} records of ${ref.records}`)
  return { ...m, records: seen, bytes, firstRecordSeconds }
}

async function consumeTask(p: ConsumeTaskParams): Promise<ConsumeTaskResult> {
  // Each handler is warmed up, then each is measured on a fresh group reading the main topic from the beginning.
  for (const handler of p.handlers) await consume(p, handler, p.warm, `bench-warm-${handler}-${process.pid}`)
  const byHandler: ConsumeTaskResult['byHandler'] = {}
  for (const handler of p.handlers)
    byHandler[handler] = await consume(p, handler, p.main, `bench-${handler}-${process.pid}`)
  return { byHandler, maxRssBytes: peakRss() }
}

const TASKS: Record<string, (params: never) => Promise<unknown>> = {
  archive: archiveTask,
  consume: consumeTask,
  seek: runSeekTask,
  segment: async (p: { records: number; runs: number; valueBytes: number }) => ({
    ...(await segmentFormatFigures(p.records, p.runs, p.valueBytes)),
    maxRssBytes: peakRss(),
  }),
}

const [task, json] = process.argv.slice(2)
const run = TASKS[task ?? '']
if (!run || json === undefined) {
  console.error(`usage: worker.ts <${Object.keys(TASKS).join('|')}> <json params>`)
  process.exit(2)
}
try {
  const result = await run(JSON.parse(json) as never)
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`)
  // kafkajs and the S3 client may keep sockets around; the result is out, so leave now.
  process.exit(0)
} catch (err) {
  console.error(err)
  process.exit(1)
}

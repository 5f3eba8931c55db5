// ArchiveConsumer replay speed (group join to last record): N ~1 KiB records read from a file-store archive and from S3 over HTTP, against a
// kafkajs consumer reading the same records from the dev broker, eachMessage and eachBatch, all in one run.
// Run: node --conditions=everlog-source --import tsx bench/consumer.ts [--records N] [--segment-records S] [--compression C]
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import type { Consumer } from 'kafkajs'
import { encodeSegment, openStore, PartitionWriter } from '../packages/core/src/index.js'
import type { ArchiveRecord, ObjectStore, SegmentCompression } from '../packages/core/src/index.js'
import { startS3Server } from '../packages/core/src/testing/s3-server.js'
import { startDevBroker } from '../packages/dev-broker/src/broker.js'
import { ArchiveConsumer } from '../packages/consumer/src/archive-consumer.js'
import { benchRecord, prng } from './lib/data.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    'segment-records': { type: 'string', default: '50000' },
    // The archive's default is zstd; decoding zstd in parquet-wasm costs ~2.5x snappy, so both are worth a run.
    compression: { type: 'string', default: 'zstd' },
  },
})
const records = Number(values.records)
const perSegment = Number(values['segment-records'])
if (!Number.isSafeInteger(records) || records < 1000)
  throw new Error(`--records must be >= 1000, got ${values.records}`)
if (!Number.isSafeInteger(perSegment) || perSegment < 100) throw new Error('--segment-records must be >= 100')
const COMPRESSIONS: readonly SegmentCompression[] = ['zstd', 'snappy', 'gzip', 'lz4', 'none']
const compression = values.compression as SegmentCompression
if (!COMPRESSIONS.includes(compression)) throw new Error(`--compression must be one of ${COMPRESSIONS.join(', ')}`)

const MB = 1024 * 1024
const topic = 'bench'
const BATCH = 500 // stays under the broker's default 1 MiB max.message.bytes

const broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
const s3 = await startS3Server()
const dir = await mkdtemp(join(tmpdir(), 'everlog-bench-consumer-'))
const fileStore = openStore(pathToFileURL(dir).href)
const s3Store = openStore('s3://everlog-test/bench', { s3: s3.clientConfig() })
const kafka = new Kafka({ clientId: 'bench', brokers: broker.brokers, logLevel: logLevel.NOTHING })
broker.createTopic(topic, { partitions: 1 })

try {
  // ---- the same records into Kafka and into both archives -------------------------------------------------------
  const t0 = Date.now()
  const producer = kafka.producer()
  await producer.connect()
  const writers = await Promise.all(
    [fileStore, s3Store].map((store) => PartitionWriter.open(store, { topic, partition: 0, writer: 'bench' })),
  )
  // benchRecord builds each value field by field (~0.5 ms a record); a pool of 4096 distinct records (4 MiB, wider
  // than zstd's window at its default level, so no cross-record dedup) is cycled with each record's own offset.
  const rand = prng()
  const pool = Array.from({ length: 4096 }, (_, i) => benchRecord(i, rand))
  let segment: ArchiveRecord[] = []
  let rawBytes = 0
  let archivedBytes = 0
  const flush = async () => {
    if (segment.length === 0) return
    const encoded = encodeSegment(segment, { topic, partition: 0, compression })
    archivedBytes += encoded.bytes.length
    for (const w of writers) await w.commitSegment(encoded)
    segment = []
  }
  for (let i = 0; i < records; i += BATCH) {
    const batch: ArchiveRecord[] = []
    for (let j = i; j < Math.min(records, i + BATCH); j++) {
      const r = pool[j % pool.length]!
      batch.push({ ...r, offset: BigInt(j), timestamp: 1_700_000_000_000n + BigInt(j) })
    }
    for (const r of batch) rawBytes += r.value!.length + r.key!.length
    await producer.send({
      topic,
      messages: batch.map((r) => ({
        partition: 0,
        key: r.key,
        value: r.value,
        timestamp: r.timestamp.toString(),
        headers: Object.fromEntries(r.headers.map(([k, v]) => [k, v!])),
      })),
    })
    segment.push(...batch)
    if (segment.length >= perSegment) await flush()
  }
  await flush()
  await producer.disconnect()
  console.log(
    `setup: ${records} records, ${(rawBytes / MB).toFixed(1)} MiB of keys+values, archive ${(archivedBytes / MB).toFixed(1)} MiB ` +
      `in ${compression} segments of ${perSegment}, ${((Date.now() - t0) / 1000).toFixed(1)} s; ${availableParallelism()} CPUs`,
  )

  // ---- replays ------------------------------------------------------------------------------------------------------
  let group = 0
  async function replay(make: (groupId: string) => Consumer, handler: 'eachMessage' | 'eachBatch'): Promise<number> {
    const consumer = make(`bench-${++group}`)
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let seen = 0
    let bytes = 0
    // The clock starts when the group has assigned partitions: joins are the same for both sides (the dev broker
    // holds a new group's first join for a moment, as Kafka does) and are not what is measured.
    let started = 0
    consumer.on(consumer.events.GROUP_JOIN, () => (started ||= Date.now()))
    const done = new Promise<void>((resolve) => {
      const check = () => {
        if (seen >= records) resolve()
      }
      const run =
        handler === 'eachMessage'
          ? consumer.run({
              eachMessage: async ({ message }) => {
                bytes += message.value!.length
                seen++
                check()
              },
            })
          : consumer.run({
              eachBatch: async ({ batch }) => {
                for (const m of batch.messages) bytes += m.value!.length
                seen += batch.messages.length
                check()
              },
            })
      void run
    })
    await done
    const seconds = (Date.now() - started) / 1000
    await consumer.disconnect()
    if (bytes === 0) throw new Error('no bytes read')
    return seconds
  }

  const kafkajsConsumer = (groupId: string) => kafka.consumer({ groupId })
  const archiveConsumer = (store: ObjectStore) => (groupId: string) =>
    new ArchiveConsumer({ kafka, archive: store, groupId }) as unknown as Consumer

  const rows: { name: string; handler: string; seconds: number }[] = []
  for (const handler of ['eachMessage', 'eachBatch'] as const) {
    for (const [name, make] of [
      ['kafkajs <- dev broker', kafkajsConsumer],
      ['ArchiveConsumer <- file store', archiveConsumer(fileStore)],
      ['ArchiveConsumer <- S3 over HTTP', archiveConsumer(s3Store)],
    ] as const) {
      const seconds = await replay(make, handler)
      rows.push({ name, handler, seconds })
      const rate = records / seconds
      console.log(
        `${handler.padEnd(12)} ${name.padEnd(32)} ${seconds.toFixed(2).padStart(7)} s ` +
          `${Math.round(rate).toString().padStart(9)} records/s ${(rawBytes / MB / seconds).toFixed(1).padStart(7)} MiB/s`,
      )
    }
  }
  console.log('\nratios (ArchiveConsumer speed / kafkajs speed; targets: file >= 2x, S3 >= 1x)')
  for (const handler of ['eachMessage', 'eachBatch']) {
    const base = rows.find((r) => r.handler === handler && r.name.startsWith('kafkajs'))!.seconds
    for (const r of rows.filter((x) => x.handler === handler && !x.name.startsWith('kafkajs'))) {
      console.log(`${handler.padEnd(12)} ${r.name.padEnd(32)} ${(base / r.seconds).toFixed(2)}x`)
    }
  }
} finally {
  await fileStore.close()
  await s3Store.close()
  await s3.close()
  await broker.close()
  await rm(dir, { recursive: true, force: true })
}

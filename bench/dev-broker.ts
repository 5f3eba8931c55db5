// Dev broker throughput: kafkajs produces N 1 KiB records (batches of 1000) and consumes them back; then a
// minimal wire client fetches the same log without decoding records, showing how fast the broker serves Fetch
// compared with what a kafkajs consumer decodes. Broker and clients share this process (one event loop).
// Run: node --conditions=everlog-source --import tsx bench/dev-broker.ts [--records N] [--partitions P]
import { availableParallelism, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { startDevBroker } from '../packages/dev-broker/src/broker.js'
import { WireClient } from '../packages/dev-broker/src/testing/wire-client.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { values } = parseArgs({
  options: { records: { type: 'string', default: '1000000' }, partitions: { type: 'string', default: '1' } },
})
const records = Number(values.records)
const partitions = Number(values.partitions)
if (!Number.isSafeInteger(records) || records < 1000)
  throw new Error(`--records must be >= 1000, got ${values.records}`)
if (!Number.isSafeInteger(partitions) || partitions < 1) throw new Error(`--partitions must be >= 1`)

const RECORD_BYTES = 1024
const BATCH = 1000
const MB = 1024 * 1024
const topic = 'bench'

const broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
const kafka = new Kafka({ clientId: 'bench', brokers: broker.brokers, logLevel: logLevel.NOTHING })
broker.createTopic(topic, { partitions })

// deterministic, mildly varied payloads (uncompressed: the broker path is what is measured)
const payloads = Array.from({ length: 16 }, (_, i) => Buffer.alloc(RECORD_BYTES - 16, String.fromCharCode(97 + i)))
const rawBytes = records * RECORD_BYTES

const producer = kafka.producer({ allowAutoTopicCreation: false })
await producer.connect()
let t0 = performance.now()
for (let i = 0; i < records; i += BATCH) {
  const n = Math.min(BATCH, records - i)
  const messages = new Array(n)
  for (let j = 0; j < n; j++) {
    const id = i + j
    messages[j] = { key: `key-${String(id).padStart(10, '0')}`, value: payloads[id % 16]!, partition: id % partitions }
  }
  await producer.send({ topic, acks: -1, messages })
}
const produceSec = (performance.now() - t0) / 1000
await producer.disconnect()
let logBytes = 0
for (let p = 0; p < partitions; p++) logBytes += broker.state.partition(topic, p)!.sizeBytes

// raw Fetch v11 loop: the broker's serving rate, no record decoding on the client (run before the kafkajs
// consumer so its garbage does not slow this loop down)
const client = await WireClient.connect(broker.host, broker.port)
const offsets = new Array<number>(partitions).fill(0)
const hw = offsets.map((_, p) => broker.highWatermark(topic, p))
let fetched = 0
t0 = performance.now()
while (offsets.some((o, p) => o < hw[p]!)) {
  const r = await client.request(1, 11, (w) => {
    // 8 MiB responses measured fastest here (fewer round trips than 1 MiB, less copying than 64 MiB)
    w.int32(-1)
      .int32(0)
      .int32(1)
      .int32(8 * MB)
      .int8(0)
      .int32(0)
      .int32(-1)
    w.int32(1).string(topic).int32(partitions)
    for (let p = 0; p < partitions; p++)
      w.int32(p)
        .int32(-1)
        .int64(offsets[p]!)
        .int64(-1)
        .int32(8 * MB)
    w.int32(0).string('')
  })
  r.int32()
  r.int16()
  r.int32()
  r.int32()
  r.string()
  const n = r.int32()
  for (let i = 0; i < n; i++) {
    const p = r.int32()
    r.int16()
    r.int64()
    r.int64()
    r.int64()
    r.array(false, (r) => r.int64() + r.int64())
    r.int32()
    const bytes = r.nullableBytes()
    if (bytes === null || bytes.length === 0) continue
    fetched += bytes.length
    // walk batch headers only, to find the next offset
    let at = 0
    while (at + 61 <= bytes.length) {
      const len = bytes.readInt32BE(at + 8)
      offsets[p] = Number(bytes.readBigInt64BE(at)) + bytes.readInt32BE(at + 23) + 1
      at += 12 + len
    }
  }
}
const rawFetchSec = (performance.now() - t0) / 1000
client.close()

const consumer = kafka.consumer({ groupId: 'bench', maxBytes: 64 * MB, maxBytesPerPartition: 16 * MB })
await consumer.connect()
await consumer.subscribe({ topic, fromBeginning: true })
let consumed = 0
t0 = performance.now()
await new Promise<void>((resolve) => {
  void consumer.run({
    eachBatch: async ({ batch }) => {
      consumed += batch.messages.length
      if (consumed >= records) resolve()
    },
  })
})
const consumeSec = (performance.now() - t0) / 1000
await consumer.disconnect()

await broker.close()

const rate = (bytes: number, sec: number) => (bytes / MB / sec).toFixed(1)
console.log(
  `dev broker, ${records} records x ${RECORD_BYTES} B, ${partitions} partition(s), log ${(logBytes / MB).toFixed(0)} MiB`,
)
console.log(
  `  kafkajs produce (batches of ${BATCH}, acks=-1): ${rate(rawBytes, produceSec)} MB/s  (${produceSec.toFixed(2)} s)`,
)
console.log(
  `  kafkajs consume (eachBatch):               ${rate(rawBytes, consumeSec)} MB/s  (${consumeSec.toFixed(2)} s)`,
)
console.log(
  `  raw Fetch v11 served (no decoding):         ${rate(fetched, rawFetchSec)} MB/s  (${rawFetchSec.toFixed(2)} s)`,
)
console.log(`  raw fetch / kafkajs consume: ${(consumeSec / rawFetchSec).toFixed(1)}x`)
console.log(
  `  (load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${availableParallelism()} cores)`,
)

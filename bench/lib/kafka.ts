// Puts the benchmark data into a topic of the dev broker with kafkajs (setup, not measured), and the consumer
// settings both sides of every Kafka comparison share.
import kafkajs from 'kafkajs'
import type { Kafka as KafkaClient, Message } from 'kafkajs'
import { rawRecordBytes } from '../../packages/core/src/record.js'
import { benchRecord, prng } from './data.js'

const { Kafka, logLevel } = kafkajs

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

/** Fetch settings given to the archiver, kafkajs and ArchiveConsumer alike (the archiver's defaults). */
export const FETCH = {
  maxBytes: 8 * 1024 * 1024,
  maxBytesPerPartition: 1024 * 1024,
  minBytes: 1,
  maxWaitTimeInMs: 100,
} as const

export function kafkaClient(brokers: string[], clientId = 'bench'): KafkaClient {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING })
}

export interface Dataset {
  topic: string
  partitions: number
  records: number
  valueBytes: number
  /** Key + value + header bytes of every record (rawRecordBytes). */
  rawBytes: number
}

/** Record i goes to partition i % partitions; same generator and seed everywhere, so every topic of one shape is equal. */
export async function produceDataset(
  kafka: KafkaClient,
  spec: { topic: string; partitions: number; records: number; valueBytes: number },
): Promise<Dataset> {
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const rand = prng()
  let rawBytes = 0
  const inflight: Promise<unknown>[] = []
  const BATCH = 800 // ~0.9 MiB: under the broker's default 1 MiB message.max.bytes per partition batch
  try {
    for (let i = 0; i < spec.records; i += BATCH) {
      const messages: Message[] = []
      for (let j = i; j < Math.min(spec.records, i + BATCH); j++) {
        const r = benchRecord(j, rand, { valueBytes: spec.valueBytes })
        rawBytes += rawRecordBytes(r)
        messages.push({
          partition: j % spec.partitions,
          key: r.key,
          value: r.value,
          timestamp: r.timestamp.toString(),
          headers: Object.fromEntries(r.headers.map(([k, v]) => [k, v!])),
        })
      }
      // A few sends in flight keep the broker busy while the next batch is generated (one connection: in order).
      const sent = producer.send({ topic: spec.topic, acks: 1, messages })
      sent.catch(() => {}) // awaited below, in order; a later send failing first must not crash the process
      inflight.push(sent)
      if (inflight.length >= 4) await inflight.shift()
    }
    await Promise.all(inflight)
  } finally {
    await producer.disconnect()
  }
  return { ...spec, rawBytes }
}

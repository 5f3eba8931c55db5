// The application's side of a story: an ArchiveConsumer replaying a topic from offset 0 — history from S3, then
// live records from Kafka — collecting every delivered message per partition in delivery order.
import { ArchiveConsumer, ArchiveEvents } from '@everlog/consumer'
import type { KafkaMessage } from 'kafkajs'
import type { Stack } from './stack.js'

export interface Replay {
  /** Messages per partition in the order they were delivered. */
  received: Map<number, KafkaMessage[]>
  /** Per partition, the first offset the consumer took from Kafka (its archive.switch event). */
  switches: Map<number, bigint>
  /** Segment GETs the S3 server answered while the consumer ran: the history really came from S3. */
  segmentGets: number
}

/**
 * Replays `topic` with a new group until `total` messages arrived, then keeps running `settleMs` longer so a
 * duplicate delivered after the last expected message would be seen too.
 */
export async function replayFromZero(stack: Stack, topic: string, total: number, settleMs = 1500): Promise<Replay> {
  const consumer = new ArchiveConsumer({
    kafka: stack.kafka,
    archive: stack.storeUrl,
    store: { s3: stack.s3.clientConfig() },
    groupId: `story-replay-${topic}-${Date.now()}`,
    maxWaitTimeInMs: 200,
  })
  const received = new Map<number, KafkaMessage[]>()
  const switches = new Map<number, bigint>()
  consumer.on(ArchiveEvents.ARCHIVE_SWITCH, (e) => switches.set(e.payload.partition, BigInt(e.payload.offset)))
  const requestsBefore = stack.s3.requests.length
  let count = 0
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replay stalled at ${count} of ${total} messages`)), 60_000)
      consumer.on(consumer.events.CRASH, (e) => {
        clearTimeout(timer)
        reject(e.payload.error)
      })
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            let list = received.get(batch.partition)
            if (!list) received.set(batch.partition, (list = []))
            for (const m of batch.messages) list.push(m)
            count += batch.messages.length
            if (count >= total) {
              clearTimeout(timer)
              setTimeout(resolve, settleMs)
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  const segmentGets = stack.s3.requests
    .slice(requestsBefore)
    .filter((r) => r.method === 'GET' && r.key?.includes(`/${topic}/data/`) && r.status < 300).length
  return { received, switches, segmentGets }
}

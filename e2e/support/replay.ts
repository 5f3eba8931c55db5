// The application's side of a story: an ArchiveConsumer replaying a topic from offset 0 — history from S3, then
// live records from Kafka — collecting every delivered message per partition in delivery order.
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { ArchiveConsumer, ArchiveEvents } from '@everlog/consumer'
import type { KafkaMessage, Producer } from 'kafkajs'
import { assertExactlyProduced, messageMismatch } from './records.js'
import type { ProducedLog } from './records.js'
import type { S3Endpoint, Stack } from './stack.js'

export interface Replay {
  /** Messages per partition in the order they were delivered. */
  received: Map<number, KafkaMessage[]>
  /** Per partition, the first offset the consumer took from Kafka (its archive.switch event). */
  switches: Map<number, bigint>
  /**
   * Segment GETs the S3 server answered while the consumer ran: the history really came from S3. Undefined for a
   * server that does not record requests (a third-party one).
   */
  segmentGets: number | undefined
}

/**
 * Replays `topic` with a new group until `total` messages arrived, then keeps running `settleMs` longer so a
 * duplicate delivered after the last expected message would be seen too.
 */
export async function replayFromZero(
  stack: Stack<S3Endpoint>,
  topic: string,
  total: number,
  settleMs = 1500,
): Promise<Replay> {
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
  const requests = 'requests' in stack.s3 ? (stack.s3 as unknown as Stack['s3']).requests : undefined
  const requestsBefore = requests?.length ?? 0
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
  const segmentGets = requests
    ?.slice(requestsBefore)
    .filter((r) => r.method === 'GET' && r.key?.includes(`/${topic}/data/`) && r.status < 300).length
  return { received, switches, segmentGets }
}

/**
 * The second half of every story: retention deletes from Kafka everything the archive holds (`boundary`, per
 * partition), `live` more records arrive, and an ArchiveConsumer from offset 0 must get every produced record once,
 * in order, byte for byte, taking the history from S3 and crossing into Kafka exactly at the boundary.
 */
export async function forgetHistoryAndReplay(
  t: TestContext,
  stack: Stack<S3Endpoint>,
  log: ProducedLog,
  producer: Producer,
  boundary: readonly bigint[],
  live: number,
): Promise<void> {
  const topic = log.topic
  for (const [p, b] of boundary.entries()) await stack.broker.deleteRecords(topic, p, b)
  const admin = stack.kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())
  for (const o of await admin.fetchTopicOffsets(topic)) {
    assert.equal(o.low, String(boundary[o.partition]), `Kafka's log of partition ${o.partition} starts at the boundary`)
  }
  await log.produce(producer, live, 50)

  const replay = await replayFromZero(stack, topic, log.count)
  assertExactlyProduced(log, replay.received, messageMismatch, 'the ArchiveConsumer replay from offset 0')
  boundary.forEach((b, p) => {
    // A partition with nothing archived has nothing to cross from.
    if (b > 0n) assert.equal(replay.switches.get(p), b, `partition ${p} crossed into Kafka at the archive's end`)
  })
  // Kafka no longer has the history (checked above), so it can only have come from S3; where the server counts
  // requests, see it did.
  if (replay.segmentGets !== undefined) assert.ok(replay.segmentGets > 0, 'the history was read from S3')
}

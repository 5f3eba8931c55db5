// The Kafka side of a restore: the target topic's existence, partitions and watermarks, creating it like the
// source, and reading back records a crashed run produced but did not get to record in the offset map.
import { randomUUID } from 'node:crypto'
import type { Admin, Kafka, KafkaMessage } from 'kafkajs'
import { RestoreConflictError } from './errors.js'

export interface Watermarks {
  partition: number
  low: bigint
  high: bigint
}

export interface TargetState {
  exists: boolean
  partitions: number
  /** By partition; zeros for a topic that does not exist yet. */
  watermarks: Map<number, Watermarks>
}

export async function describeTarget(admin: Admin, topic: string): Promise<TargetState> {
  const topics = await admin.listTopics()
  if (!topics.includes(topic)) return { exists: false, partitions: 0, watermarks: new Map() }
  const offsets = await admin.fetchTopicOffsets(topic)
  const watermarks = new Map<number, Watermarks>()
  for (const o of offsets) {
    watermarks.set(o.partition, { partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) })
  }
  return { exists: true, partitions: offsets.length, watermarks }
}

export async function createTarget(
  admin: Admin,
  topic: string,
  partitions: number,
  configs: Record<string, string>,
  replicationFactor: number | undefined,
): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic,
        numPartitions: partitions,
        ...(replicationFactor !== undefined ? { replicationFactor } : {}),
        configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
      },
    ],
  })
}

/**
 * The records at offsets [from, to) of each given partition, read with a throwaway consumer group that commits
 * nothing and is deleted afterwards. Bounded by the map's flush interval: at most what one run produced after its
 * last map commit.
 */
export async function readTargetRanges(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  ranges: Map<number, { from: bigint; to: bigint }>,
  timeoutMs = 60_000,
): Promise<Map<number, KafkaMessage[]>> {
  const out = new Map<number, KafkaMessage[]>([...ranges.keys()].map((p) => [p, []]))
  if (ranges.size === 0) return out
  const groupId = `everlog-restore-check-${randomUUID()}`
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false })
  const pending = new Set([...ranges].filter(([, r]) => r.to > r.from).map(([p]) => p))
  let done!: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  if (pending.size === 0) done()
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = ranges.get(batch.partition)
        if (range === undefined || !pending.has(batch.partition)) return
        const got = out.get(batch.partition)!
        for (const m of batch.messages) {
          const offset = BigInt(m.offset)
          const last = got.length === 0 ? -1n : BigInt(got[got.length - 1]!.offset)
          if (offset < range.from || offset >= range.to || offset <= last) continue
          got.push(m)
        }
        if (batch.messages.length > 0 && BigInt(batch.lastOffset()) >= range.to - 1n) {
          pending.delete(batch.partition)
          if (pending.size === 0) done()
        }
      },
    })
    for (const [partition, range] of ranges) consumer.seek({ topic, partition, offset: range.from.toString() })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RestoreConflictError(
              `could not read back offsets of "${topic}" partitions ${[...pending].join(',')} within ${timeoutMs} ms ` +
                'to reconcile the offset map; is the topic readable?',
            ),
          ),
        timeoutMs,
      )
    })
    try {
      await Promise.race([finished, timeout])
    } finally {
      clearTimeout(timer)
    }
  } finally {
    await consumer.disconnect().catch(() => {})
    await admin.deleteGroups([groupId]).catch(() => {})
  }
  return out
}

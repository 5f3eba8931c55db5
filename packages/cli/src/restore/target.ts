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
 * Hands the records at offsets [from, to) of each given partition to `onMessages`, in offset order, batch by batch
 * (awaited, so a slow check holds the fetches back and memory stays at one batch). Reads with a throwaway consumer
 * group that commits nothing and is deleted afterwards.
 */
export async function readTargetRanges(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  ranges: Map<number, { from: bigint; to: bigint }>,
  onMessages: (partition: number, messages: KafkaMessage[]) => Promise<void>,
  timeoutMs = 60_000,
): Promise<void> {
  const pending = new Set([...ranges].filter(([, r]) => r.to > r.from).map(([p]) => p))
  if (pending.size === 0) return
  const groupId = `everlog-restore-check-${randomUUID()}`
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false })
  const last = new Map<number, bigint>()
  let done!: () => void
  let failed!: (err: unknown) => void
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve
    failed = reject
  })
  let timer: NodeJS.Timeout | undefined
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = ranges.get(batch.partition)
        if (range === undefined || !pending.has(batch.partition)) return
        const seen = last.get(batch.partition) ?? range.from - 1n
        // Fetches before the seek took effect, and re-fetches, bring offsets outside the range or already seen.
        const wanted = batch.messages.filter((m) => {
          const o = BigInt(m.offset)
          return o > seen && o >= range.from && o < range.to
        })
        if (wanted.length > 0) {
          last.set(batch.partition, BigInt(wanted[wanted.length - 1]!.offset))
          try {
            await onMessages(batch.partition, wanted)
          } catch (err) {
            failed(err)
            return
          }
        }
        if (batch.messages.length > 0 && BigInt(batch.lastOffset()) >= range.to - 1n) {
          pending.delete(batch.partition)
          if (pending.size === 0) done()
        }
      },
    })
    for (const [partition, range] of ranges) consumer.seek({ topic, partition, offset: range.from.toString() })
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
    await Promise.race([finished, timeout])
  } finally {
    clearTimeout(timer)
    await consumer.disconnect().catch(() => {})
    await admin.deleteGroups([groupId]).catch(() => {})
  }
}

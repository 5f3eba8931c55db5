// Resolved and committed offsets of every assigned partition, whichever source serves it: the one place that
// decides what a commit sends, so archive and live progress are committed together and never regress.
import type { OffsetsByTopicPartition, TopicOffsets } from 'kafkajs'

export interface Entry {
  topic: string
  partition: number
  /** Next offset to consume (Kafka's committed-offset convention: one past the last processed record). */
  resolved: bigint
  committed: bigint | undefined
}

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`

export class OffsetBook {
  private readonly entries = new Map<string, Entry>()
  /** When the last commit went out, for autoCommitInterval. */
  lastCommit = Date.now()

  /** Marks everything before `next` as processed. */
  resolve(topic: string, partition: number, next: bigint): void {
    this.entry(topic, partition).resolved = next
  }

  /** The partition's entry (created at resolved -1, nothing processed); callers on the hot path set `resolved`. */
  entry(topic: string, partition: number): Entry {
    const key = keyOf(topic, partition)
    let entry = this.entries.get(key)
    if (!entry) this.entries.set(key, (entry = { topic, partition, resolved: -1n, committed: undefined }))
    return entry
  }

  resolved(topic: string, partition: number): bigint | undefined {
    return this.entries.get(keyOf(topic, partition))?.resolved
  }

  /** Records that Kafka now holds `next` for the partition (after a commit by us or a known committed offset). */
  committed(topic: string, partition: number, next: bigint): void {
    const key = keyOf(topic, partition)
    const entry = this.entries.get(key)
    if (entry) entry.committed = next
    else this.entries.set(key, { topic, partition, resolved: next, committed: next })
  }

  /** A revoked partition's progress belongs to its next owner. */
  forget(topic: string, partition: number): void {
    this.entries.delete(keyOf(topic, partition))
  }

  clear(): void {
    this.entries.clear()
  }

  /** kafkajs' uncommittedOffsets(): resolved offsets that differ from what was last committed. */
  uncommitted(): OffsetsByTopicPartition {
    const byTopic = new Map<string, TopicOffsets>()
    for (const e of this.entries.values()) {
      if (e.resolved === e.committed || e.resolved < 0n) continue
      let t = byTopic.get(e.topic)
      if (!t) byTopic.set(e.topic, (t = { topic: e.topic, partitions: [] }))
      t.partitions.push({ partition: e.partition, offset: e.resolved.toString() })
    }
    return { topics: [...byTopic.values()] }
  }

  /** Records resolved since the last commit, summed over partitions (kafkajs' autoCommitThreshold count). */
  pendingCount(): bigint {
    let n = 0n
    for (const e of this.entries.values()) n += e.committed === undefined ? e.resolved : e.resolved - e.committed
    return n
  }

  /** kafkajs' commitOffsetsIfNecessary rule: the interval elapsed or the threshold reached. */
  commitDue(interval: number | null, threshold: number | null, now = Date.now()): boolean {
    if (interval !== null && now >= this.lastCommit + interval) return true
    return threshold !== null && this.pendingCount() >= BigInt(threshold)
  }

  /** After a successful commit of `topics`. */
  markCommitted(topics: readonly TopicOffsets[]): void {
    for (const t of topics) for (const p of t.partitions) this.committed(t.topic, p.partition, BigInt(p.offset))
    this.lastCommit = Date.now()
  }
}

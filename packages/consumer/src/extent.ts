// What the archive and Kafka each hold of a partition, asked of the archive's HEAD and Kafka's ListOffsets.
import type { ArchiveReader } from '@everlog/core'
import type { Admin } from 'kafkajs'
import type { PartitionExtent } from './position.js'

export class Extents {
  private readonly offsetRequests = new Map<string, ReturnType<Admin['fetchTopicOffsets']>>()

  constructor(
    private readonly admin: Admin,
    private readonly reader: ArchiveReader,
  ) {}

  async extent(topic: string, partition: number): Promise<PartitionExtent> {
    const [head, kafka] = await Promise.all([this.archiveHead(topic, partition), this.kafkaRange(topic, partition)])
    const archive =
      head && head.firstOffset !== null && head.nextOffset > head.firstOffset
        ? { first: head.firstOffset, next: head.nextOffset }
        : undefined
    return { archive, kafka }
  }

  async archiveHead(topic: string, partition: number) {
    return this.reader.head(topic, partition)
  }

  async kafkaRange(topic: string, partition: number): Promise<PartitionExtent['kafka']> {
    const offsets = await this.topicOffsets(topic)
    const p = offsets.find((o) => o.partition === partition)
    if (!p) return { logStart: 0n, highWatermark: 0n }
    return { logStart: BigInt(p.low), highWatermark: BigInt(p.high) }
  }

  /**
   * Kafka's ListOffsets-by-time over the whole history: the first offset whose timestamp is >= `timestamp`, or the
   * high watermark when every record is older.
   */
  async offsetForTimestamp(topic: string, partition: number, timestamp: number | string): Promise<string> {
    const t = BigInt(timestamp)
    const [archived, live] = await Promise.all([
      this.archiveHead(topic, partition).then((head) =>
        head?.root ? this.reader.offsetForTimestamp(topic, partition, t) : undefined,
      ),
      this.admin.fetchTopicOffsetsByTimestamp(topic, Number(t)),
    ])
    const kafkaOffset = live.find((p) => p.partition === partition)
    const k = kafkaOffset ? BigInt(kafkaOffset.offset) : undefined
    // Both answers are "first at or after t" within their own range, so the smaller one is the first overall.
    let best = archived
    if (k !== undefined && k >= 0n && (best === undefined || k < best)) best = k
    if (best === undefined) best = (await this.kafkaRange(topic, partition)).highWatermark
    return best.toString()
  }

  /**
   * Kafka's offsets of every partition of `topic`. Partitions asking at once share one request: each answer covers
   * the whole topic, and a hundred partitions starting together would otherwise send a hundred.
   */
  private topicOffsets(topic: string): ReturnType<Admin['fetchTopicOffsets']> {
    let pending = this.offsetRequests.get(topic)
    if (!pending) {
      pending = this.admin.fetchTopicOffsets(topic)
      this.offsetRequests.set(topic, pending)
      const done = () => {
        if (this.offsetRequests.get(topic) === pending) this.offsetRequests.delete(topic)
      }
      pending.then(done, done)
    }
    return pending
  }
}

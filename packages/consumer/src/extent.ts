// What the archive and Kafka each hold of a partition, asked of the archive's HEAD and Kafka's ListOffsets.
import type { ArchiveReader } from '@everlog/core'
import type { Admin } from 'kafkajs'
import type { Head } from '@everlog/core'
import type { PartitionExtent } from './position.js'

type TopicOffsets = ReturnType<Admin['fetchTopicOffsets']>

export class Extents {
  private readonly offsetRequests = new Map<string, TopicOffsets>()
  /** The last answer for each topic and when its request was sent. */
  private readonly lastOffsets = new Map<string, { sentAt: number; offsets: TopicOffsets }>()

  constructor(
    private readonly admin: Admin,
    private readonly reader: ArchiveReader,
  ) {}

  /**
   * The partition's extent, and the HEAD it was read from (a read can start from it). `kafkaMaxAgeMs` lets Kafka's
   * offsets come from a request sent that recently (for any partition of the topic) instead of a new one.
   */
  async extent(
    topic: string,
    partition: number,
    kafkaMaxAgeMs = 0,
  ): Promise<PartitionExtent & { head: Head | undefined }> {
    const [head, kafka] = await Promise.all([
      this.archiveHead(topic, partition),
      this.kafkaRange(topic, partition, kafkaMaxAgeMs),
    ])
    const archive =
      head && head.firstOffset !== null && head.nextOffset > head.firstOffset
        ? { first: head.firstOffset, next: head.nextOffset }
        : undefined
    return { archive, kafka, head }
  }

  async archiveHead(topic: string, partition: number) {
    return this.reader.head(topic, partition)
  }

  async kafkaRange(topic: string, partition: number, maxAgeMs = 0): Promise<PartitionExtent['kafka']> {
    const offsets = await this.topicOffsets(topic, maxAgeMs)
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
   * the whole topic, and a hundred partitions starting together would otherwise send a hundred. With `maxAgeMs`, an
   * answer to a request sent that recently serves too: a hundred partitions reaching the archive's end one after
   * the other would otherwise each send one (two ListOffsets over the whole topic), a cost that grows with the
   * square of the partitions.
   */
  private topicOffsets(topic: string, maxAgeMs: number): TopicOffsets {
    const pending = this.offsetRequests.get(topic)
    if (pending) return pending
    const last = this.lastOffsets.get(topic)
    if (last && Date.now() - last.sentAt <= maxAgeMs) return last.offsets
    const sentAt = Date.now()
    const request = this.admin.fetchTopicOffsets(topic)
    this.offsetRequests.set(topic, request)
    request.then(
      () => {
        if (this.offsetRequests.get(topic) === request) this.offsetRequests.delete(topic)
        this.lastOffsets.set(topic, { sentAt, offsets: request })
      },
      () => {
        if (this.offsetRequests.get(topic) === request) this.offsetRequests.delete(topic)
      },
    )
    return request
  }
}

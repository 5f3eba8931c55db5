// Offset commits for every partition, whichever source served it: one commit at a time, in order, from the book.
import type { Offsets, TopicPartitionOffsetAndMetadata } from 'kafkajs'
import type { ConsumerState } from './state.js'

export class Commits {
  private chain: Promise<unknown> = Promise.resolve()

  constructor(private readonly s: ConsumerState) {}

  /** The user's commitOffsets: sent as given, and the book learns Kafka's new committed offsets. */
  async commitOffsets(topicPartitions: TopicPartitionOffsetAndMetadata[]): Promise<void> {
    await this.enqueue(async () => {
      await this.s.inner.commitOffsets(topicPartitions)
      for (const { topic, partition, offset } of topicPartitions)
        this.s.book.committed(topic, partition, BigInt(offset))
    })
  }

  /** Commits every resolved offset Kafka does not hold yet. */
  resolved(): Promise<void> {
    return this.enqueue(async () => {
      const { book, inner } = this.s
      const { topics } = book.uncommitted()
      if (topics.length === 0) {
        book.lastCommit = Date.now()
        return
      }
      await inner.commitOffsets(
        topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset }))),
      )
      book.markCommitted(topics)
    })
  }

  /** commitResolved, swallowing (and logging) a failure: the next commit sends the same offsets again. */
  resolvedQuietly(): Promise<void> {
    return this.resolved().catch((e) => this.s.logCommitError(e))
  }

  /** autoCommitInterval / autoCommitThreshold: commits when either is due. */
  async ifNecessary(): Promise<void> {
    const { autoCommitInterval, autoCommitThreshold } = this.s.runConfig
    if (this.s.book.commitDue(autoCommitInterval, autoCommitThreshold)) await this.resolved()
  }

  /** eachBatch's commitOffsetsIfNecessary(offsets). */
  async topics(offsets: Offsets): Promise<void> {
    await this.enqueue(async () => {
      await this.s.inner.commitOffsets(
        offsets.topics.flatMap((t) =>
          t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset })),
        ),
      )
      this.s.book.markCommitted(offsets.topics)
    })
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    // One commit at a time, in order: a slow earlier commit must never land after (and undo) a later one.
    const next = this.chain.then(fn, fn)
    this.chain = next.catch(() => {})
    return next
  }
}

// Where a partition's next offset comes from: the archive, Kafka, or nowhere. Pure decisions over the two ranges,
// so the boundary rules can be tested without a broker or a bucket.

export type ReadMode = 'archive-first' | 'kafka-first'

/** What the archive and Kafka hold of one partition at one moment. */
export interface PartitionExtent {
  /** Archived offsets [first, next): HEAD.firstOffset and HEAD.nextOffset; undefined when nothing is archived. */
  archive?: { first: bigint; next: bigint }
  /** Kafka's log start offset and high watermark. */
  kafka: { logStart: bigint; highWatermark: bigint }
}

export type SourceChoice =
  /** Read the archive from the position through `toOffset` (inclusive), then decide again. */
  | { kind: 'archive'; toOffset: bigint }
  /**
   * Consume from Kafka at the position. With `until`, only below it: the archive starts there and takes over again
   * (Kafka's offsets below it may be compaction holes, while the archive kept records Kafka has compacted since).
   */
  | { kind: 'kafka'; until?: bigint }
  /** Offsets [position, resumeAt) exist nowhere; resumeAt is the next offset that does. */
  | { kind: 'missing'; resumeAt: bigint }

/**
 * `archive-first` reads the archive whenever it covers the position, to keep history reads off the brokers;
 * `kafka-first` reads it only for offsets below Kafka's log start.
 */
export function chooseSource(position: bigint, extent: PartitionExtent, mode: ReadMode): SourceChoice {
  const { archive, kafka } = extent
  const inArchive = archive !== undefined && archive.first <= position && position < archive.next
  // At or past the log start Kafka serves the position (past the high watermark it waits or resets, as usual).
  const inKafka = position >= kafka.logStart
  if (mode === 'archive-first') {
    if (inArchive) return { kind: 'archive', toOffset: archive.next - 1n }
    // Below the archive's first record (a topic compacted, or archived from its end, before the archive began):
    // Kafka serves what it holds there, and the archive whatever it holds from its first offset on.
    if (inKafka && archive !== undefined && position < archive.first) return { kind: 'kafka', until: archive.first }
    if (inKafka) return { kind: 'kafka' }
  } else {
    if (inKafka) return { kind: 'kafka' }
    if (inArchive) {
      const end = archive.next < kafka.logStart ? archive.next : kafka.logStart
      return { kind: 'archive', toOffset: end - 1n }
    }
  }
  // Below Kafka's log start and outside the archive: resume at whichever holds the next offset first.
  let resumeAt = kafka.logStart
  if (archive !== undefined && archive.first > position && archive.first < resumeAt) resumeAt = archive.first
  return { kind: 'missing', resumeAt }
}

/** The earliest offset anyone can deliver: the archive's first offset when it precedes Kafka's log start. */
export function earliestOffset(extent: PartitionExtent): bigint {
  const { archive, kafka } = extent
  return archive !== undefined && archive.first < kafka.logStart ? archive.first : kafka.logStart
}

/**
 * A newly assigned partition's position: its committed offset, else the earliest offset (fromBeginning) or the
 * high watermark, like kafkajs' default offsets.
 */
export function initialPosition(
  committed: bigint | undefined,
  fromBeginning: boolean,
  extent: PartitionExtent,
): bigint {
  if (committed !== undefined && committed >= 0n) return committed
  return fromBeginning ? earliestOffset(extent) : extent.kafka.highWatermark
}

// Entries of the per-partition B+tree (DESIGN.md "Index"). Offsets and timestamps are bigint; counts and byte
// sizes are numbers (2^53 bytes per partition is far beyond any archive).

/** A leaf entry describing one immutable segment object. */
export interface SegmentEntry {
  kind: 'segment'
  /** Offset of the segment's first record. */
  firstOffset: bigint
  /** Offset of the segment's last record (holes inside are compaction/transaction holes, not gaps). */
  lastOffset: bigint
  records: number
  /** Size of the segment object in bytes. */
  bytes: number
  minTimestamp: bigint
  maxTimestamp: bigint
  /** Object key of the segment, relative to the store root. */
  key: string
}

/** A leaf entry describing offsets Kafka deleted before they could be archived. */
export interface GapEntry {
  kind: 'gap'
  firstOffset: bigint
  lastOffset: bigint
  /** Why the offsets are missing, e.g. "retention" — shown to users verbatim. */
  reason: string
}

export type LeafEntry = SegmentEntry | GapEntry

/** An internal entry: aggregates of a child subtree plus the child node's hash. */
export interface ChildEntry {
  firstOffset: bigint
  lastOffset: bigint
  records: number
  bytes: number
  segments: number
  gaps: number
  /** null when the subtree holds only gaps. */
  minTimestamp: bigint | null
  maxTimestamp: bigint | null
  /** sha256 of the child node's encoded bytes. */
  hash: string
}

export type IndexNode =
  { format: number; level: 0; entries: LeafEntry[] } | { format: number; level: number; children: ChildEntry[] }

/** HEAD: the only mutable object of a partition. JSON with bigints written as decimal strings. */
export interface Head {
  format: number
  /** Hash of the root node; null for a partition that has nothing yet. */
  root: string | null
  /** The offset the archiver resumes at: one past everything the archive covers. */
  nextOffset: bigint
  /** First offset covered (by a segment or a gap); null when empty. */
  firstOffset: bigint | null
  records: number
  bytes: number
  segments: number
  gaps: number
  minTimestamp: bigint | null
  maxTimestamp: bigint | null
  /** Free-form identity of the writer that committed this HEAD (e.g. "archiver@host:pid"), for operators. */
  writer: string
}

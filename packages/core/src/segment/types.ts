// Public shapes of the segment format: write options, the encoded result, and the footer-derived layout that
// lets a reader fetch one row group with a single ranged GET.
import type { ByteColumn } from './columns.js'

export type SegmentCompression = 'zstd' | 'snappy' | 'gzip' | 'lz4' | 'none'

export interface SegmentWriteOptions {
  topic: string
  partition: number
  /** Default 'zstd'. */
  compression?: SegmentCompression
  /** Upper bound of raw record bytes (key + value + headers) per row group. Default 4 MiB. */
  rowGroupBytes?: number
}

export interface EncodedSegment {
  bytes: Uint8Array
  sha256: string
  firstOffset: bigint
  lastOffset: bigint
  records: number
  /** Sum of rawRecordBytes() over the records. */
  rawBytes: number
  minTimestamp: bigint
  maxTimestamp: bigint
}

/** A column chunk inside an EncodedRowGroup: where it starts (relative to the group) and what it holds. */
export interface EncodedColumnChunk {
  /** Level entries (rows for a flat column). */
  count: number
  start: number
  /** Page header + page bytes, before and after compression. */
  uncompressed: number
  compressed: number
  /** Min/max as PLAIN bytes, for the columns engines prune by. */
  stats?: { min: Uint8Array; max: Uint8Array }
}

/**
 * One row group encoded and compressed but not yet placed in a file (encodeRowGroup -> assembleSegment). Plain
 * data: it survives structured clone, and `bytes` can be transferred between threads.
 */
export interface EncodedRowGroup {
  /** The group's column chunks back to back: page header + compressed page, in schema order. */
  bytes: Uint8Array
  columns: EncodedColumnChunk[]
  compression: SegmentCompression
  rows: number
  /** Sum of rawRecordBytes() over the rows. */
  rawBytes: number
  firstOffset: bigint
  lastOffset: bigint
  /** Kafka milliseconds (the column itself holds `timestampUnit`). */
  minTimestamp: bigint
  maxTimestamp: bigint
  timestampUnit: TimestampUnit
}

export interface RowGroupInfo {
  index: number
  firstOffset: bigint
  lastOffset: bigint
  records: number
  /** Kafka milliseconds, whatever unit the file stores (statistics of a microsecond column divided by 1000). */
  minTimestamp: bigint
  maxTimestamp: bigint
  /** First byte of the row group's column chunks in the object. */
  byteStart: number
  /** Exclusive end. */
  byteEnd: number
  /** The column chunks' bytes once decompressed: about what the row group takes in memory decoded. */
  uncompressedBytes: number
}

/**
 * The unit of a segment's Parquet timestamp column: 'us' (TIMESTAMP(MICROS, UTC), segment format 2) or 'ms'
 * (TIMESTAMP(MILLIS, UTC), format 1). Records, row-group bounds, metadata and the index are always in Kafka's
 * milliseconds: readers convert at the column.
 */
export type TimestampUnit = 'ms' | 'us'

export interface SegmentLayout {
  /** Size of the whole object in bytes. */
  size: number
  /** The file's key/value metadata (everlog.* keys and the writer's own). */
  metadata: Record<string, string>
  /** The timestamp column's unit as its footer declares it; `rowGroups` bounds are already milliseconds. */
  timestampUnit: TimestampUnit
  rowGroups: RowGroupInfo[]
  /** The object's Thrift footer, its length and the magic: what decoding a row group needs besides its bytes. */
  footer: Uint8Array
}

/**
 * A decoded row group column by column, for readers that build their own objects (ArchiveConsumer builds kafkajs
 * messages) without an ArchiveRecord, two BigInts and a header list per row. Keys, values and header values are
 * views over the decompressed pages. Row i's headers are entries headerStart[i] .. headerStart[i + 1] - 1.
 */
export interface RecordColumns {
  length: number
  offsets: BigInt64Array
  timestamps: BigInt64Array
  keys: (Buffer | null)[]
  values: (Buffer | null)[]
  headerStart: Int32Array
  headerKeys: string[]
  headerValues: (Buffer | null)[]
  /**
   * The same byte arrays as positions in the decoded pages, when the decoder kept them so (the arrays above are
   * then made on first use): a reader that builds its own objects makes each Buffer when it needs it.
   */
  bytes?: { keys: ByteColumn; values: ByteColumn; headerValues: ByteColumn }
}

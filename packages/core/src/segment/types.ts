// Public shapes of the segment format: write options, the encoded result, and the footer-derived layout that
// lets a reader fetch one row group with a single ranged GET.

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

export interface RowGroupInfo {
  index: number
  firstOffset: bigint
  lastOffset: bigint
  records: number
  minTimestamp: bigint
  maxTimestamp: bigint
  /** First byte of the row group's column chunks in the object. */
  byteStart: number
  /** Exclusive end. */
  byteEnd: number
}

export interface SegmentLayout {
  /** Size of the whole object in bytes. */
  size: number
  /** The file's key/value metadata (everlog.* keys and the writer's own). */
  metadata: Record<string, string>
  rowGroups: RowGroupInfo[]
  /** The object's Thrift footer, its length and the magic: what decoding a row group needs besides its bytes. */
  footer: Uint8Array
}

// The segment's Arrow schema, metadata keys and writer properties: the one place that fixes what a segment
// file looks like on disk (DESIGN.md "Segment format (Parquet)").
import * as arrow from 'apache-arrow'
import { Compression, EnabledStatistics, Encoding, WriterPropertiesBuilder, WriterVersion } from 'parquet-wasm'
import type { WriterProperties } from 'parquet-wasm'
import type { SegmentCompression } from './types.js'

export const DEFAULT_ROW_GROUP_BYTES = 4 * 1024 * 1024

export const MetadataKeys = {
  format: 'everlog.format',
  topic: 'everlog.topic',
  partition: 'everlog.partition',
  firstOffset: 'everlog.firstOffset',
  lastOffset: 'everlog.lastOffset',
  records: 'everlog.records',
  minTimestamp: 'everlog.minTimestamp',
  maxTimestamp: 'everlog.maxTimestamp',
} as const

export const Columns = ['offset', 'timestamp', 'key', 'value', 'headers'] as const

export const headerKeyType = new arrow.Utf8()
export const headerEntryType = new arrow.Struct([
  new arrow.Field('key', headerKeyType, false),
  new arrow.Field('value', new arrow.Binary(), true),
])
// 'element' is the Parquet spec's name for a LIST's item, so every engine sees the standard 3-level list.
export const headersType = new arrow.List(new arrow.Field('element', headerEntryType, false))

export const segmentSchema = new arrow.Schema([
  new arrow.Field('offset', new arrow.Int64(), false),
  new arrow.Field('timestamp', new arrow.TimestampMillisecond('UTC'), false),
  new arrow.Field('key', new arrow.Binary(), true),
  new arrow.Field('value', new arrow.Binary(), true),
  new arrow.Field('headers', headersType, false),
])

const codecs: Record<SegmentCompression, Compression> = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  gzip: Compression.GZIP,
  // LZ4 (the Hadoop-framed one) is deprecated by the Parquet spec; LZ4_RAW is what DuckDB, Trino and Spark read.
  lz4: Compression.LZ4_RAW,
  none: Compression.UNCOMPRESSED,
}

export function isSegmentCompression(c: unknown): c is SegmentCompression {
  return typeof c === 'string' && Object.hasOwn(codecs, c)
}

export function writerProperties(compression: SegmentCompression, metadata: Map<string, string>): WriterProperties {
  return (
    new WriterPropertiesBuilder()
      .setWriterVersion(WriterVersion.V1)
      .setCompression(codecs[compression])
      // Statistics only where engines prune (offset, time): min/max of values and keys would bloat the footer.
      .setStatisticsEnabled(EnabledStatistics.None)
      .setColumnStatisticsEnabled('offset', EnabledStatistics.Chunk)
      .setColumnStatisticsEnabled('timestamp', EnabledStatistics.Chunk)
      // Offsets and timestamps are near-sequential: delta encoding shrinks them to a few bits per record.
      .setColumnDictionaryEnabled('offset', false)
      .setColumnEncoding('offset', Encoding.DELTA_BINARY_PACKED)
      .setColumnDictionaryEnabled('timestamp', false)
      .setColumnEncoding('timestamp', Encoding.DELTA_BINARY_PACKED)
      .setColumnDictionaryEnabled('value', false)
      // Each record batch we hand over becomes exactly one row group: a 1-byte bound makes the writer flush after
      // every batch, and the row cap is lifted so it never splits one. We choose the batches by raw bytes.
      .setMaxRowGroupBytes(1)
      .setMaxRowGroupSize(0x7fffffff)
      .setKeyValueMetadata(metadata)
      .build()
  )
}

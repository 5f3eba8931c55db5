// The segment's metadata keys, compressions and Arrow schema (what a segment decodes to through parquet-wasm, the
// fallback reader). The Parquet schema itself is in parquet.ts (DESIGN.md "Segment format (Parquet)").
import type * as Arrow from 'apache-arrow'
import type { SegmentCompression, TimestampUnit } from './types.js'

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

/**
 * The Arrow types of a segment of the given timestamp unit (format 2: 'us', format 1: 'ms'), built with the caller's Arrow module (Arrow's classes are compared by instance, so
 * a test building tables with its own import of Arrow must not mix in another's).
 */
export function segmentArrowTypes(arrow: typeof Arrow, unit: TimestampUnit = 'us') {
  const headerKeyType = new arrow.Utf8()
  const headerEntryType = new arrow.Struct([
    new arrow.Field('key', headerKeyType, false),
    new arrow.Field('value', new arrow.Binary(), true),
  ])
  // 'element' is the Parquet spec's name for a LIST's item, so every engine sees the standard 3-level list.
  const headersType = new arrow.List(new arrow.Field('element', headerEntryType, false))
  const segmentSchema = new arrow.Schema([
    new arrow.Field('offset', new arrow.Int64(), false),
    new arrow.Field(
      'timestamp',
      unit === 'us' ? new arrow.TimestampMicrosecond('UTC') : new arrow.TimestampMillisecond('UTC'),
      false,
    ),
    new arrow.Field('key', new arrow.Binary(), true),
    new arrow.Field('value', new arrow.Binary(), true),
    new arrow.Field('headers', headersType, false),
  ])
  return { headerKeyType, headerEntryType, headersType, segmentSchema }
}

const compressions: readonly SegmentCompression[] = ['zstd', 'snappy', 'gzip', 'lz4', 'none']

/**
 * Engines known not to read segments written with a codec (README "Compression"): pyarrow, polars, DuckDB,
 * fastparquet, parquet-wasm, hyparquet and Spark read every codec in Everlog's cross-reader tests; Trino's Parquet
 * reader refuses LZ4_RAW ("Codec not supported"), and Amazon Athena (engine 3) is built on Trino.
 */
export const ENGINES_NOT_READING: Readonly<Record<SegmentCompression, readonly string[]>> = {
  zstd: [],
  snappy: [],
  gzip: [],
  lz4: ['Trino', 'Amazon Athena'],
  none: [],
}

export function isSegmentCompression(c: unknown): c is SegmentCompression {
  return typeof c === 'string' && (compressions as readonly string[]).includes(c)
}

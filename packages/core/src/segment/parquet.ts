// The Parquet vocabulary the segment writer and reader share: Thrift enum values from parquet.thrift, the
// segment's leaf columns with their levels, and builders for the Thrift structures the writer emits.
import { TType } from './thrift.js'
import type { TField, TStruct, TValue } from './thrift.js'
import type { TimestampUnit } from './types.js'

export const ParquetType = { INT64: 2, BYTE_ARRAY: 6 } as const
export const Repetition = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const
export const ConvertedType = { UTF8: 0, LIST: 3, TIMESTAMP_MILLIS: 9, TIMESTAMP_MICROS: 10 } as const
/** LogicalType TIMESTAMP's TimeUnit union: the field id of each unit. */
export const TimeUnitField = { MILLIS: 1, MICROS: 2, NANOS: 3 } as const
export const Encoding = { PLAIN: 0, RLE: 3, BIT_PACKED: 4 } as const
export const PageType = { DATA_PAGE: 0, DICTIONARY_PAGE: 2, DATA_PAGE_V2: 3 } as const
export const Codec = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, ZSTD: 6, LZ4_RAW: 7 } as const

/** A leaf column of the segment schema: its path and the maximum repetition and definition levels. */
export interface LeafColumn {
  path: readonly string[]
  type: number
  maxRep: number
  maxDef: number
}

/** The segment's leaves in schema order (DESIGN.md "Segment format"); headers is the standard 3-level LIST. */
export const LEAVES: readonly LeafColumn[] = [
  { path: ['offset'], type: ParquetType.INT64, maxRep: 0, maxDef: 0 },
  { path: ['timestamp'], type: ParquetType.INT64, maxRep: 0, maxDef: 0 },
  { path: ['key'], type: ParquetType.BYTE_ARRAY, maxRep: 0, maxDef: 1 },
  { path: ['value'], type: ParquetType.BYTE_ARRAY, maxRep: 0, maxDef: 1 },
  { path: ['headers', 'list', 'element', 'key'], type: ParquetType.BYTE_ARRAY, maxRep: 1, maxDef: 1 },
  { path: ['headers', 'list', 'element', 'value'], type: ParquetType.BYTE_ARRAY, maxRep: 1, maxDef: 2 },
]

// Small constructors so the structures below read like parquet.thrift.
export const i32 = (id: number, value: number): TField => ({ id, type: TType.I32, value: BigInt(value) })
export const i64 = (id: number, value: number | bigint): TField => ({ id, type: TType.I64, value: BigInt(value) })
export const bin = (id: number, value: Uint8Array | string): TField => ({
  id,
  type: TType.BINARY,
  value: typeof value === 'string' ? Buffer.from(value) : value,
})
export const struct = (id: number, fields: TField[]): TField => ({ id, type: TType.STRUCT, value: s(fields) })
export const list = (id: number, elemType: number, items: TValue[]): TField => ({
  id,
  type: TType.LIST,
  value: { kind: 'list', elemType, items },
})
export const bool = (id: number, value: boolean): TField => ({ id, type: value ? TType.TRUE : TType.FALSE, value })
export const s = (fields: TField[]): TStruct => ({ kind: 'struct', fields })

/**
 * The SchemaElements of a segment, root first, depth-first (parquet.thrift SchemaElement). The timestamp column is
 * TIMESTAMP(MICROS, UTC) from segment format 2 on, TIMESTAMP(MILLIS, UTC) in format 1 (SEGMENT_FORMAT_VERSION).
 */
export function segmentSchemaElements(unit: TimestampUnit = 'us'): TStruct[] {
  const leaf = (name: string, type: number, repetition: number, extra: TField[] = []) =>
    s([i32(1, type), i32(3, repetition), bin(4, name), ...extra])
  const group = (name: string, repetition: number, children: number, extra: TField[] = []) =>
    s([i32(3, repetition), bin(4, name), i32(5, children), ...extra])
  return [
    s([bin(4, 'schema'), i32(5, 5)]),
    leaf('offset', ParquetType.INT64, Repetition.REQUIRED),
    leaf('timestamp', ParquetType.INT64, Repetition.REQUIRED, [
      i32(6, unit === 'us' ? ConvertedType.TIMESTAMP_MICROS : ConvertedType.TIMESTAMP_MILLIS),
      // LogicalType.TIMESTAMP { isAdjustedToUTC: true, unit: MICROS (or MILLIS) }
      struct(10, [
        struct(8, [
          bool(1, true),
          struct(2, [struct(unit === 'us' ? TimeUnitField.MICROS : TimeUnitField.MILLIS, [])]),
        ]),
      ]),
    ]),
    leaf('key', ParquetType.BYTE_ARRAY, Repetition.OPTIONAL),
    leaf('value', ParquetType.BYTE_ARRAY, Repetition.OPTIONAL),
    group('headers', Repetition.REQUIRED, 1, [i32(6, ConvertedType.LIST), struct(10, [struct(3, [])])]),
    group('list', Repetition.REPEATED, 1),
    group('element', Repetition.REQUIRED, 2),
    leaf('key', ParquetType.BYTE_ARRAY, Repetition.REQUIRED, [i32(6, ConvertedType.UTF8), struct(10, [struct(1, [])])]),
    leaf('value', ParquetType.BYTE_ARRAY, Repetition.OPTIONAL),
  ]
}

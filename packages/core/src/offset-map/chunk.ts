// One chunk of an offset map as Parquet: (source_offset, target_offset) pairs of one partition, sorted, both
// strictly increasing. Same stack and determinism rules as segments: equal entries always give equal bytes.
import type * as Arrow from 'apache-arrow'
import { EverlogError, FormatError, IntegrityError, InvalidArgumentError, OffsetOrderError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { FORMAT_VERSION, validatePartition, validateTopicName } from '../layout.js'
import { apacheArrow, parquetWasm } from '../lazy-deps.js'
import { sortFooterMetadata } from '../segment/footer.js'

export const OffsetMapColumns = { source: 'source_offset', target: 'target_offset' } as const

function offsetMapSchema(arrow: typeof Arrow): Arrow.Schema {
  return new arrow.Schema([
    new arrow.Field(OffsetMapColumns.source, new arrow.Int64(), false),
    new arrow.Field(OffsetMapColumns.target, new arrow.Int64(), false),
  ])
}

export const OffsetMapMetadataKeys = {
  format: 'everlog.format',
  kind: 'everlog.kind',
  sourceTopic: 'everlog.sourceTopic',
  targetTopic: 'everlog.targetTopic',
  partition: 'everlog.partition',
  firstSourceOffset: 'everlog.firstSourceOffset',
  lastSourceOffset: 'everlog.lastSourceOffset',
  records: 'everlog.records',
} as const

/** Parallel arrays: entry i maps source[i] to target[i]. */
export interface OffsetMapEntries {
  source: BigInt64Array
  target: BigInt64Array
}

export interface EncodedOffsetMapChunk {
  bytes: Uint8Array
  sha256: string
  firstSourceOffset: bigint
  lastSourceOffset: bigint
  firstTargetOffset: bigint
  lastTargetOffset: bigint
  records: number
}

export interface OffsetMapChunkOptions {
  sourceTopic: string
  targetTopic: string
  partition: number
}

/** Both columns must be strictly increasing: a restore produces records in source order into one partition. */
export function checkOffsetMapEntries(entries: OffsetMapEntries, what: string): void {
  const { source, target } = entries
  if (source.length !== target.length) {
    throw new InvalidArgumentError(`${what}: ${source.length} source offsets but ${target.length} target offsets`)
  }
  for (let i = 0; i < source.length; i++) {
    if (source[i]! < 0n || target[i]! < 0n) {
      throw new InvalidArgumentError(`${what}: negative offset at entry ${i} (${source[i]} -> ${target[i]})`)
    }
    if (i > 0 && (source[i]! <= source[i - 1]! || target[i]! <= target[i - 1]!)) {
      throw new OffsetOrderError(
        `${what}: entries must increase in both offsets: ${source[i - 1]} -> ${target[i - 1]} is followed by ${source[i]} -> ${target[i]}`,
      )
    }
  }
}

export function encodeOffsetMapChunk(entries: OffsetMapEntries, options: OffsetMapChunkOptions): EncodedOffsetMapChunk {
  const sourceTopic = validateTopicName(options.sourceTopic)
  const targetTopic = validateTopicName(options.targetTopic)
  const partition = validatePartition(options.partition)
  const what = `offset map ${sourceTopic} -> ${targetTopic} partition ${partition}`
  const n = entries.source.length
  if (n === 0) throw new InvalidArgumentError(`${what}: cannot encode an empty chunk`)
  checkOffsetMapEntries(entries, what)
  const metadata = new Map<string, string>([
    [OffsetMapMetadataKeys.format, String(FORMAT_VERSION)],
    [OffsetMapMetadataKeys.kind, 'offset-map'],
    [OffsetMapMetadataKeys.sourceTopic, sourceTopic],
    [OffsetMapMetadataKeys.targetTopic, targetTopic],
    [OffsetMapMetadataKeys.partition, String(partition)],
    [OffsetMapMetadataKeys.firstSourceOffset, entries.source[0]!.toString()],
    [OffsetMapMetadataKeys.lastSourceOffset, entries.source[n - 1]!.toString()],
    [OffsetMapMetadataKeys.records, String(n)],
  ])
  const arrow = apacheArrow()
  const { Table: WasmTable, writeParquet } = parquetWasm()
  const schema = offsetMapSchema(arrow)
  const data = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length: n,
    nullCount: 0,
    children: [
      arrow.makeData({ type: new arrow.Int64(), length: n, nullCount: 0, data: entries.source }),
      arrow.makeData({ type: new arrow.Int64(), length: n, nullCount: 0, data: entries.target }),
    ],
  })
  const table = new arrow.Table(schema, [new arrow.RecordBatch(schema, data)])
  const ipc = arrow.tableToIPC(table, 'stream')
  const bytes = sortFooterMetadata(writeParquet(WasmTable.fromIPCStream(ipc), writerProperties(metadata)))
  return {
    bytes,
    sha256: sha256Hex(bytes),
    firstSourceOffset: entries.source[0]!,
    lastSourceOffset: entries.source[n - 1]!,
    firstTargetOffset: entries.target[0]!,
    lastTargetOffset: entries.target[n - 1]!,
    records: n,
  }
}

function writerProperties(metadata: Map<string, string>) {
  const { Compression, EnabledStatistics, Encoding, WriterPropertiesBuilder, WriterVersion } = parquetWasm()
  let builder = new WriterPropertiesBuilder()
    .setWriterVersion(WriterVersion.V1)
    .setCompression(Compression.ZSTD)
    .setStatisticsEnabled(EnabledStatistics.Chunk)
    .setMaxRowGroupSize(1 << 20)
    .setKeyValueMetadata(metadata)
  // Both columns are near-sequential: delta encoding stores a restore's map in a few bits per record.
  for (const column of Object.values(OffsetMapColumns)) {
    builder = builder.setColumnDictionaryEnabled(column, false).setColumnEncoding(column, Encoding.DELTA_BINARY_PACKED)
  }
  return builder.build()
}

export interface DecodeOffsetMapChunkOptions {
  expectedSha256?: string
  key?: string
}

export function decodeOffsetMapChunk(bytes: Uint8Array, options: DecodeOffsetMapChunkOptions = {}): OffsetMapEntries {
  const what = options.key ?? 'offset map chunk'
  if (options.expectedSha256 !== undefined) {
    const actual = sha256Hex(bytes)
    if (actual !== options.expectedSha256) {
      throw new IntegrityError(
        what,
        `${what} is corrupt: its bytes hash to ${actual}, expected ${options.expectedSha256}`,
      )
    }
  }
  const arrow = apacheArrow()
  let table: Arrow.Table
  try {
    table = arrow.tableFromIPC(parquetWasm().readParquet(bytes).intoIPCStream())
  } catch (err) {
    if (err instanceof EverlogError) throw err
    throw new FormatError(`${what} is not a readable Parquet offset map: ${(err as Error).message}`, { cause: err })
  }
  const n = table.numRows
  const column = (name: string): BigInt64Array => {
    const vector = table.getChild(name)
    if (vector === null || !arrow.DataType.isInt(vector.type) || vector.type.bitWidth !== 64 || vector.nullCount > 0) {
      throw new FormatError(`${what} is not an Everlog offset map: column "${name}" is missing or not a non-null int64`)
    }
    // One batch in practice; concatenating covers any number without per-value work.
    const out = new BigInt64Array(n)
    let at = 0
    for (const data of vector.data) {
      out.set((data.values as BigInt64Array).subarray(data.offset, data.offset + data.length), at)
      at += data.length
    }
    return out
  }
  const entries = { source: column(OffsetMapColumns.source), target: column(OffsetMapColumns.target) }
  try {
    checkOffsetMapEntries(entries, what)
  } catch (err) {
    throw new FormatError(`${what} is not a valid offset map: ${(err as Error).message}`, { cause: err })
  }
  return entries
}

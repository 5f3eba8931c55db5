// The native (JS) row-group decoder: PLAIN pages from Everlog's writer and from parquet-wasm (v1 and v2 pages,
// several pages per chunk, every codec) decode to exactly the records written; older layouts (delta, dictionary)
// fall back to parquet-wasm; corrupt pages fail with FormatError.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as arrow from 'apache-arrow'
import fc from 'fast-check'
import {
  Compression,
  EnabledStatistics,
  Encoding,
  Table as WasmTable,
  writeParquet,
  WriterPropertiesBuilder,
  WriterVersion,
} from 'parquet-wasm'
import { lz4CompressBlock, lz4DecompressBlock } from '../src/codecs/lz4.js'
import { snappyCompress, snappyDecompressBlock } from '../src/codecs/snappy.js'
import { zstdCompressSync, zstdDecompressSized } from '../src/codecs/zstd.js'
import { FormatError } from '../src/errors.js'
import type { ArchiveRecord } from '../src/record.js'
import { decodeRowGroupWasm, decodeSegment, layoutOf } from '../src/segment/decode.js'
import { encodeSegment } from '../src/segment/encode.js'
import { decodeRowGroupNative } from '../src/segment/native-decode.js'
import { MetadataKeys, segmentArrowTypes } from '../src/segment/schema.js'
import { decodeThriftStruct, getField, listItems } from '../src/segment/thrift.js'
import type { SegmentCompression } from '../src/segment/types.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const compressions: SegmentCompression[] = ['zstd', 'snappy', 'gzip', 'lz4', 'none']
const wasmCodecs: Record<SegmentCompression, Compression> = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  gzip: Compression.GZIP,
  lz4: Compression.LZ4_RAW,
  none: Compression.UNCOMPRESSED,
}

/** Nulls and empties in alternating patterns (so levels come as bit-packed runs too), unicode and null headers. */
function fixture(n: number, first = 1000n): ArchiveRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: first + BigInt(i * 3),
    timestamp: 1_700_000_000_000n + BigInt((i * 7919) % 1000) - 500n,
    key: i % 3 === 1 ? null : i % 11 === 0 ? Buffer.alloc(0) : Buffer.from(`customer-${i % 17}`),
    value: i % 5 === 2 ? null : Buffer.from(`{"id":${i},"pad":"${'x'.repeat((i * 37) % 300)}"}`),
    headers:
      i % 4 === 0
        ? []
        : i % 4 === 1
          ? [['trace-id', Buffer.from(i.toString(16))]]
          : [
              ['ключ-🔑', null],
              ['dup', Buffer.alloc(0)],
              ['dup', Buffer.from([i & 255, 0, 255])],
            ],
  }))
}

/** The records as an Arrow table of the format-1 segment schema (milliseconds), for parquet-wasm to write. */
const { headerEntryType, headersType, segmentSchema } = segmentArrowTypes(arrow, 'ms')

function arrowTable(records: ArchiveRecord[]): arrow.Table {
  const binary = <T extends arrow.Binary | arrow.Utf8>(type: T, items: (Buffer | null)[]) => {
    const offsets = new Int32Array(items.length + 1)
    const bitmap = new Uint8Array((items.length + 7) >> 3)
    let nulls = 0
    items.forEach((b, i) => {
      offsets[i + 1] = offsets[i]! + (b?.length ?? 0)
      if (b === null) nulls++
      else bitmap[i >> 3]! |= 1 << (i & 7)
    })
    const data = Buffer.concat(items.filter((b): b is Buffer => b !== null))
    return arrow.makeData({
      type: type as arrow.Binary,
      length: items.length,
      nullCount: nulls,
      nullBitmap: bitmap,
      valueOffsets: offsets,
      data,
    })
  }
  const headers = records.flatMap((r) => r.headers)
  const listOffsets = new Int32Array(records.length + 1)
  records.forEach((r, i) => (listOffsets[i + 1] = listOffsets[i]! + r.headers.length))
  const entries = arrow.makeData({
    type: headerEntryType,
    length: headers.length,
    nullCount: 0,
    children: [
      binary(
        new arrow.Utf8(),
        headers.map(([k]) => Buffer.from(k)),
      ),
      binary(
        new arrow.Binary(),
        headers.map(([, v]) => v),
      ),
    ],
  })
  const columns = [
    arrow.makeData({
      type: new arrow.Int64(),
      length: records.length,
      nullCount: 0,
      data: BigInt64Array.from(records, (r) => r.offset),
    }),
    arrow.makeData({
      type: new arrow.TimestampMillisecond('UTC'),
      length: records.length,
      nullCount: 0,
      data: BigInt64Array.from(records, (r) => r.timestamp),
    }),
    binary(
      new arrow.Binary(),
      records.map((r) => r.key),
    ),
    binary(
      new arrow.Binary(),
      records.map((r) => r.value),
    ),
    arrow.makeData({
      type: headersType,
      length: records.length,
      nullCount: 0,
      valueOffsets: listOffsets,
      child: entries,
    }),
  ]
  const struct = arrow.makeData({
    type: new arrow.Struct(segmentSchema.fields),
    length: records.length,
    nullCount: 0,
    children: columns,
  })
  return new arrow.Table(segmentSchema, [new arrow.RecordBatch(segmentSchema, struct)])
}

function metadata(records: ArchiveRecord[]): Map<string, string> {
  return new Map<string, string>([
    [MetadataKeys.format, '1'],
    [MetadataKeys.topic, 'orders'],
    [MetadataKeys.partition, '0'],
  ])
    .set(MetadataKeys.firstOffset, records[0]!.offset.toString())
    .set(MetadataKeys.lastOffset, records.at(-1)!.offset.toString())
    .set(MetadataKeys.records, String(records.length))
}

/** A file written by parquet-wasm; `plain` asks for Everlog's PLAIN layout, otherwise the old writer's. */
function wasmFile(
  records: ArchiveRecord[],
  compression: SegmentCompression,
  options: { plain: boolean; version?: WriterVersion; pageBytes?: number },
): Uint8Array {
  let props = new WriterPropertiesBuilder()
    .setWriterVersion(options.version ?? WriterVersion.V1)
    .setCompression(wasmCodecs[compression])
    .setStatisticsEnabled(EnabledStatistics.None)
    .setColumnStatisticsEnabled('offset', EnabledStatistics.Chunk)
    .setColumnStatisticsEnabled('timestamp', EnabledStatistics.Chunk)
    .setKeyValueMetadata(metadata(records))
  if (options.plain) {
    props = props.setDictionaryEnabled(false).setEncoding(Encoding.PLAIN)
  } else {
    // The writer properties of Everlog's first segment format.
    props = props
      .setColumnDictionaryEnabled('offset', false)
      .setColumnEncoding('offset', Encoding.DELTA_BINARY_PACKED)
      .setColumnDictionaryEnabled('timestamp', false)
      .setColumnEncoding('timestamp', Encoding.DELTA_BINARY_PACKED)
      .setColumnDictionaryEnabled('value', false)
  }
  if (options.pageBytes !== undefined) props = props.setDataPageSizeLimit(options.pageBytes).setWriteBatchSize(16)
  const ipc = arrow.tableToIPC(arrowTable(records), 'stream')
  return writeParquet(WasmTable.fromIPCStream(ipc), props.build())
}

/** Decodes every row group natively (failing if any would need the fallback). */
function decodeNatively(bytes: Uint8Array): ArchiveRecord[] {
  const layout = layoutOf(bytes, 'test')
  const out: ArchiveRecord[] = []
  for (const rg of layout.rowGroups) {
    const native = decodeRowGroupNative(layout, rg.index, bytes.subarray(rg.byteStart, rg.byteEnd), 'test', out)
    assert.equal(native, true, `row group ${rg.index} was not decoded natively`)
  }
  return out
}

/** Data pages of the first row group's value column, from the writer's page encoding stats. */
function valuePages(bytes: Uint8Array): number {
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 8, true)
  const meta = decodeThriftStruct(bytes.subarray(bytes.length - 8 - len, bytes.length - 8))
  const cmd = getField(listItems(getField(listItems(getField(meta, 4))[0], 1))[3], 3)
  let pages = 0
  for (const stats of listItems(getField(cmd, 13))) {
    const type = getField(stats, 1)
    if (type === 0n || type === 3n) pages += Number(getField(stats, 3))
  }
  return pages
}

describe('native row-group decoder', () => {
  const records = fixture(400)

  for (const compression of compressions) {
    it(`decodes Everlog's own ${compression} segments to exactly the records written, as views`, () => {
      const enc = encodeSegment(records, { topic: 'orders', partition: 0, compression, rowGroupBytes: 8000 })
      assert.ok(layoutOf(enc.bytes, 'test').rowGroups.length > 3)
      const out = decodeNatively(enc.bytes)
      assert.deepEqual(out, records)
      assert.deepEqual(decodeSegment(enc.bytes, { expectedSha256: enc.sha256 }), records)
      // Values share their page's buffer instead of each owning a copy.
      assert.equal(out[0]!.value!.buffer, out[1]!.value!.buffer)
    })
  }

  for (const version of [WriterVersion.V1, WriterVersion.V2]) {
    for (const compression of compressions) {
      it(`decodes parquet-wasm PLAIN ${compression} files with v${version + 1} pages, several per chunk`, () => {
        const file = wasmFile(records, compression, { plain: true, version, pageBytes: 512 })
        assert.ok(valuePages(file) > 3)
        assert.deepEqual(decodeNatively(file), records)
        assert.deepEqual(decodeSegment(file), records)
      })
    }
  }

  it('agrees with parquet-wasm on every row group of the same files', () => {
    for (const compression of compressions) {
      const bytes = encodeSegment(records, { topic: 'orders', partition: 0, compression, rowGroupBytes: 8000 }).bytes
      const layout = layoutOf(bytes, 'test')
      for (const rg of layout.rowGroups) {
        const chunk = bytes.subarray(rg.byteStart, rg.byteEnd)
        const native: ArchiveRecord[] = []
        assert.ok(decodeRowGroupNative(layout, rg.index, chunk, 'test', native))
        assert.deepEqual(native, decodeRowGroupWasm(layout, rg.index, chunk, 'test', []))
      }
    }
  })

  it('decodes a record with a 1 MiB value and a page of all-null keys', () => {
    const big: ArchiveRecord[] = [
      { offset: 0n, timestamp: 0n, key: null, value: Buffer.alloc(1 << 20, 7), headers: [] },
      { offset: 1n, timestamp: 1n, key: null, value: null, headers: [['h', null]] },
    ]
    for (const compression of compressions) {
      const enc = encodeSegment(big, { topic: 'orders', partition: 0, compression })
      assert.deepEqual(decodeNatively(enc.bytes), big)
    }
  })

  it('leaves older layouts (delta-encoded offsets, dictionary keys) to parquet-wasm, which still reads them', () => {
    for (const compression of compressions) {
      const file = wasmFile(records, compression, { plain: false })
      const layout = layoutOf(file, 'test')
      const rg = layout.rowGroups[0]!
      const out: ArchiveRecord[] = []
      assert.equal(decodeRowGroupNative(layout, 0, file.subarray(rg.byteStart, rg.byteEnd), 'test', out), false)
      assert.equal(out.length, 0)
      assert.deepEqual(decodeSegment(file), records)
    }
  })
})

describe('native row-group decoder on corrupt pages', () => {
  const records = fixture(60)
  const plain = Buffer.from(encodeSegment(records, { topic: 'orders', partition: 0, compression: 'none' }).bytes)
  const valueAt = plain.indexOf(records[0]!.value!)
  const keyAt = plain.indexOf(Buffer.from('customer-0'))

  it('refuses a value length that runs past its page', () => {
    const b = Buffer.from(plain)
    b.writeUInt32LE(0x7fffff00, valueAt - 4)
    assert.throws(() => decodeSegment(b), FormatError)
  })

  it('refuses a page whose value count disagrees with the row group', () => {
    // Drop the last key: the key chunk now ends one value short of the level count.
    const b = Buffer.from(plain)
    b.writeUInt32LE(records[0]!.key!.length + 4, keyAt - 4)
    assert.throws(() => decodeSegment(b), FormatError)
  })

  for (const compression of compressions) {
    it(`any byte flipped inside ${compression} pages: the records or FormatError, never another error`, () => {
      const bytes = Buffer.from(encodeSegment(records, { topic: 'orders', partition: 0, compression }).bytes)
      const layout = layoutOf(bytes, 'test')
      const { byteStart, byteEnd } = layout.rowGroups[0]!
      let refused = 0
      fc.assert(
        fc.property(
          fc.array(
            fc.record({ at: fc.integer({ min: byteStart, max: byteEnd - 1 }), xor: fc.integer({ min: 1, max: 255 }) }),
            {
              minLength: 1,
              maxLength: 3,
            },
          ),
          (flips) => {
            const b = Buffer.from(bytes)
            for (const f of flips) b[f.at]! ^= f.xor
            try {
              // The native decoder itself, for every codec (decodeSegment sends some to parquet-wasm); the layout
              // is the intact one, as a reader that fetched the footer and then a corrupt row group would have.
              const { byteStart: start, byteEnd: end } = layout.rowGroups[0]!
              decodeRowGroupNative(layout, 0, b.subarray(start, end), 'test', [])
            } catch (err) {
              assert.ok(err instanceof FormatError, `untyped failure: ${String(err)}`)
              refused++
            }
          },
        ),
        { numRuns: LONG ? 5000 : 200, seed: 7 },
      )
      assert.ok(refused > 0)
    })
  }
})

describe('page decompressors with a known size', () => {
  const data = Buffer.concat([
    Buffer.from('{"id":1,"type":"alpha"}'.repeat(300)),
    Buffer.alloc(5000),
    Buffer.from([1, 2, 3]),
  ])

  it('zstd: decodes frames with and without a declared content size, refuses any other size', () => {
    const frame = zstdCompressSync(data)
    assert.deepEqual(zstdDecompressSized(frame, data.length), data)
    // The same frame with its content size left out (as streaming compressors write it): window descriptor 2^17.
    const fhd = frame[4]!
    const single = (fhd & 0x20) !== 0
    const fcsBytes = fhd >> 6 === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fhd >> 6]!
    const headerEnd = 5 + (single ? 0 : 1) + (fhd & 3 ? [0, 1, 2, 4][fhd & 3]! : 0) + fcsBytes
    const bare = Buffer.concat([frame.subarray(0, 4), Buffer.from([fhd & 0x04, 7 << 3]), frame.subarray(headerEnd)])
    assert.deepEqual(zstdDecompressSized(bare, data.length), data)
    assert.throws(() => zstdDecompressSized(bare, data.length - 1), FormatError)
    assert.throws(() => zstdDecompressSized(frame, data.length + 1), FormatError)
    // A size no frame of this length can produce is refused before anything is allocated for it.
    assert.throws(() => zstdDecompressSized(frame.subarray(0, 8), 2 ** 31 - 1), FormatError)
    assert.throws(() => zstdDecompressSized(Buffer.from('not zstd at all'), 10), FormatError)
  })

  it('lz4 and snappy blocks: round trips, including long overlapping matches; truncation is refused', () => {
    const lz4 = lz4CompressBlock(data)
    assert.deepEqual(lz4DecompressBlock(lz4, data.length), data)
    assert.throws(() => lz4DecompressBlock(lz4, data.length + 1), FormatError)
    assert.throws(() => lz4DecompressBlock(lz4.subarray(0, lz4.length - 3), data.length), FormatError)
    const snappy = snappyCompress(data)
    assert.deepEqual(snappyDecompressBlock(snappy), data)
    assert.throws(() => snappyDecompressBlock(snappy.subarray(0, snappy.length - 3)), FormatError)
  })
})

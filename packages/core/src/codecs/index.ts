// Kafka's compression codecs for kafkajs, which ships gzip only. Core does not depend on kafkajs: callers pass
// kafkajs' `CompressionCodecs` table in, so every package registers the same implementations.
import { gunzipSync } from 'node:zlib'
import { FormatError } from '../errors.js'
import { lz4Compress, lz4Decompress } from './lz4.js'
import { snappyCompress, snappyDecompress } from './snappy.js'
import { zstdCompress, zstdDecompress } from './zstd.js'

export { lz4Compress, lz4CompressBlock, lz4Decompress } from './lz4.js'
export { snappyCompress, snappyDecompress } from './snappy.js'
export { zstdCompress, zstdCompressSync, zstdDecompress } from './zstd.js'

/** kafkajs' codec shape: `compress` receives its encoder (whose `.buffer` holds the records). */
export interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>
  decompress(buffer: Buffer): Promise<Buffer>
}
export type KafkaCodecFactory = () => KafkaCodec

/** kafkajs' CompressionTypes values (the Kafka attribute bits). */
export const KafkaCompression = { None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 } as const

export const kafkaCodecs: Record<2 | 3 | 4, KafkaCodecFactory> = {
  [KafkaCompression.Snappy]: () => ({
    compress: async (e) => snappyCompress(e.buffer),
    decompress: async (b) => snappyDecompress(b),
  }),
  [KafkaCompression.LZ4]: () => ({
    compress: async (e) => lz4Compress(e.buffer),
    decompress: async (b) => lz4Decompress(b),
  }),
  [KafkaCompression.ZSTD]: () => ({
    compress: async (e) => zstdCompress(e.buffer),
    decompress: async (b) => zstdDecompress(b),
  }),
}

/** Registers snappy, lz4 and zstd into kafkajs: `registerKafkaCodecs(CompressionCodecs)` from 'kafkajs'. */
export function registerKafkaCodecs(table: Record<number, unknown>): void {
  for (const [type, factory] of Object.entries(kafkaCodecs)) table[Number(type)] = factory
}

/**
 * Decompresses the records section of a Kafka record batch; `codec` is the low three bits of the batch attributes.
 * Synchronous: callers decode fetched batches in one pass and the codecs are native or WASM calls anyway.
 */
export function decompressKafka(codec: number, body: Buffer): Buffer {
  switch (codec) {
    case KafkaCompression.None:
      return body
    case KafkaCompression.GZIP:
      return gunzipSync(body)
    case KafkaCompression.Snappy:
      return snappyDecompress(body)
    case KafkaCompression.LZ4:
      return lz4Decompress(body)
    case KafkaCompression.ZSTD:
      return zstdDecompress(body)
    default:
      throw new FormatError(`unknown compression codec ${codec} in a Kafka record batch's attributes`)
  }
}

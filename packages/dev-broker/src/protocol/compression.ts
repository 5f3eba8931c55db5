// Decompresses a batch's records section, only for the paths that must read records (compaction, timestamp
// lookup). Produce and Fetch pass compressed batches through untouched.

import { gunzipSync } from 'node:zlib'
import { lz4Decompress, snappyDecompress, zstdDecompress } from '@everlog/core'
import { ATTR_COMPRESSION_MASK, BATCH, type BatchInfo, type DecodedRecord, decodeRecords } from './record-batch.js'

export function decompressRecords(attributes: number, body: Buffer): Buffer {
  switch (attributes & ATTR_COMPRESSION_MASK) {
    case 0:
      return body
    case 1:
      return gunzipSync(body)
    case 2:
      return snappyDecompress(body)
    case 3:
      return lz4Decompress(body)
    case 4:
      return zstdDecompress(body)
    default:
      throw new Error(`unknown compression codec ${attributes & ATTR_COMPRESSION_MASK} in record batch attributes`)
  }
}

/** Every record of one stored batch, decompressed when needed. */
export function batchRecords(info: BatchInfo, batch: Buffer): DecodedRecord[] {
  return decodeRecords(info, decompressRecords(info.attributes, batch.subarray(BATCH.records)))
}

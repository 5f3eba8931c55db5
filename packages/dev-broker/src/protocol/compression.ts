// Decompresses a batch's records section, only for the paths that must read records (compaction, timestamp
// lookup). Produce and Fetch pass compressed batches through untouched.

import { decompressKafka } from '@everlog/core'
import { ATTR_COMPRESSION_MASK, BATCH, type BatchInfo, type DecodedRecord, decodeRecords } from './record-batch.js'

/** Every record of one stored batch, decompressed when needed. */
export function batchRecords(info: BatchInfo, batch: Buffer): DecodedRecord[] {
  return decodeRecords(info, decompressKafka(info.attributes & ATTR_COMPRESSION_MASK, batch.subarray(BATCH.records)))
}

// Decompresses a batch's records section, only for the paths that must read records (compaction, timestamp
// lookup). Produce and Fetch pass compressed batches through untouched.

import { KafkaBatch, KafkaBatchAttributes, decompressKafka } from '@everlog/core'
import { type BatchInfo, type DecodedRecord, decodeRecords } from './record-batch.js'

/** Every record of one stored batch, decompressed when needed. */
export function batchRecords(info: BatchInfo, batch: Buffer): DecodedRecord[] {
  return decodeRecords(
    info,
    decompressKafka(info.attributes & KafkaBatchAttributes.compression, batch.subarray(KafkaBatch.records)),
  )
}

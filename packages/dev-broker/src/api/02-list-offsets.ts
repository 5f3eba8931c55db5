// ListOffsets: earliest (-2), latest (-1, or the last stable offset for read_committed) and by timestamp.
//
// ListOffsets Request (Version: 0) => replica_id INT32 [topics]
//   topics => name STRING [partitions]   partitions => partition_index INT32 timestamp INT64 max_num_offsets INT32
// ListOffsets Request (Version: 1) => replica_id INT32 [topics]   (partitions => partition_index timestamp)
// ListOffsets Request (Version: 2-5) => replica_id INT32 isolation_level INT8 [topics]
//   partitions => partition_index INT32 [v4+ current_leader_epoch INT32] timestamp INT64
// ListOffsets Response (Version: 0) => [topics]
//   topics => name STRING [partitions]   partitions => partition_index INT32 error_code INT16 [old_style_offsets INT64]
// ListOffsets Response (Version: 1-5) => [v2+ throttle_time_ms INT32] [topics]
//   partitions => partition_index INT32 error_code INT16 timestamp INT64 offset INT64 [v4+ leader_epoch INT32]

import { KafkaErrors } from '../protocol/errors.js'
import { batchRecords } from '../protocol/compression.js'
import { readBatchInfo } from '../protocol/record-batch.js'
import type { ApiModule } from '../registry.js'
import type { PartitionLog } from '../state/log.js'

const LATEST = -1
const EARLIEST = -2

/**
 * First offset whose record timestamp is >= ts (Kafka's rule), with that timestamp; -1/-1 when none. Transaction
 * markers count, as in Kafka: a marker carries the time it was written, so a lookup by a time older than the
 * marker can answer the marker's offset (consumers skip it).
 */
export function offsetForTimestamp(log: PartitionLog, ts: number, upTo: number): { offset: number; timestamp: number } {
  for (const b of log.batches) {
    if (b.base >= upTo) break
    if (b.maxTimestamp < ts) continue
    const info = readBatchInfo(b.buf)
    if ((info.attributes & 0x08) !== 0)
      return { offset: Math.max(b.base, log.logStartOffset), timestamp: b.maxTimestamp }
    for (const rec of batchRecords(info, b.buf)) {
      if (rec.timestamp >= ts && rec.offset >= log.logStartOffset && rec.offset < upTo) {
        return { offset: rec.offset, timestamp: rec.timestamp }
      }
    }
  }
  return { offset: -1, timestamp: -1 }
}

export const listOffsets: ApiModule = {
  apiKey: 2,
  name: 'ListOffsets',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const v = ctx.version
    r.int32()
    const readCommitted = v >= 2 ? r.int8() === 1 : false
    const topics = r.array(false, (r) => {
      const name = r.string()
      const partitions = r.array(false, (r) => {
        const index = r.int32()
        if (v >= 4) r.int32()
        const timestamp = r.int64n()
        if (v === 0) r.int32()
        let error = ctx.injectedError ?? 0
        let offset = -1
        let ts = -1
        const log = ctx.state.partition(name, index)
        if (error === 0 && log === undefined) error = KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code
        if (error === 0 && log !== undefined) {
          const end = readCommitted ? log.lastStableOffset : log.highWatermark
          if (timestamp === LATEST) offset = end
          else if (timestamp === EARLIEST) offset = log.logStartOffset
          else ({ offset, timestamp: ts } = offsetForTimestamp(log, timestamp, end))
        }
        return { index, error, offset, ts }
      })
      return { name, partitions }
    })
    if (v >= 2) w.int32(0)
    w.int32(topics.length)
    for (const t of topics) {
      w.string(t.name).int32(t.partitions.length)
      for (const p of t.partitions) {
        w.int32(p.index).int16(p.error)
        if (v === 0) {
          if (p.error === 0 && p.offset >= 0) w.int32(1).int64(p.offset)
          else w.int32(0)
        } else {
          w.int64(p.ts).int64(p.offset)
          if (v >= 4) w.int32(0)
        }
      }
    }
  },
}

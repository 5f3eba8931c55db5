// DeleteRecords: move a partition's log start forward (whole batches below it are dropped).
//
// DeleteRecords Request (Version: 0-1) => [topics] timeout_ms INT32
//   topics => name STRING [partitions]    partitions => partition_index INT32 offset INT64 (-1 = high watermark)
// DeleteRecords Response (Version: 0-1) => throttle_time_ms INT32 [topics]
//   topics => name STRING [partitions]    partitions => partition_index INT32 low_watermark INT64 error_code INT16

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'

export const deleteRecords: ApiModule = {
  apiKey: 21,
  name: 'DeleteRecords',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const topics = r.array(false, (r) => {
      const name = r.string()
      const partitions = r.array(false, (r) => {
        const index = r.int32()
        const requested = r.int64n()
        const log = ctx.state.partition(name, index)
        let error = ctx.injectedError ?? 0
        if (error === 0 && log === undefined) error = KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code
        if (error === 0 && log !== undefined) {
          const offset = requested === -1 ? log.highWatermark : requested
          if (offset < 0 || offset > log.highWatermark) error = KafkaErrors.OFFSET_OUT_OF_RANGE.code
          else {
            log.truncateBefore(offset)
            ctx.state.changed()
          }
        }
        return { index, error, lowWatermark: log === undefined || error !== 0 ? -1 : log.logStartOffset }
      })
      return { name, partitions }
    })
    r.int32()
    w.int32(0)
    w.array(false, topics, (w, t) => {
      w.string(t.name)
      w.array(false, t.partitions, (w, p) => w.int32(p.index).int64(p.lowWatermark).int16(p.error))
    })
  },
}

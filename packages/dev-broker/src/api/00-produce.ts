// Produce: append record batches (v2, stored as sent) to partition logs.
//
// Produce Request (Version: 0-2) => acks timeout_ms [topic_data]
// Produce Request (Version: 3-8) => transactional_id acks timeout_ms [topic_data]
//   transactional_id => NULLABLE_STRING    acks => INT16    timeout_ms => INT32
//   topic_data => name STRING [partition_data]
//     partition_data => index INT32 records RECORDS (NULLABLE_BYTES)
// Produce Response (Version: 0-8) => [responses] [v1+ throttle_time_ms INT32]
//   responses => name STRING [partition_responses]
//     partition_responses => index INT32 error_code INT16 base_offset INT64 [v2+ log_append_time_ms INT64]
//                            [v5+ log_start_offset INT64] [v8+ [record_errors] error_message NULLABLE_STRING]
//       record_errors => batch_index INT32 batch_index_error_message NULLABLE_STRING
// Only record batch v2 (magic 2) is stored: a v0/v1 message set gets UNSUPPORTED_FOR_MESSAGE_FORMAT. Versions 0-2
// are still claimed because librdkafka derives features from them (it only compresses when Produce v2 exists).

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import { type AppendResult, appendRecords } from '../state/append.js'

export const produce: ApiModule = {
  apiKey: 0,
  name: 'Produce',
  minVersion: 0,
  maxVersion: 8,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const v = ctx.version
    const transactionalId = v >= 3 ? r.nullableString() : null
    const acks = r.int16()
    r.int32() // timeout_ms: appends are synchronous here
    const badAcks = acks !== -1 && acks !== 0 && acks !== 1
    const topics = r.array(false, (r) => {
      const name = r.string()
      const partitions = r.array(false, (r) => {
        const index = r.int32()
        const records = r.nullableBytes()
        let result: AppendResult
        if (ctx.injectedError !== undefined || badAcks) {
          const error = ctx.injectedError ?? KafkaErrors.INVALID_REQUIRED_ACKS.code
          result = { error, message: null, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 }
        } else {
          result = appendRecords(ctx.state, name, index, records, transactionalId)
        }
        return { index, result }
      })
      return { name, partitions }
    })
    if (acks === 0) {
      ctx.noResponse()
      return
    }
    w.int32(topics.length)
    for (const t of topics) {
      w.string(t.name).int32(t.partitions.length)
      for (const { index, result } of t.partitions) {
        w.int32(index).int16(result.error).int64(result.baseOffset)
        if (v >= 2) w.int64(result.logAppendTime)
        if (v >= 5) w.int64(result.logStartOffset)
        if (v >= 8) w.int32(0).nullableString(result.message)
      }
    }
    if (v >= 1) w.int32(0)
  },
}

// AddPartitionsToTxn: the partitions a transaction will write to (they get a marker at EndTxn).
//
// AddPartitionsToTxn Request (Version: 0-1) => transactional_id STRING producer_id INT64 producer_epoch INT16
//     [topics]    topics => name STRING [partitions INT32]
// AddPartitionsToTxn Response (Version: 0-1) => throttle_time_ms INT32 [results]
//   results => name STRING [results]    results => partition_index INT32 error_code INT16

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'

export const addPartitionsToTxn: ApiModule = {
  apiKey: 24,
  name: 'AddPartitionsToTxn',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const transactionalId = r.string()
    const producerId = r.int64()
    const epoch = r.int16()
    const topics = r.array(false, (r) => ({ name: r.string(), partitions: r.array(false, (r) => r.int32()) }))
    const txns = ctx.state.transactions
    const found = txns.lookup(transactionalId, producerId, epoch)
    const topError = ctx.injectedError ?? found.error
    // Kafka adds all or nothing: one unknown partition fails the others with OPERATION_NOT_ATTEMPTED
    const unknown = topics.some((t) => t.partitions.some((p) => ctx.state.partition(t.name, p) === undefined))
    const results = topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        if (topError !== 0) return { p, error: topError }
        if (unknown) {
          return {
            p,
            error:
              ctx.state.partition(t.name, p) === undefined
                ? KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code
                : KafkaErrors.OPERATION_NOT_ATTEMPTED.code,
          }
        }
        return { p, error: txns.addPartitions(found.txn!, t.name, p) }
      }),
    }))
    w.int32(0)
    w.array(false, results, (w, t) => {
      w.string(t.name)
      w.array(false, t.partitions, (w, x) => w.int32(x.p).int16(x.error))
    })
  },
}

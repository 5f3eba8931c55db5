// AddOffsetsToTxn: a consumer group whose offsets (TxnOffsetCommit) become visible only when the txn commits.
//
// AddOffsetsToTxn Request (Version: 0-1) => transactional_id STRING producer_id INT64 producer_epoch INT16
//                                           group_id STRING
// AddOffsetsToTxn Response (Version: 0-1) => throttle_time_ms INT32 error_code INT16

import type { ApiModule } from '../registry.js'

export const addOffsetsToTxn: ApiModule = {
  apiKey: 25,
  name: 'AddOffsetsToTxn',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const transactionalId = r.string()
    const producerId = r.int64()
    const epoch = r.int16()
    const groupId = r.string()
    const txns = ctx.state.transactions
    const found = txns.lookup(transactionalId, producerId, epoch)
    let error = ctx.injectedError ?? found.error
    if (error === 0) error = txns.addOffsets(found.txn!, groupId)
    w.int32(0).int16(error)
  },
}

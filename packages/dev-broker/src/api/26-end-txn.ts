// EndTxn: commit or abort; writes a COMMIT/ABORT control batch to every partition of the transaction.
//
// EndTxn Request (Version: 0-1) => transactional_id STRING producer_id INT64 producer_epoch INT16
//                                  committed BOOLEAN
// EndTxn Response (Version: 0-1) => throttle_time_ms INT32 error_code INT16

import type { ApiModule } from '../registry.js'

export const endTxn: ApiModule = {
  apiKey: 26,
  name: 'EndTxn',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const transactionalId = r.string()
    const producerId = r.int64()
    const epoch = r.int16()
    const commit = r.bool()
    const txns = ctx.state.transactions
    const found = txns.lookup(transactionalId, producerId, epoch)
    let error = ctx.injectedError ?? found.error
    if (error === 0) error = txns.endTxn(found.txn!, commit)
    w.int32(0).int16(error)
  },
}

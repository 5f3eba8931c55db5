// InitProducerId: a producer id for idempotence; for a transactional id, the same id with a bumped epoch
// (fencing older producers and aborting their open transaction).
//
// InitProducerId Request (Version: 0-1) => transactional_id NULLABLE_STRING transaction_timeout_ms INT32
// InitProducerId Response (Version: 0-1) => throttle_time_ms INT32 error_code INT16 producer_id INT64
//                                           producer_epoch INT16

import type { ApiModule } from '../registry.js'

export const initProducerId: ApiModule = {
  apiKey: 22,
  name: 'InitProducerId',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const transactionalId = r.nullableString()
    const timeoutMs = r.int32()
    const res =
      ctx.injectedError !== undefined
        ? { error: ctx.injectedError, producerId: -1n, epoch: -1 }
        : ctx.state.transactions.initProducerId(transactionalId, timeoutMs)
    w.int32(0).int16(res.error).int64(res.producerId).int16(res.epoch)
  },
}

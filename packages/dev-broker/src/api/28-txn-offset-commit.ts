// TxnOffsetCommit: a transactional producer commits a consumer group's offsets as part of its transaction; they
// become visible when EndTxn commits (GroupCoordinator.completeTransaction) and vanish on abort.
//
// TxnOffsetCommit Request (Version: 0-1) => transactional_id group_id producer_id producer_epoch [topics]
//   topics => name [partitions]
//     partitions => partition_index committed_offset committed_metadata(NULLABLE)
// TxnOffsetCommit Request (Version: 2) => same; partitions gain committed_leader_epoch after committed_offset
// TxnOffsetCommit Request (Version: 3) => transactional_id group_id producer_id producer_epoch generation_id
//   member_id group_instance_id [topics] TAG_BUFFER   (compact, TAG_BUFFERs)
// TxnOffsetCommit Response (Version: 0-2) => throttle_time_ms [topics]
//   topics => name [partitions]
//     partitions => partition_index error_code
// TxnOffsetCommit Response (Version: 3) => same, compact, TAG_BUFFERs

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import { commitChecked, readOffsetTopics, writeOutcome } from './08-offset-commit.js'

export const txnOffsetCommit: ApiModule = {
  apiKey: 28,
  name: 'TxnOffsetCommit',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 3,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const transactionalId = r.str(f)
    const groupId = r.str(f)
    const producerId = r.int64()
    const producerEpoch = r.int16()
    const generationId = v >= 3 ? r.int32() : -1
    const memberId = v >= 3 ? r.str(f) : ''
    const groupInstanceId = v >= 3 ? r.nstr(f) : null
    const topics = readOffsetTopics(r, ctx, (r) => (v >= 2 ? r.int32() : -1))
    r.taggedFields(f)

    // a fenced or unknown producer must not slip offsets into someone else's transaction, and offsets outside an
    // AddOffsetsToTxn would never be completed by EndTxn
    const { error: lookupError, txn } = ctx.state.transactions.lookup(transactionalId, producerId, producerEpoch)
    const fenced =
      ctx.injectedError ??
      (lookupError !== 0 || txn === undefined
        ? lookupError
        : txn.ongoing && txn.groups.has(groupId)
          ? 0
          : KafkaErrors.INVALID_TXN_STATE.code)
    const outcome = commitChecked(
      ctx,
      topics,
      (offsets) =>
        ctx.state.groups.txnCommitOffsets({
          groupId,
          producerId,
          producerEpoch,
          generationId,
          memberId,
          groupInstanceId,
          offsets,
        }),
      fenced === 0 ? undefined : fenced,
    )
    w.int32(0)
    writeOutcome(w, ctx, topics, outcome)
  },
}

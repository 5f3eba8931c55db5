// Idempotent-producer sequence checks, per partition and producer id, as Kafka does them: the next batch must
// continue the last sequence. A retry of one of the last five batches is not appended again and, as in Kafka since
// 1.0, is acknowledged with the original batch's offset, so a producer retrying after a lost answer succeeds.

import { KafkaErrors } from '../protocol/errors.js'
import type { BatchInfo } from '../protocol/record-batch.js'
import type { PartitionLog } from './log.js'

const RECENT_BATCHES = 5
const SEQ_MODULO = 2 ** 31

export interface SequenceVerdict {
  error: number
  /** Base offset of the original batch when this one is a duplicate (then error is 0 and nothing is appended). */
  duplicateOf?: number
}

export function lastSequence(info: BatchInfo): number {
  return (info.baseSequence + info.lastOffsetDelta) % SEQ_MODULO
}

export function checkSequence(log: PartitionLog, info: BatchInfo): SequenceVerdict {
  const s = log.producers.get(info.producerId)
  if (s === undefined || info.producerEpoch > s.epoch) {
    return info.baseSequence === 0 ? { error: 0 } : { error: KafkaErrors.OUT_OF_ORDER_SEQUENCE_NUMBER.code }
  }
  if (info.producerEpoch < s.epoch) return { error: KafkaErrors.INVALID_PRODUCER_EPOCH.code }
  const last = lastSequence(info)
  const dup = s.recent.find((x) => x.firstSeq === info.baseSequence && x.lastSeq === last)
  if (dup !== undefined) return { error: 0, duplicateOf: dup.base }
  if (info.baseSequence !== (s.lastSeq + 1) % SEQ_MODULO) {
    return { error: KafkaErrors.OUT_OF_ORDER_SEQUENCE_NUMBER.code }
  }
  return { error: 0 }
}

/** Records an appended batch (also used when replaying a persisted log). */
export function recordSequence(log: PartitionLog, info: BatchInfo, base: number): void {
  let s = log.producers.get(info.producerId)
  if (s === undefined || info.producerEpoch > s.epoch) {
    s = { epoch: info.producerEpoch, lastSeq: -1, recent: [] }
    log.producers.set(info.producerId, s)
  }
  const last = lastSequence(info)
  s.lastSeq = last
  s.recent.push({ firstSeq: info.baseSequence, lastSeq: last, base })
  if (s.recent.length > RECENT_BATCHES) s.recent.shift()
}

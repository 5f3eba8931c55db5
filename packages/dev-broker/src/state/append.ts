// The produce path for one partition: verify every batch (CRC32C, magic, size, producer sequence and transaction
// state) before appending any, then append them as produced with broker-assigned offsets.

import { KafkaErrors } from '../protocol/errors.js'
import { KafkaBatchAttributes } from '@everlog/core'
import { readBatchInfo, splitBatches } from '../protocol/record-batch.js'
import type { BrokerState } from './broker-state.js'
import { checkSequence, recordSequence } from './producers.js'

export interface AppendResult {
  error: number
  message: string | null
  baseOffset: number
  /** Broker time when the topic uses LogAppendTime, else -1. */
  logAppendTime: number
  logStartOffset: number
}

export function appendRecords(
  state: BrokerState,
  topicName: string,
  partition: number,
  records: Buffer | null,
  transactionalId: string | null,
): AppendResult {
  const fail = (error: number, message: string | null = null, baseOffset = -1): AppendResult => ({
    error,
    message,
    baseOffset,
    logAppendTime: -1,
    logStartOffset: log?.logStartOffset ?? -1,
  })
  const topic = state.topics.get(topicName)
  const log = topic?.partitions[partition]
  if (topic === undefined || log === undefined) return fail(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code)
  if (records === null || records.length === 0) return fail(KafkaErrors.CORRUPT_MESSAGE.code, 'no record batch sent')
  const split = splitBatches(records)
  if (split.error !== undefined) {
    const code = split.error.includes('magic')
      ? KafkaErrors.UNSUPPORTED_FOR_MESSAGE_FORMAT.code
      : KafkaErrors.CORRUPT_MESSAGE.code
    return fail(code, `${topicName}/${partition}: ${split.error}`)
  }
  const maxBytes = topic.numberConfig('max.message.bytes')
  const infos = split.batches.map((b) => readBatchInfo(b))
  for (let i = 0; i < infos.length; i++) {
    const info = infos[i]!
    if (split.batches[i]!.length > maxBytes) {
      return fail(KafkaErrors.MESSAGE_TOO_LARGE.code, `batch of ${split.batches[i]!.length} bytes > max.message.bytes`)
    }
    const transactional = (info.attributes & KafkaBatchAttributes.transactional) !== 0
    if (transactional) {
      if (transactionalId === null) return fail(KafkaErrors.INVALID_REQUEST.code, 'transactional batch without id')
      const e = state.transactions.validateProduce(info.producerId, info.producerEpoch, topicName, partition)
      if (e !== 0) return fail(e)
    }
  }
  const now = state.now()
  const logAppendTime = topic.logAppendTime
  let baseOffset = -1
  let appended = 0
  for (let i = 0; i < infos.length; i++) {
    const info = infos[i]!
    if (info.producerId >= 0n) {
      // checked batch by batch: a request may carry several consecutive batches of one producer
      const verdict = checkSequence(log, info)
      if (verdict.error !== 0) return fail(verdict.error)
      if (verdict.duplicateOf !== undefined) {
        if (i === 0) baseOffset = verdict.duplicateOf
        continue
      }
    }
    const stored = log.append(split.batches[i]!, now, logAppendTime)
    appended++
    if (i === 0) baseOffset = stored.base
    if (info.producerId >= 0n) recordSequence(log, info, stored.base)
    if (stored.transactional && !log.openTxns.has(info.producerId)) log.openTxns.set(info.producerId, stored.base)
  }
  if (appended > 0) {
    state.notifyAppend(topicName)
    state.changed()
  }
  return {
    error: 0,
    message: null,
    baseOffset,
    logAppendTime: logAppendTime ? now : -1,
    logStartOffset: log.logStartOffset,
  }
}

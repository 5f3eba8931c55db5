// Retention and compaction, run on a timer and on demand.
// Retention (cleanup.policy contains delete) drops whole batches from the head while they are older than
// retention.ms (by their max timestamp) or the log exceeds retention.bytes, and moves log start.
// Compaction (cleanup.policy contains compact) keeps the latest record per key below the last stable offset,
// rewriting partly kept batches uncompressed with their original base and last offsets, so real offset holes
// remain. Chosen for a dev broker: tombstones (null values) are kept as the latest record of their key, keyless
// records are kept, control markers are kept, records of aborted transactions are removed.

import { batchRecords } from '../protocol/compression.js'
import { type DecodedRecord, encodeBatch, readBatchInfo } from '../protocol/record-batch.js'
import type { BrokerState, Topic } from './broker-state.js'
import type { PartitionLog, StoredBatch } from './log.js'

function selected(state: BrokerState, topic: string | undefined): Topic[] {
  if (topic === undefined) return [...state.topics.values()]
  const t = state.topics.get(topic)
  if (t === undefined) throw new Error(`dev broker: no topic '${topic}'`)
  return [t]
}

/** Applies retention.ms / retention.bytes; returns the number of batches removed. */
export function applyRetention(state: BrokerState, topic?: string): number {
  const now = state.now()
  let removed = 0
  for (const t of selected(state, topic)) {
    if (!t.deletes) continue
    const retentionMs = t.numberConfig('retention.ms')
    const retentionBytes = t.numberConfig('retention.bytes')
    for (const log of t.partitions) {
      let k = 0
      let bytes = log.sizeBytes
      while (k < log.batches.length) {
        const b = log.batches[k]!
        const expired = retentionMs >= 0 && b.maxTimestamp < now - retentionMs
        const oversize = retentionBytes >= 0 && bytes > retentionBytes
        if (!expired && !oversize) break
        bytes -= b.buf.length
        k++
      }
      if (k === 0) continue
      log.truncateBefore(k < log.batches.length ? log.batches[k]!.base : log.nextOffset)
      removed += k
    }
  }
  if (removed > 0) state.changed()
  return removed
}

function isAborted(log: PartitionLog, b: StoredBatch): boolean {
  if (!b.transactional || b.control) return false
  return log.aborted.some((a) => a.producerId === b.producerId && a.firstOffset <= b.base && a.lastOffset > b.base)
}

/** Compacts one partition; returns the number of records removed. */
export function compactLog(log: PartitionLog): number {
  const limit = log.lastStableOffset
  const cleanable = log.batches.filter((b) => b.last < limit)
  const latest = new Map<string, number>()
  const decoded = new Map<StoredBatch, DecodedRecord[]>()
  for (const b of cleanable) {
    if (b.control || isAborted(log, b)) continue
    const records = batchRecords(readBatchInfo(b.buf), b.buf)
    decoded.set(b, records)
    for (const r of records) if (r.key !== null) latest.set(r.key.toString('latin1'), r.offset)
  }
  let removed = 0
  const out: StoredBatch[] = []
  for (const b of log.batches) {
    if (b.last >= limit || b.control) {
      out.push(b)
      continue
    }
    if (isAborted(log, b)) {
      removed += readBatchInfo(b.buf).recordCount
      continue
    }
    const records = decoded.get(b)!
    const kept = records.filter((r) => r.key === null || latest.get(r.key.toString('latin1')) === r.offset)
    removed += records.length - kept.length
    if (kept.length === records.length) out.push(b)
    else if (kept.length > 0) {
      const info = readBatchInfo(b.buf)
      const logAppendTime = (info.attributes & 0x08) !== 0
      const buf = encodeBatch(kept, {
        baseOffset: b.base,
        lastOffset: b.last,
        attributes: info.attributes,
        producerId: info.producerId,
        producerEpoch: info.producerEpoch,
        baseSequence: info.baseSequence,
        partitionLeaderEpoch: b.buf.readInt32BE(12),
        ...(logAppendTime ? { maxTimestamp: b.maxTimestamp } : {}),
      })
      out.push({ ...b, buf })
    }
  }
  if (removed > 0) {
    log.batches = out
    log.sizeBytes = out.reduce((n, b) => n + b.buf.length, 0)
    log.rewritten = true
  }
  return removed
}

/** Compacts every cleanup.policy=compact topic (or the one named); returns the number of records removed. */
export async function compactTopic(state: BrokerState, topic?: string): Promise<number> {
  let removed = 0
  for (const t of selected(state, topic)) {
    if (!t.compacted) continue
    for (const log of t.partitions) removed += compactLog(log)
  }
  if (removed > 0) state.changed()
  return removed
}

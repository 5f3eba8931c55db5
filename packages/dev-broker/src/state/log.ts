// One partition's log: record batches kept exactly as produced (base offset assigned by the broker), log start,
// high watermark, open/aborted transactions and per-producer sequence state for idempotence.

import { KafkaBatch, KafkaBatchAttributes } from '@everlog/core'
import { fixCrc } from '../protocol/record-batch.js'

export interface StoredBatch {
  /** First offset covered by the batch (its baseOffset). */
  readonly base: number
  /** Last offset covered (baseOffset + lastOffsetDelta); compaction keeps this so offset holes stay real. */
  readonly last: number
  readonly buf: Buffer
  readonly maxTimestamp: number
  readonly producerId: bigint
  readonly transactional: boolean
  readonly control: boolean
  readonly appendedAt: number
}

export interface AbortedTxn {
  readonly producerId: bigint
  readonly firstOffset: number
  /** Offset of the ABORT marker. */
  readonly lastOffset: number
}

export interface ProducerSequence {
  epoch: number
  lastSeq: number
  /** The last few batches (Kafka keeps 5) to recognise retried duplicates. */
  recent: Array<{ firstSeq: number; lastSeq: number; base: number }>
}

export class PartitionLog {
  readonly topic: string
  readonly partition: number
  batches: StoredBatch[] = []
  logStartOffset = 0
  /** Next offset to assign; with one replica it is also the high watermark. */
  nextOffset = 0
  sizeBytes = 0
  aborted: AbortedTxn[] = []
  /** producerId -> first offset of its open transaction here. */
  readonly openTxns = new Map<bigint, number>()
  readonly producers = new Map<bigint, ProducerSequence>()
  /** Set when batches were removed or rewritten (not only appended), so persistence rewrites the file. */
  rewritten = false

  constructor(topic: string, partition: number) {
    this.topic = topic
    this.partition = partition
  }

  get highWatermark(): number {
    return this.nextOffset
  }

  /** First offset of the oldest open transaction, else the high watermark. */
  get lastStableOffset(): number {
    let lso = this.nextOffset
    for (const first of this.openTxns.values()) if (first < lso) lso = first
    return lso
  }

  /**
   * Appends one produced batch (a view into the request frame, which the broker owns), rewriting its baseOffset
   * and, for LogAppendTime topics, its max timestamp. A small view into a big buffer is copied so the log does
   * not pin whole socket reads.
   */
  append(src: Buffer, now: number, logAppendTime: boolean): StoredBatch {
    let buf = src
    if (src.length * 2 < src.buffer.byteLength) {
      buf = Buffer.allocUnsafe(src.length)
      src.copy(buf)
    }
    const base = this.nextOffset
    buf.writeBigInt64BE(BigInt(base), KafkaBatch.baseOffset)
    const attributes = buf.readInt16BE(KafkaBatch.attributes)
    let maxTimestamp = Number(buf.readBigInt64BE(KafkaBatch.maxTimestamp))
    if (logAppendTime) {
      maxTimestamp = now
      buf.writeInt16BE(attributes | KafkaBatchAttributes.logAppendTime, KafkaBatch.attributes)
      buf.writeBigInt64BE(BigInt(now), KafkaBatch.maxTimestamp)
      fixCrc(buf)
    }
    return this.appendStored(buf, base, base + buf.readInt32BE(KafkaBatch.lastOffsetDelta), maxTimestamp, now)
  }

  /** Appends a batch whose offsets are already assigned (markers, restore from disk). */
  appendStored(buf: Buffer, base: number, last: number, maxTimestamp: number, now: number): StoredBatch {
    const attributes = buf.readInt16BE(KafkaBatch.attributes)
    const b: StoredBatch = {
      base,
      last,
      buf,
      maxTimestamp,
      producerId: buf.readBigInt64BE(KafkaBatch.producerId),
      transactional: (attributes & 0x10) !== 0,
      control: (attributes & 0x20) !== 0,
      appendedAt: now,
    }
    this.batches.push(b)
    this.sizeBytes += buf.length
    this.nextOffset = last + 1
    return b
  }

  /** Index of the first batch whose last offset is >= offset (batches.length if none). */
  indexOf(offset: number): number {
    let lo = 0
    let hi = this.batches.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.batches[mid]!.last < offset) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * Whole batches from `offset` up to (excluding) `upTo`, about `maxBytes` of them but always at least one when
   * any exists (Kafka's rule so a big batch can never block a consumer).
   */
  read(offset: number, upTo: number, maxBytes: number, atLeastOne: boolean): { chunks: Buffer[]; bytes: number } {
    const chunks: Buffer[] = []
    let bytes = 0
    for (let i = this.indexOf(offset); i < this.batches.length; i++) {
      const b = this.batches[i]!
      if (b.base >= upTo) break
      if (b.last >= upTo) break // a batch straddling the LSO is not yet readable as a whole
      if (bytes + b.buf.length > maxBytes && (bytes > 0 || !atLeastOne)) break
      chunks.push(b.buf)
      bytes += b.buf.length
    }
    return { chunks, bytes }
  }

  /** Drops whole batches entirely below `offset` and moves log start there (DeleteRecords, retention). */
  truncateBefore(offset: number): void {
    if (offset <= this.logStartOffset) return
    const keepFrom = this.indexOf(offset)
    for (let i = 0; i < keepFrom; i++) this.sizeBytes -= this.batches[i]!.buf.length
    this.batches = this.batches.slice(keepFrom)
    this.rewritten = true
    this.logStartOffset = Math.min(offset, this.nextOffset)
    this.aborted = this.aborted.filter((a) => a.lastOffset >= this.logStartOffset)
  }

  /** Aborted transactions overlapping [from, to) for read_committed Fetch. */
  abortedIn(from: number, to: number): AbortedTxn[] {
    if (this.aborted.length === 0) return []
    return this.aborted.filter((a) => a.lastOffset >= from && a.firstOffset < to)
  }
}

// Kafka record batches (magic 2) as a read_committed fetch returns them, read without kafkajs: the archiver walks the
// batches of a partition's records, drops control batches and aborted transactional data the way Kafka's own consumer
// does, and reads each record's offset and timestamp so its key, value and headers can be copied straight into the
// packed buffer. No object is made per record.
import { FormatError, KAFKA_BATCH_LOG_OVERHEAD, KafkaBatch, KafkaBatchAttributes, decompressKafka } from '@everlog/core'

/** A control record's key is (version int16, type int16); type 0 ends a transaction by aborting it. */
const ABORT_MARKER = 0

export interface AbortedTransaction {
  producerId: bigint
  firstOffset: bigint
}

/** One batch whose records are to be archived. */
export interface ArchivableBatch {
  baseOffset: number
  lastOffset: number
  baseTimestamp: number
  /** Set when the topic uses LogAppendTime: every record then carries the batch's max timestamp. */
  appendTime: number | undefined
  recordCount: number
  /** The records section, decompressed. */
  records: Buffer
}

/**
 * Bounds-checked reads of Kafka's wire primitives over one buffer. A short or lying buffer throws a FormatError:
 * a broken fetch response must never turn into wrong records in the archive.
 */
export class WireReader {
  buf: Buffer = EMPTY
  pos = 0
  end = 0

  reset(buf: Buffer, pos = 0, end = buf.length): this {
    this.buf = buf
    this.pos = pos
    this.end = end
    return this
  }

  /** A zigzag varint (int32). */
  varint(): number {
    const buf = this.buf
    let pos = this.pos
    let raw = 0
    let shift = 0
    for (;;) {
      if (pos >= this.end || shift > 28) throw this.malformed('varint')
      const b = buf[pos++]!
      raw |= (b & 0x7f) << shift
      if (b < 0x80) break
      shift += 7
    }
    this.pos = pos
    return (raw >>> 1) ^ -(raw & 1)
  }

  /** A zigzag varlong (int64) as a number: timestamp deltas, far inside 2^53. */
  varlong(): number {
    const buf = this.buf
    let pos = this.pos
    let raw = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (pos >= this.end || i > 9) throw this.malformed('varlong')
      const b = buf[pos++]!
      raw += (b & 0x7f) * scale
      if (b < 0x80) break
      scale *= 128
    }
    this.pos = pos
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2
  }

  int8(): number {
    return this.buf.readInt8(this.need(1))
  }
  int16(): number {
    return this.buf.readInt16BE(this.need(2))
  }
  int32(): number {
    return this.buf.readInt32BE(this.need(4))
  }
  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8))
  }
  /** A length-prefixed (int16) UTF-8 string; null as ''. */
  string(): string {
    const len = this.int16()
    if (len < 0) return ''
    const at = this.need(len)
    return this.buf.toString('utf8', at, at + len)
  }
  /** Takes the next `n` bytes: moves past them and returns where they start. */
  take(n: number): number {
    return this.need(n)
  }

  private need(n: number): number {
    const at = this.pos
    if (n < 0 || at + n > this.end) throw this.malformed(`${n} bytes`)
    this.pos = at + n
    return at
  }

  malformed(what: string): FormatError {
    return new FormatError(
      `Kafka sent a malformed fetch response: reading ${what} at byte ${this.pos} of ${this.end}; nothing of it was archived`,
    )
  }
}

const EMPTY = Buffer.alloc(0)

/**
 * Walks the record batches of one partition's fetched `records`, calls `visit` for every batch holding records to
 * archive, and returns the offset after the last whole batch (-1 when there is none): the next fetch offset, past
 * control batches and aborted data too. A batch cut off at the end of the response (the broker fills up to the byte
 * limit) is left for the next fetch.
 *
 * Transactions follow Kafka's consumer: `aborted` (from the fetch response) names each aborted producer and the
 * first offset of its aborted data; a producer's transactional batches are dropped from that offset until its abort
 * marker.
 */
export function forEachArchivableBatch(
  records: Buffer,
  aborted: readonly AbortedTransaction[] | null,
  visit: (batch: ArchivableBatch) => void,
): number {
  let next = -1
  let at = 0
  const pending = aborted && aborted.length > 0 ? [...aborted].sort(byFirstOffset) : []
  let p = 0
  let abortedProducers: Set<bigint> | undefined
  while (records.length - at >= KafkaBatch.records) {
    const total = KAFKA_BATCH_LOG_OVERHEAD + records.readInt32BE(at + KafkaBatch.batchLength)
    if (total < KafkaBatch.records) throw malformedBatch(at, `length ${total - KAFKA_BATCH_LOG_OVERHEAD}`)
    if (at + total > records.length) break
    const magic = records.readInt8(at + KafkaBatch.magic)
    if (magic !== 2) {
      throw new FormatError(
        `Kafka returned a record batch in message format v${magic} (written before Kafka 0.11); the archiver reads ` +
          'format v2 only: convert the topic (message.format.version) or archive it with a newer log',
      )
    }
    const baseOffset = safeNumber(records.readBigInt64BE(at), 'base offset')
    const lastOffset = baseOffset + records.readInt32BE(at + KafkaBatch.lastOffsetDelta)
    const attributes = records.readInt16BE(at + KafkaBatch.attributes)
    const producerId = records.readBigInt64BE(at + KafkaBatch.producerId)
    let skip = (attributes & KafkaBatchAttributes.control) !== 0
    if (producerId >= 0n && (p < pending.length || abortedProducers)) {
      while (p < pending.length && pending[p]!.firstOffset <= BigInt(lastOffset)) {
        ;(abortedProducers ??= new Set()).add(pending[p++]!.producerId)
      }
      if (abortedProducers?.has(producerId)) {
        if ((attributes & KafkaBatchAttributes.control) !== 0) {
          const body = decompressKafka(
            attributes & KafkaBatchAttributes.compression,
            records.subarray(at + KafkaBatch.records, at + total),
          )
          if (controlType(body) === ABORT_MARKER) abortedProducers.delete(producerId)
        } else if ((attributes & KafkaBatchAttributes.transactional) !== 0) skip = true
      }
    }
    if (!skip) {
      visit({
        baseOffset,
        lastOffset,
        baseTimestamp: safeNumber(records.readBigInt64BE(at + KafkaBatch.baseTimestamp), 'timestamp'),
        appendTime:
          (attributes & KafkaBatchAttributes.logAppendTime) !== 0
            ? safeNumber(records.readBigInt64BE(at + KafkaBatch.maxTimestamp), 'timestamp')
            : undefined,
        recordCount: records.readInt32BE(at + KafkaBatch.recordCount),
        records: decompressKafka(
          attributes & KafkaBatchAttributes.compression,
          records.subarray(at + KafkaBatch.records, at + total),
        ),
      })
    }
    next = lastOffset + 1
    at += total
  }
  return next
}

/** The offset after the last whole batch of `records` (-1 when there is none), read from batch headers only. */
export function offsetAfterWholeBatches(records: Buffer): number {
  let next = -1
  let at = 0
  while (records.length - at >= KafkaBatch.records) {
    const total = KAFKA_BATCH_LOG_OVERHEAD + records.readInt32BE(at + KafkaBatch.batchLength)
    if (total < KafkaBatch.records || at + total > records.length) break
    next = Number(records.readBigInt64BE(at)) + records.readInt32BE(at + KafkaBatch.lastOffsetDelta) + 1
    at += total
  }
  return next
}

/**
 * Steps through the records of one batch. After `next()` returns true, `offset` and `timestamp` are the record's,
 * `reader.pos` is at its key length and `reader.end` (and `end`) where the record ends.
 */
export class BatchRecords {
  readonly reader = new WireReader()
  offset = 0
  timestamp = 0
  end = 0
  private batch: ArchivableBatch | undefined
  private left = 0

  /**
   * Lets go of the batch: its records are a view of the whole Fetch response, and a cursor kept per partition must
   * not pin one response per partition.
   */
  release(): void {
    this.batch = undefined
    this.reader.reset(EMPTY)
    this.left = 0
  }

  start(batch: ArchivableBatch): this {
    this.batch = batch
    this.left = batch.recordCount
    this.reader.reset(batch.records)
    this.end = 0
    return this
  }

  next(): boolean {
    const r = this.reader
    const b = this.batch!
    if (this.left <= 0) {
      this.release()
      return false
    }
    this.left--
    if (this.end > 0) r.pos = this.end
    r.end = b.records.length
    const length = r.varint()
    const end = r.pos + length
    if (length < 0 || end > r.end) throw malformedBatch(r.pos, `record length ${length}`)
    // Reads of this record's fields stop at its end.
    this.end = r.end = end
    r.take(1) // record attributes: unused by Kafka so far
    const timestampDelta = r.varlong()
    this.offset = b.baseOffset + r.varint()
    this.timestamp = b.appendTime ?? b.baseTimestamp + timestampDelta
    return true
  }
}

function controlType(body: Buffer): number {
  const r = new WireReader().reset(body)
  r.varint() // record length
  r.take(1)
  r.varlong()
  r.varint()
  if (r.varint() < 4) return -1
  r.int16() // version
  return r.int16()
}

function byFirstOffset(a: AbortedTransaction, b: AbortedTransaction): number {
  return a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0
}

function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new FormatError(`Kafka sent a record batch whose ${what} ${v} is beyond 2^53; the archiver cannot read it`)
  }
  return Number(v)
}

function malformedBatch(at: number, what: string): FormatError {
  return new FormatError(`Kafka sent a malformed record batch (${what} at byte ${at}); nothing of it was archived`)
}

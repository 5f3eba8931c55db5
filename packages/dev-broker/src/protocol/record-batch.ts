// Record batch v2 (magic 2) header access, CRC32C, and record decoding/encoding for the few paths that must look
// inside a batch (compaction, timestamp lookup, control markers). Produce and Fetch never decode records.

import { KAFKA_BATCH_LOG_OVERHEAD, KafkaBatch, KafkaBatchAttributes } from '@everlog/core'
import { Reader } from './reader.js'
import { Writer } from './writer.js'

// CRC32C (Castagnoli), slicing-by-8 over one flat table: the produce path verifies every batch, so it has to be
// quick (~280 MB/s on one core; kafkajs encodes far slower than that).
const CRC_TABLE: Int32Array = (() => {
  const t = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + n]!
      t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff]!
    }
  }
  return t
})()

export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  const T = CRC_TABLE
  let crc = -1
  let i = start
  const end8 = end - 8
  while (i <= end8) {
    crc ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)
    crc =
      T[1792 + (crc & 0xff)]! ^
      T[1536 + ((crc >>> 8) & 0xff)]! ^
      T[1280 + ((crc >>> 16) & 0xff)]! ^
      T[1024 + (crc >>> 24)]! ^
      T[768 + buf[i + 4]!]! ^
      T[512 + buf[i + 5]!]! ^
      T[256 + buf[i + 6]!]! ^
      T[buf[i + 7]!]!
    i += 8
  }
  while (i < end) crc = T[(crc ^ buf[i++]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

/** Header fields of one stored batch, read once on append. */
export interface BatchInfo {
  baseOffset: number
  lastOffsetDelta: number
  attributes: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: bigint
  producerEpoch: number
  baseSequence: number
  recordCount: number
  magic: number
}

export function readBatchInfo(b: Buffer, at = 0): BatchInfo {
  return {
    baseOffset: Number(b.readBigInt64BE(at + KafkaBatch.baseOffset)),
    magic: b.readInt8(at + KafkaBatch.magic),
    attributes: b.readInt16BE(at + KafkaBatch.attributes),
    lastOffsetDelta: b.readInt32BE(at + KafkaBatch.lastOffsetDelta),
    baseTimestamp: Number(b.readBigInt64BE(at + KafkaBatch.baseTimestamp)),
    maxTimestamp: Number(b.readBigInt64BE(at + KafkaBatch.maxTimestamp)),
    producerId: b.readBigInt64BE(at + KafkaBatch.producerId),
    producerEpoch: b.readInt16BE(at + KafkaBatch.producerEpoch),
    baseSequence: b.readInt32BE(at + KafkaBatch.baseSequence),
    recordCount: b.readInt32BE(at + KafkaBatch.recordCount),
  }
}

export interface SplitResult {
  batches: Buffer[]
  error?: string
}

/**
 * Splits a Produce `records` field into whole batches (views, not copies). Returns an error string for anything
 * that is not a well-formed v2 batch with a matching CRC32C.
 */
export function splitBatches(records: Buffer): SplitResult {
  const batches: Buffer[] = []
  let at = 0
  while (at < records.length) {
    if (records.length - at < KafkaBatch.records) return { batches, error: `truncated batch header at byte ${at}` }
    const len = records.readInt32BE(at + KafkaBatch.batchLength)
    const total = KAFKA_BATCH_LOG_OVERHEAD + len
    if (len < KafkaBatch.records - KAFKA_BATCH_LOG_OVERHEAD || at + total > records.length) {
      return { batches, error: `batch length ${len} at byte ${at} exceeds the ${records.length} bytes sent` }
    }
    const magic = records.readInt8(at + KafkaBatch.magic)
    if (magic !== 2) return { batches, error: `record batch magic ${magic} is not supported (only v2)` }
    const expected = records.readUInt32BE(at + KafkaBatch.crc)
    const actual = crc32c(records, at + KafkaBatch.attributes, at + total)
    if (expected !== actual) return { batches, error: `batch CRC32C mismatch at byte ${at}` }
    batches.push(records.subarray(at, at + total))
    at += total
  }
  return { batches }
}

/** Recomputes the CRC after the broker rewrote covered header fields (LogAppendTime). */
export function fixCrc(b: Buffer): void {
  b.writeUInt32BE(crc32c(b, KafkaBatch.attributes, b.length), KafkaBatch.crc)
}

export interface DecodedRecord {
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Array<[string, Buffer | null]>
}

/** Decodes the records of an uncompressed records section (the bytes after the 61-byte header). */
export function decodeRecords(info: BatchInfo, body: Buffer): DecodedRecord[] {
  const r = new Reader(body)
  const out: DecodedRecord[] = []
  for (let i = 0; i < info.recordCount && r.remaining > 0; i++) {
    const len = r.varint()
    const end = r.pos + len
    r.int8() // record attributes, unused
    const tsDelta = Number(r.varlong())
    const offDelta = r.varint()
    const key = r.varintBytes()
    const value = r.varintBytes()
    const nh = r.varint()
    const headers: Array<[string, Buffer | null]> = []
    for (let h = 0; h < nh; h++) {
      const hk = r.varintBytes()
      headers.push([hk === null ? '' : hk.toString('utf8'), r.varintBytes()])
    }
    r.pos = end
    out.push({ offset: info.baseOffset + offDelta, timestamp: info.baseTimestamp + tsDelta, key, value, headers })
  }
  return out
}

export interface EncodeBatchOptions {
  baseOffset: number
  attributes: number
  producerId: bigint
  producerEpoch: number
  baseSequence: number
  partitionLeaderEpoch?: number
  /** Kept when the broker set LogAppendTime. */
  maxTimestamp?: number
  /** Keeps the original batch's last offset when compaction removed its tail records (as Kafka does). */
  lastOffset?: number
}

/** Encodes an uncompressed v2 batch; offsets keep their holes (records carry their own offset deltas). */
export function encodeBatch(records: readonly DecodedRecord[], o: EncodeBatchOptions): Buffer {
  let baseTs = records.length > 0 ? Infinity : 0
  let recordMaxTs = records.length > 0 ? -Infinity : 0
  for (const x of records) {
    if (x.timestamp < baseTs) baseTs = x.timestamp
    if (x.timestamp > recordMaxTs) recordMaxTs = x.timestamp
  }
  const maxTs = o.maxTimestamp ?? recordMaxTs
  const body = new Writer()
  for (const x of records) {
    const rec = new Writer(256)
    rec
      .int8(0)
      .varlong(BigInt(x.timestamp - baseTs))
      .varint(x.offset - o.baseOffset)
      .varintBytes(x.key)
      .varintBytes(x.value)
      .varint(x.headers.length)
    for (const [hk, hv] of x.headers) rec.varintBytes(Buffer.from(hk, 'utf8')).varintBytes(hv)
    const bytes = rec.toBuffer()
    body.varint(bytes.length).raw(bytes)
  }
  const recordsBuf = body.toBuffer()
  const lastDelta =
    o.lastOffset !== undefined
      ? o.lastOffset - o.baseOffset
      : records.length > 0
        ? records[records.length - 1]!.offset - o.baseOffset
        : 0
  const b = Buffer.alloc(KafkaBatch.records + recordsBuf.length)
  b.writeBigInt64BE(BigInt(o.baseOffset), KafkaBatch.baseOffset)
  b.writeInt32BE(b.length - KAFKA_BATCH_LOG_OVERHEAD, KafkaBatch.batchLength)
  b.writeInt32BE(o.partitionLeaderEpoch ?? 0, KafkaBatch.partitionLeaderEpoch)
  b.writeInt8(2, KafkaBatch.magic)
  b.writeInt16BE(o.attributes & ~KafkaBatchAttributes.compression, KafkaBatch.attributes)
  b.writeInt32BE(lastDelta, KafkaBatch.lastOffsetDelta)
  b.writeBigInt64BE(BigInt(baseTs), KafkaBatch.baseTimestamp)
  b.writeBigInt64BE(BigInt(maxTs), KafkaBatch.maxTimestamp)
  b.writeBigInt64BE(o.producerId, KafkaBatch.producerId)
  b.writeInt16BE(o.producerEpoch, KafkaBatch.producerEpoch)
  b.writeInt32BE(o.baseSequence, KafkaBatch.baseSequence)
  b.writeInt32BE(records.length, KafkaBatch.recordCount)
  recordsBuf.copy(b, KafkaBatch.records)
  fixCrc(b)
  return b
}

/** A transaction marker (control batch with one record): key = version, type; value = version, coordinatorEpoch. */
export function encodeControlBatch(
  baseOffset: number,
  producerId: bigint,
  producerEpoch: number,
  commit: boolean,
  timestamp: number,
): Buffer {
  const key = Buffer.alloc(4)
  key.writeInt16BE(0, 0)
  key.writeInt16BE(commit ? 1 : 0, 2)
  const value = Buffer.alloc(6)
  value.writeInt16BE(0, 0)
  value.writeInt32BE(0, 2)
  return encodeBatch([{ offset: baseOffset, timestamp, key, value, headers: [] }], {
    baseOffset,
    attributes: KafkaBatchAttributes.transactional | KafkaBatchAttributes.control,
    producerId,
    producerEpoch,
    baseSequence: -1,
  })
}

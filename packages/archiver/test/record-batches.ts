// Kafka record batches for the archiver's decoding tests, encoded by kafkajs' own record batch encoder (the one its
// producer uses): an implementation nobody here wrote is the oracle.
import { createRequire } from 'node:module'
import { registerKafkaCodecs } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import kafkajs from 'kafkajs'
import { BatchRecords, forEachArchivableBatch } from '../src/fetch/record-batches.js'
import type { AbortedTransaction } from '../src/fetch/record-batches.js'
import type { PackedRecordsBuilder } from '../src/packed-records.js'

registerKafkaCodecs(kafkajs.CompressionCodecs)
const require = createRequire(import.meta.url)
type KafkajsRecord = {
  offsetDelta: number
  timestampDelta: number
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, Buffer | Buffer[]>
}
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (o: object) => Promise<{ buffer: Buffer }>
}
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: KafkajsRecord) => unknown
const Long = require('kafkajs/src/utils/long') as { fromValue(v: number | string): unknown }

/** Byte offset of a v2 batch's attributes (int16). */
export const ATTRIBUTES = 21

export interface BatchSpec {
  baseOffset: number
  baseTimestamp: number
  records: ArchiveRecord[]
  compression?: number
  producerId?: number
  transactional?: boolean
}

/** A v2 record batch as kafkajs' producer encodes it (its own encoder, deep-imported). */
export async function encodeBatch(spec: BatchSpec): Promise<Buffer> {
  const records = spec.records.map((r) => {
    const headers: Record<string, Buffer[]> = {}
    for (const [k, v] of r.headers) (headers[k] ??= []).push(v!)
    return Record({
      offsetDelta: Number(r.offset) - spec.baseOffset,
      timestampDelta: Number(r.timestamp) - spec.baseTimestamp,
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value === null ? null : Buffer.from(r.value),
      headers,
    })
  })
  const last = spec.records.at(-1)
  const batch = await RecordBatch({
    compression: spec.compression ?? 0,
    firstOffset: Long.fromValue(spec.baseOffset),
    firstTimestamp: spec.baseTimestamp,
    maxTimestamp: spec.baseTimestamp + 1000,
    lastOffsetDelta: last ? Number(last.offset) - spec.baseOffset : 0,
    transactional: spec.transactional ?? false,
    producerId: Long.fromValue(spec.producerId ?? -1),
    records,
  })
  return batch.buffer
}

/** A transaction marker batch: one control record whose key is (version 0, type 0 abort / 1 commit). */
export async function markerBatch(offset: number, producerId: number, commit: boolean): Promise<Buffer> {
  const key = Buffer.alloc(4)
  key.writeInt16BE(commit ? 1 : 0, 2)
  const b = await encodeBatch({
    baseOffset: offset,
    baseTimestamp: 0,
    producerId,
    transactional: true,
    records: [{ offset: BigInt(offset), timestamp: 0n, key, value: Buffer.alloc(6), headers: [] }],
  })
  b.writeInt16BE(b.readInt16BE(ATTRIBUTES) | 0x20, ATTRIBUTES)
  return b
}

/** Decodes fetched `records` into `builder` the way the partition pipeline does; returns the next fetch offset. */
export function decodeInto(
  builder: PackedRecordsBuilder,
  records: Buffer,
  aborted: AbortedTransaction[] | null = null,
): number {
  const cursor = new BatchRecords()
  return forEachArchivableBatch(records, aborted, (batch) => {
    cursor.start(batch)
    while (cursor.next()) builder.addWireRecord(cursor)
  })
}

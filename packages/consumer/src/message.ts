// Shapes archive records into exactly the messages and batches kafkajs hands to eachMessage and eachBatch.
import { Int64Text } from '@everlog/core'
import type { RecordColumns } from '@everlog/core'
import type { Batch, IHeaders, KafkaMessage } from 'kafkajs'

/**
 * Rows [from, length) of a decoded row group as kafkajs RecordBatch (magic v2) messages, built straight from the
 * columns (no ArchiveRecord, no BigInt per offset and timestamp): string offset and timestamp, Buffers as they are,
 * and headers folded as kafkajs folds them: a repeated key becomes an array of its values in order, and a null
 * value stays null (kafkajs' types leave null out, its decoder does not).
 */
export function toKafkaMessages(c: RecordColumns, from: number): KafkaMessage[] {
  return new ArchiveMessages(c, from).all()
}

/**
 * The messages of rows [from, length) of a decoded row group, each made when asked for: eachMessage builds one
 * just before its handler runs, so a message and its Buffers die young (a young-generation collection copies only
 * what is still alive, and building a whole chunk ahead kept thousands of them alive across collections).
 */
export class ArchiveMessages {
  private readonly offsets: Int64Text
  private readonly timestamps: Int64Text
  private readonly batchContext: ReturnType<typeof archiveBatchContext>

  constructor(
    private readonly c: RecordColumns,
    private readonly from: number,
  ) {
    this.offsets = new Int64Text(c.offsets)
    this.timestamps = new Int64Text(c.timestamps)
    this.batchContext = archiveBatchContext(c, from, this.offsets, this.timestamps)
  }

  get length(): number {
    return Math.max(0, this.c.length - this.from)
  }

  /** Message j of these (row from + j). */
  at(j: number): KafkaMessage {
    const c = this.c
    const i = this.from + j
    const bytes = c.bytes
    const headerValues = bytes ? bytes.headerValues : undefined
    const headers: Record<string, Buffer | null | (Buffer | null)[]> = {}
    for (let h = c.headerStart[i]!, end = c.headerStart[i + 1]!; h < end; h++) {
      const key = c.headerKeys[h]!
      const value = headerValues ? headerValues.at(h) : c.headerValues[h]!
      const seen = headers[key]
      if (seen === undefined) headers[key] = value
      else if (Array.isArray(seen)) seen.push(value)
      else headers[key] = [seen, value]
    }
    // The same fields, in the same order, that kafkajs' record decoder produces for a live fetch.
    const message = {
      magicByte: 2,
      attributes: 0,
      timestamp: this.timestamps.string(i),
      offset: this.offsets.string(i),
      key: bytes ? bytes.keys.at(i) : c.keys[i]!,
      value: bytes ? bytes.values.at(i) : c.values[i]!,
      headers: headers as IHeaders,
      isControlRecord: false,
      batchContext: this.batchContext,
    }
    return message as KafkaMessage
  }

  all(): KafkaMessage[] {
    const out = new Array<KafkaMessage>(this.length)
    for (let j = 0; j < out.length; j++) out[j] = this.at(j)
    return out
  }
}

/**
 * kafkajs hands every message the header of the record batch it came in (`batchContext`). The archive keeps
 * records, not Kafka's batch headers, so archive-served messages share one context describing the rows delivered
 * together: their first and last offsets and timestamps, magic 2, CreateTime, not transactional, not a control
 * batch, and -1 for what Kafka marks unknown or absent (leader epoch, producer id and epoch, sequence).
 */
function archiveBatchContext(c: RecordColumns, from: number, offsets: Int64Text, timestamps: Int64Text) {
  if (from >= c.length) return undefined
  let max = c.timestamps[from]!
  for (let i = from + 1; i < c.length; i++) if (c.timestamps[i]! > max) max = c.timestamps[i]!
  return {
    firstOffset: offsets.string(from),
    firstTimestamp: timestamps.string(from),
    partitionLeaderEpoch: -1,
    inTransaction: false,
    isControlBatch: false,
    lastOffsetDelta: Number(c.offsets[c.length - 1]! - c.offsets[from]!),
    producerId: '-1',
    producerEpoch: -1,
    firstSequence: -1,
    maxTimestamp: max.toString(),
    timestampType: 0,
    magicByte: 2,
  }
}

/**
 * A batch with kafkajs' Batch helpers over messages we hold: archive records, or the tail of a live batch whose
 * head was already delivered. `last` is the offset the batch ends at when that is past its last message (kafkajs
 * counts filtered control records), so resolving the batch never re-reads them.
 */
export class MessageBatch implements Batch {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly highWatermark: string,
    readonly messages: KafkaMessage[],
    private readonly last?: string,
    /** The offset the read asked for (kafkajs' Batch.fetchedOffset); the first message's offset by default. */
    readonly fetchedOffset: string = messages[0]?.offset ?? highWatermark,
  ) {}

  /** kafkajs' unfiltered views of the batch; archive batches and live tails hold no filtered records. */
  get rawMessages(): KafkaMessage[] {
    return this.messages
  }

  get messagesWithinOffset(): KafkaMessage[] {
    return this.messages
  }

  isEmpty(): boolean {
    return this.messages.length === 0
  }

  isEmptyIncludingFiltered(): boolean {
    return this.messages.length === 0
  }

  isEmptyDueToFiltering(): boolean {
    return false
  }

  isEmptyControlRecord(): boolean {
    return false
  }

  isEmptyDueToLogCompactedMessages(): boolean {
    return false
  }

  firstOffset(): string | null {
    return this.messages.length === 0 ? null : this.messages[0]!.offset
  }

  lastOffset(): string {
    if (this.last !== undefined) return this.last
    if (this.messages.length === 0) return (BigInt(this.highWatermark) - 1n).toString()
    return this.messages[this.messages.length - 1]!.offset
  }

  /** Lag after the batch's last offset: highWatermark - 1 - lastOffset, as kafkajs computes it. */
  offsetLag(): string {
    return (BigInt(this.highWatermark) - 1n - BigInt(this.lastOffset())).toString()
  }

  /** Lag from the batch's first offset. */
  offsetLagLow(): string {
    const first = this.firstOffset()
    if (first === null) return '0'
    return (BigInt(this.highWatermark) - 1n - BigInt(first)).toString()
  }
}

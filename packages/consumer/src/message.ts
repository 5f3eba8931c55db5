// Shapes archive records into exactly the messages and batches kafkajs hands to eachMessage and eachBatch.
import type { ArchiveRecord } from '@everlog/core'
import type { Batch, IHeaders, KafkaMessage } from 'kafkajs'

/**
 * kafkajs folds record headers into an object: a repeated key becomes an array of its values in order, and a
 * null header value stays null (kafkajs' types leave null out, its decoder does not).
 */
export function toHeaders(headers: ArchiveRecord['headers']): IHeaders {
  const out: Record<string, Buffer | null | (Buffer | null)[]> = {}
  for (const [key, value] of headers) {
    const seen = out[key]
    if (seen === undefined) out[key] = value
    else if (Array.isArray(seen)) seen.push(value)
    else out[key] = [seen, value]
  }
  return out as IHeaders
}

/** One archived record as a kafkajs RecordBatch (magic v2) message: string offset and timestamp, Buffers as-is. */
export function toKafkaMessage(record: ArchiveRecord): KafkaMessage {
  // The same fields, in the same order, that kafkajs' record decoder produces for a live fetch.
  const message = {
    magicByte: 2,
    attributes: 0,
    timestamp: record.timestamp.toString(),
    offset: record.offset.toString(),
    key: record.key,
    value: record.value,
    headers: toHeaders(record.headers),
    isControlRecord: false,
  }
  return message as KafkaMessage
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
  ) {}

  isEmpty(): boolean {
    return this.messages.length === 0
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

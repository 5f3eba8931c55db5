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
  const offsets = new Int64Text(c.offsets)
  const timestamps = new Int64Text(c.timestamps)
  const { keys, values, headerStart, headerKeys, headerValues } = c
  const out = new Array<KafkaMessage>(Math.max(0, c.length - from))
  for (let i = from; i < c.length; i++) {
    const headers: Record<string, Buffer | null | (Buffer | null)[]> = {}
    for (let h = headerStart[i]!, end = headerStart[i + 1]!; h < end; h++) {
      const key = headerKeys[h]!
      const value = headerValues[h]!
      const seen = headers[key]
      if (seen === undefined) headers[key] = value
      else if (Array.isArray(seen)) seen.push(value)
      else headers[key] = [seen, value]
    }
    // The same fields, in the same order, that kafkajs' record decoder produces for a live fetch.
    const message = {
      magicByte: 2,
      attributes: 0,
      timestamp: timestamps.string(i),
      offset: offsets.string(i),
      key: keys[i]!,
      value: values[i]!,
      headers: headers as IHeaders,
      isControlRecord: false,
    }
    out[i - from] = message as KafkaMessage
  }
  return out
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

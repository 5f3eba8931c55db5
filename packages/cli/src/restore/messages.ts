// Archived records <-> kafkajs messages. kafkajs folds headers into an object (repeated keys become arrays), so
// that folded shape is also what "the same record" means when a restore compares what it finds in Kafka.
import type { ArchiveRecord } from '@everlog/core'
import type { IHeaders, KafkaMessage, Message } from 'kafkajs'
import { UnproducibleRecordError } from './errors.js'

/** What to do with a null header value, which kafkajs 2.2.4 cannot produce (its size calculation throws). */
export type NullHeaderPolicy = 'error' | 'empty'

const EMPTY = Buffer.alloc(0)

export function toProducerMessage(
  record: ArchiveRecord,
  partition: number,
  nullHeaders: NullHeaderPolicy,
  where: string,
): Message {
  const message: Message = { partition, key: record.key, value: record.value, timestamp: record.timestamp.toString() }
  if (record.headers.length > 0) message.headers = foldHeaders(record, nullHeaders, where)
  return message
}

function foldHeaders(record: ArchiveRecord, nullHeaders: NullHeaderPolicy, where: string): IHeaders {
  // A null prototype: a header named "__proto__" or "constructor" is just a header.
  const out = Object.create(null) as Record<string, Buffer | Buffer[]>
  for (const [key, v] of record.headers) {
    let value = v
    if (value === null) {
      if (nullHeaders === 'error') {
        throw new UnproducibleRecordError(
          `record ${where} offset ${record.offset} has header "${key}" with a null value, which kafkajs cannot ` +
            'produce; pass --null-headers empty to restore such values as empty byte strings',
        )
      }
      value = EMPTY
    }
    const seen = out[key]
    if (seen === undefined) out[key] = value
    else if (Array.isArray(seen)) seen.push(value)
    else out[key] = [seen, value]
  }
  return out
}

/** True when a consumed message carries the archived record's key, value, headers and timestamp. */
export function sameRecord(record: ArchiveRecord, message: KafkaMessage, nullHeaders: NullHeaderPolicy): boolean {
  if (message.timestamp !== record.timestamp.toString()) return false
  if (!sameBytes(record.key, message.key ?? null) || !sameBytes(record.value, message.value)) return false
  const want =
    record.headers.length === 0 ? {} : foldHeaders(record, nullHeaders === 'error' ? 'empty' : nullHeaders, '')
  const got = (message.headers ?? {}) as Record<string, Buffer | Buffer[] | undefined>
  const keys = Object.keys(want)
  if (keys.length !== Object.keys(got).length) return false
  for (const k of keys) {
    const a = want[k]
    const b = got[k]
    if (b === undefined) return false
    const as = (Array.isArray(a) ? a : [a]) as (Buffer | string)[]
    const bs = (Array.isArray(b) ? b : [b]) as (Buffer | string | null)[]
    if (as.length !== bs.length || as.some((x, i) => !sameBytes(x, bs[i] ?? null))) return false
  }
  return true
}

function sameBytes(a: Buffer | string | null, b: Buffer | string | null): boolean {
  if (a === null || b === null) return a === b
  return Buffer.from(a).equals(Buffer.from(b))
}

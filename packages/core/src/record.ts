// The unit of the archive: one Kafka record exactly as the broker served it (after decompression).

export type RecordHeader = readonly [key: string, value: Buffer | null]

export interface ArchiveRecord {
  /** Kafka offset; bigint everywhere inside Everlog (kafkajs' strings only at API edges). */
  offset: bigint
  /** Kafka record timestamp in epoch milliseconds. */
  timestamp: bigint
  /** null key stays null; an empty key is an empty Buffer. */
  key: Buffer | null
  /** null value is a tombstone. */
  value: Buffer | null
  /** In the order Kafka returned them; duplicate keys allowed. */
  headers: RecordHeader[]
}

/** Bytes a record contributes to "raw size" figures: key + value + header keys and values. */
export function rawRecordBytes(r: ArchiveRecord): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0)
  for (const [k, v] of r.headers) n += Buffer.byteLength(k) + (v?.length ?? 0)
  return n
}

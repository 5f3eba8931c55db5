// What kafkajs hands over for a record's headers, written out independently of the code under test: a repeated
// key becomes an array of its values in order, and a null value stays null.
import type { ArchiveRecord } from '@everlog/core'

export function kafkajsHeaders(headers: ArchiveRecord['headers']): Record<string, Buffer | null | (Buffer | null)[]> {
  const out: Record<string, Buffer | null | (Buffer | null)[]> = {}
  for (const [key, value] of headers) {
    const seen = out[key]
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]
  }
  return out
}

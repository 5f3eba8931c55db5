// Text shapes the commands print: aligned tables, byte sizes, and one JSON object per record.
import type { ArchiveRecord } from '@everlog/core'

export type BytesEncoding = 'utf8' | 'base64' | 'hex'
export const BYTES_ENCODINGS: readonly BytesEncoding[] = ['utf8', 'base64', 'hex']

const encode = (b: Buffer | null, encoding: BytesEncoding): string | null => (b === null ? null : b.toString(encoding))

/** One record as a JSON line; offsets and timestamps stay strings so no consumer loses int64 precision. */
export function recordJson(topic: string, partition: number, r: ArchiveRecord, encoding: BytesEncoding): string {
  return JSON.stringify({
    topic,
    partition,
    offset: r.offset.toString(),
    timestamp: r.timestamp.toString(),
    key: encode(r.key, encoding),
    value: encode(r.value, encoding),
    headers: r.headers.map(([k, v]) => [k, encode(v, encoding)]),
  })
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

export function formatBytes(n: number): string {
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[u]}`
}

/** Left-aligned text columns, numbers right-aligned, two spaces apart. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: ReadonlySet<number>,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

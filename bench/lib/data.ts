// The benchmarks' data: deterministic ~1 KiB JSON-like values with keys and two headers, so every benchmark and
// both sides of a comparison see the same bytes.
import type { ArchiveRecord } from '../../packages/core/src/record.js'

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet']

/** A small deterministic PRNG (same sequence every run). */
export function prng(seed = 42): () => number {
  let s = seed
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
}

export interface DataShape {
  /** Target value size in bytes (values vary by up to +25%). Default 1024. */
  valueBytes?: number
  /** Timestamp of record 0, epoch ms. */
  t0?: bigint
  /** Milliseconds between consecutive records. Default 1. */
  spacingMs?: bigint
}

/** Record `i` of a benchmark topic partition. */
export function benchRecord(i: number, rand: () => number, shape: DataShape = {}): ArchiveRecord {
  const target = shape.valueBytes ?? 1024
  const o: Record<string, unknown> = { id: i, type: WORDS[i % 10], amount: Math.round(rand() * 100_000) / 100 }
  const size = target - 124 + (i % Math.max(1, target >> 2))
  // The JSON length grows by exactly `,"fN":"word-xyz"` per field (no character needs escaping), so it is tracked
  // instead of re-serializing the object after every field: same bytes, linear instead of quadratic.
  let length = JSON.stringify(o).length
  let fields = 3
  while (length < size) {
    const name = `f${fields++}`
    const value = `${WORDS[Math.floor(rand() * 10)]}-${Math.floor(rand() * 1e9).toString(36)}`
    o[name] = value
    length += name.length + value.length + 6
  }
  const s = JSON.stringify(o)
  return {
    offset: BigInt(i),
    timestamp: (shape.t0 ?? 1_700_000_000_000n) + BigInt(i) * (shape.spacingMs ?? 1n),
    key: Buffer.from(`customer-${i % 5000}`),
    value: Buffer.from(s),
    headers: [
      ['trace-id', Buffer.from(Math.floor(rand() * 1e16).toString(16))],
      ['content-type', Buffer.from('application/json')],
    ],
  }
}

/** Parses `--name value` integer flags with a default, failing with the flag's name. */
export function intFlag(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return fallback
  const n = Number(args[i + 1])
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${args[i + 1]}`)
  return n
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

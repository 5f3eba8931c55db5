// What the stories produce and how they check it: deterministic awkward records (null and empty keys, tombstones,
// binary and large values, duplicate header keys) sent with every Kafka codec, and byte-exact comparisons of what
// comes back from the archive or a consumer against what was produced, offset by offset.
import assert from 'node:assert/strict'
import type { ArchiveRecord } from '@everlog/core'
import kafkajs from 'kafkajs'
import type { IHeaders, KafkaMessage, Message, Producer } from 'kafkajs'

const { CompressionTypes } = kafkajs

/** One record as produced, with the partition and offset the broker gave it. */
export interface ProducedRecord {
  partition: number
  offset: bigint
  timestamp: bigint
  key: Buffer | null
  value: Buffer | null
  /** In wire order: kafkajs writes a header object key by key, an array value as repeated keys. */
  headers: [string, Buffer][]
}

/** Every codec kafkajs can send once core's codecs are registered; sends rotate through them. */
export const CODECS = [
  CompressionTypes.None,
  CompressionTypes.GZIP,
  CompressionTypes.Snappy,
  CompressionTypes.LZ4,
  CompressionTypes.ZSTD,
] as const

export function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    // mulberry32: fast, and good enough that lengths and bytes look random.
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function bytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256)
  return b
}

/**
 * The produced history of one topic: per partition, records in offset order. Offsets are counted here and
 * checked against the broker's answer to every send, so the expectation never comes from reading Kafka back.
 */
export class ProducedLog {
  readonly partitions: ProducedRecord[][]
  private readonly rand: () => number
  private n = 0
  private sends = 0

  constructor(
    readonly topic: string,
    partitionCount: number,
    seed = 13,
    private readonly baseTimestamp = Date.now() - 86_400_000,
  ) {
    this.partitions = Array.from({ length: partitionCount }, () => [])
    this.rand = prng(seed)
  }

  get count(): number {
    return this.partitions.reduce((n, p) => n + p.length, 0)
  }

  /** Next offset of each partition (its high watermark as far as this log knows). */
  highWatermarks(): bigint[] {
    return this.partitions.map((p) => BigInt(p.length))
  }

  /** Record number i: every few records hits an edge case; values are binary, a few are 16-40 KiB. */
  private next(): { record: Omit<ProducedRecord, 'offset'>; message: Message } {
    const i = this.n++
    const rand = this.rand
    const partition = Math.floor(rand() * this.partitions.length)
    const key =
      i % 17 === 3 ? null : i % 23 === 5 ? Buffer.alloc(0) : Buffer.concat([Buffer.from(`k${i}:`), bytes(rand, 4)])
    const value =
      i % 29 === 7
        ? null
        : i % 31 === 11
          ? Buffer.alloc(0)
          : bytes(rand, i % 97 === 13 ? 16_384 + Math.floor(rand() * 24_576) : Math.floor(rand() * 300))
    const headerObject: Record<string, Buffer | Buffer[]> = {}
    const headers: [string, Buffer][] = []
    if (i % 5 !== 0) {
      // Duplicate keys: kafkajs sends an array as the same key repeated, in order.
      const traces = [bytes(rand, 8), bytes(rand, 3)]
      headerObject['trace'] = traces
      for (const t of traces) headers.push(['trace', t])
      const source = Buffer.from(['web', 'ios', 'pos'][i % 3]!)
      headerObject['source'] = source
      headers.push(['source', source])
      if (i % 7 === 0) {
        headerObject['empty'] = Buffer.alloc(0)
        headers.push(['empty', Buffer.alloc(0)])
      }
    }
    const timestamp = BigInt(this.baseTimestamp + i * 3)
    return {
      record: { partition, timestamp, key, value, headers },
      message: { partition, key, value, headers: headerObject, timestamp: timestamp.toString() },
    }
  }

  /** Produces `count` more records in sends of `perSend`, each send with the next codec of CODECS. */
  async produce(producer: Producer, count: number, perSend = 100): Promise<void> {
    for (let done = 0; done < count; done += perSend) {
      const batch = Array.from({ length: Math.min(perSend, count - done) }, () => this.next())
      const compression = CODECS[this.sends++ % CODECS.length]
      const answer = await producer.send({ topic: this.topic, compression, messages: batch.map((b) => b.message) })
      for (const meta of answer) {
        assert.equal(
          meta.baseOffset,
          String(this.partitions[meta.partition]!.length),
          `the broker placed partition ${meta.partition}'s records where this log expects them`,
        )
      }
      for (const { record } of batch) {
        const log = this.partitions[record.partition]!
        log.push({ ...record, offset: BigInt(log.length) })
      }
    }
  }

  /** Sum of value bytes of the records below `boundaries` (per partition), as SQL's octet_length counts them. */
  valueBytes(boundaries: readonly bigint[] = this.highWatermarks()): number {
    let n = 0
    this.partitions.forEach((log, p) => {
      for (const r of log.slice(0, Number(boundaries[p]))) n += r.value?.length ?? 0
    })
    return n
  }
}

function same(a: Buffer | null | undefined, b: Buffer | null): boolean {
  if (a === null || a === undefined || b === null) return (a ?? null) === b
  return a.equals(b)
}

function show(b: Buffer | null | undefined): string {
  if (b === undefined) return 'undefined'
  if (b === null) return 'null'
  return b.length > 24 ? `${b.length} bytes ${b.subarray(0, 12).toString('hex')}...` : `0x${b.toString('hex')}`
}

/** How an archived record differs from the produced one, or undefined when every byte matches. */
export function archiveMismatch(expected: ProducedRecord, actual: ArchiveRecord): string | undefined {
  if (actual.offset !== expected.offset) return `offset ${actual.offset}, expected ${expected.offset}`
  if (actual.timestamp !== expected.timestamp) return `timestamp ${actual.timestamp}, expected ${expected.timestamp}`
  if (!same(actual.key, expected.key)) return `key ${show(actual.key)}, expected ${show(expected.key)}`
  if (!same(actual.value, expected.value)) return `value ${show(actual.value)}, expected ${show(expected.value)}`
  const got = actual.headers.map(([k, v]) => `${k}=${show(v)}`).join(' ')
  const want = expected.headers.map(([k, v]) => `${k}=${show(v)}`).join(' ')
  if (got !== want) return `headers [${got}], expected [${want}]`
  return undefined
}

/** kafkajs' view of headers: a repeated key becomes an array of its values in order. */
function kafkajsHeaders(headers: readonly [string, Buffer][]): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>()
  for (const [k, v] of headers) out.set(k, [...(out.get(k) ?? []), v])
  return out
}

function showHeaders(h: IHeaders | undefined): string {
  return Object.entries(h ?? {})
    .map(([k, v]) => `${k}=${(Array.isArray(v) ? v : [v]).map((x) => show(x as Buffer | null)).join(',')}`)
    .join(' ')
}

/** How a consumed message differs from the produced record, or undefined when every byte matches. */
export function messageMismatch(expected: ProducedRecord, actual: KafkaMessage): string | undefined {
  if (actual.offset !== String(expected.offset)) return `offset ${actual.offset}, expected ${expected.offset}`
  if (actual.timestamp !== String(expected.timestamp)) {
    return `timestamp ${actual.timestamp}, expected ${expected.timestamp}`
  }
  if (!same(actual.key, expected.key)) return `key ${show(actual.key)}, expected ${show(expected.key)}`
  if (!same(actual.value, expected.value)) return `value ${show(actual.value)}, expected ${show(expected.value)}`
  const want = kafkajsHeaders(expected.headers)
  const got = Object.entries(actual.headers ?? {})
  const fail = () =>
    `headers [${showHeaders(actual.headers)}], expected [${expected.headers.map(([k]) => k).join(' ')}]`
  if (got.length !== want.size) return fail()
  for (const [k, v] of got) {
    const values = (Array.isArray(v) ? v : [v]) as (Buffer | string | undefined)[]
    const expectedValues = want.get(k)
    if (!expectedValues || values.length !== expectedValues.length) return fail()
    for (let i = 0; i < values.length; i++) {
      const x = values[i]
      if (!Buffer.isBuffer(x) || !x.equals(expectedValues[i]!)) return fail()
    }
  }
  return undefined
}

/**
 * Checks that `received` (per partition, in delivery order) is exactly the produced log from offset 0 to its end:
 * every offset once, in order, byte for byte. Lists the first few problems, not thousands of lines.
 */
export function assertExactlyProduced<T>(
  log: ProducedLog,
  received: ReadonlyMap<number, readonly T[]>,
  mismatch: (expected: ProducedRecord, actual: T) => string | undefined,
  what: string,
  upTo: readonly bigint[] = log.highWatermarks(),
): void {
  const problems: string[] = []
  log.partitions.forEach((produced, p) => {
    const got = received.get(p) ?? []
    const want = produced.slice(0, Number(upTo[p]))
    if (got.length !== want.length) {
      problems.push(`partition ${p}: ${got.length} records, expected ${want.length}`)
    }
    for (let i = 0; i < Math.min(got.length, want.length); i++) {
      const m = mismatch(want[i]!, got[i]!)
      if (m) problems.push(`partition ${p} record #${i}: ${m}`)
      if (problems.length > 8) break
    }
  })
  assert.deepEqual(problems, [], `${what} differs from what was produced:\n${problems.slice(0, 8).join('\n')}`)
}

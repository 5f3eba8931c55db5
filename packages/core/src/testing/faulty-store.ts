// FaultyStore: wraps any ObjectStore and injects the failures real object stores have (5xx, 503 SlowDown throttling,
// timeouts, connection resets, answers lost after the write landed, slow responses) at seeded random rates or on
// demand, so fault tests are reproducible from their seed.
import { StoreUnavailableError } from '../errors.js'
import type { ByteRange, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from '../store/types.js'

export type StoreOp = 'get' | 'head' | 'put' | 'putIfAbsent' | 'putIfMatch' | 'list' | 'listPrefixes' | 'delete'

/**
 * - unavailable: a 5xx before the request did anything.
 * - throttle: 503 SlowDown before the request did anything.
 * - timeout: the request hangs for timeoutMs, then fails without having done anything.
 * - reset: the connection drops before the request did anything (ECONNRESET).
 * - lostAnswer: the request is carried out, then its answer is lost: the caller cannot know it landed.
 * - slow: the request is delayed by slowMs, then succeeds.
 */
export type StoreFault = 'unavailable' | 'throttle' | 'timeout' | 'reset' | 'lostAnswer' | 'slow'

export const STORE_FAULTS: readonly StoreFault[] = ['unavailable', 'throttle', 'timeout', 'reset', 'lostAnswer', 'slow']

/** Probability (0..1) of each fault per request; they are drawn in STORE_FAULTS order, so keep the sum <= 1. */
export type FaultRates = Partial<Record<StoreFault, number>>

export interface FaultFilter {
  ops?: readonly StoreOp[]
  key?: string | RegExp
}

export interface FaultyStoreOptions {
  /** Seed of the PRNG that draws random faults: the same seed and call sequence give the same faults. */
  seed?: number
  rates?: FaultRates
  /** Random faults only hit requests matching this (default: every request). */
  filter?: FaultFilter
  /** Delay of a 'slow' request. Default 20 ms. */
  slowMs?: number
  /** How long a 'timeout' request hangs before failing. Default 50 ms. */
  timeoutMs?: number
}

/** What the store did, for tests that assert faults actually happened. */
export interface FaultStats {
  requests: number
  faults: Record<StoreFault, number>
  /** Requests refused while the store was down(). */
  refused: number
}

interface Scheduled extends FaultFilter {
  left: number
  fault: StoreFault
}

/** mulberry32: tiny, fast and good enough to spread faults; reproducible from a 32-bit seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function matches(filter: FaultFilter | undefined, op: StoreOp, key: string): boolean {
  if (!filter) return true
  if (filter.ops && !filter.ops.includes(op)) return false
  if (filter.key === undefined) return true
  return typeof filter.key === 'string' ? filter.key === key : filter.key.test(key)
}

export class FaultyStore implements ObjectStore {
  readonly url: string
  readonly stats: FaultStats = {
    requests: 0,
    faults: { unavailable: 0, throttle: 0, timeout: 0, reset: 0, lostAnswer: 0, slow: 0 },
    refused: 0,
  }
  private random: () => number
  private rates: FaultRates
  private filter: FaultFilter | undefined
  private readonly slowMs: number
  private readonly timeoutMs: number
  private readonly scheduled: Scheduled[] = []
  private outage: FaultFilter | undefined

  constructor(
    readonly inner: ObjectStore,
    options: FaultyStoreOptions = {},
  ) {
    this.url = inner.url
    this.random = prng(options.seed ?? 1)
    this.rates = { ...options.rates }
    this.filter = options.filter
    this.slowMs = options.slowMs ?? 20
    this.timeoutMs = options.timeoutMs ?? 50
  }

  /** Replaces the random fault rates (e.g. {} to heal the store). */
  setRates(rates: FaultRates, filter?: FaultFilter): void {
    this.rates = { ...rates }
    this.filter = filter
  }

  /** The next n requests matching the filter get this fault, before any random one. */
  failNext(n: number, fault: StoreFault, filter: FaultFilter = {}): void {
    this.scheduled.push({ left: n, fault, ...filter })
  }

  /** Every request matching the filter fails with 503 until up() (a lasting outage). */
  down(filter: FaultFilter = {}): void {
    this.outage = filter
  }

  up(): void {
    this.outage = undefined
  }

  /** Total faults injected so far (slow responses excluded: they succeed). */
  get failures(): number {
    const f = this.stats.faults
    return f.unavailable + f.throttle + f.timeout + f.reset + f.lostAnswer + this.stats.refused
  }

  private draw(op: StoreOp, key: string): StoreFault | undefined {
    const hit = this.scheduled.find((s) => s.left > 0 && matches(s, op, key))
    if (hit) {
      hit.left--
      return hit.fault
    }
    if (!matches(this.filter, op, key)) return undefined
    const r = this.random()
    let acc = 0
    for (const fault of STORE_FAULTS) {
      acc += this.rates[fault] ?? 0
      if (r < acc) return fault
    }
    return undefined
  }

  private error(op: StoreOp, key: string, fault: StoreFault): StoreUnavailableError {
    const where = `${op} ${key} on ${this.url}`
    switch (fault) {
      case 'unavailable':
        return new StoreUnavailableError(`cannot ${where}: 500 InternalError (injected)`)
      case 'throttle':
        return new StoreUnavailableError(`cannot ${where}: 503 SlowDown, reduce your request rate (injected)`)
      case 'timeout':
        return new StoreUnavailableError(`cannot ${where}: request timed out after ${this.timeoutMs} ms (injected)`, {
          cause: Object.assign(new Error('request timed out'), { name: 'TimeoutError' }),
        })
      case 'reset':
      case 'lostAnswer':
        return new StoreUnavailableError(`cannot ${where}: connection reset (injected)`, {
          cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
        })
      case 'slow':
        throw new Error('a slow request is not an error')
    }
  }

  /** Runs one request through the fault schedule. */
  private async call<T>(op: StoreOp, key: string, fn: () => Promise<T>): Promise<T> {
    this.stats.requests++
    if (this.outage && matches(this.outage, op, key)) {
      this.stats.refused++
      throw new StoreUnavailableError(`cannot ${op} ${key} on ${this.url}: 503 ServiceUnavailable (store is down)`)
    }
    const fault = this.draw(op, key)
    if (fault === undefined) return fn()
    this.stats.faults[fault]++
    switch (fault) {
      case 'slow':
        await sleep(this.slowMs)
        return fn()
      case 'timeout':
        await sleep(this.timeoutMs)
        throw this.error(op, key, fault)
      case 'lostAnswer':
        await fn()
        throw this.error(op, key, fault)
      default:
        throw this.error(op, key, fault)
    }
  }

  get(key: string, range?: ByteRange): Promise<GetResult> {
    return this.call('get', key, () => this.inner.get(key, range))
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.call('head', key, () => this.inner.head(key))
  }

  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    return this.call('put', key, () => this.inner.put(key, body, options))
  }

  putIfAbsent(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    return this.call('putIfAbsent', key, () => this.inner.putIfAbsent(key, body, options))
  }

  putIfMatch(key: string, body: Uint8Array, etag: string, options?: PutOptions): Promise<{ etag: string }> {
    return this.call('putIfMatch', key, () => this.inner.putIfMatch(key, body, etag, options))
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    // One listing is one request here; a lost answer of a read is just a failure.
    const items: ObjectInfo[] = await this.call('list', prefix, async () => {
      const out: ObjectInfo[] = []
      for await (const info of this.inner.list(prefix, options)) out.push(info)
      return out
    })
    yield* items
  }

  listPrefixes(prefix: string): Promise<string[]> {
    return this.call('listPrefixes', prefix, () => this.inner.listPrefixes(prefix))
  }

  delete(key: string): Promise<void> {
    return this.call('delete', key, () => this.inner.delete(key))
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

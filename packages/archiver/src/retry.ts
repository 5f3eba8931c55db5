// Retries an operation with capped exponential backoff and jitter while its errors say retrying could help.
import { setTimeout as sleep } from 'node:timers/promises'

export interface RetryPolicy {
  initialMs: number
  maxMs: number
  /** Attempts including the first; 0 retries forever. */
  maxAttempts: number
}

const TRANSIENT_SYSTEM_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EMFILE',
  'ENFILE',
  'EBUSY',
])

/**
 * Everlog and kafkajs errors carry `retriable`; for anything else only transient system errors (network, file
 * handles) are worth another try — a bug would fail the same way every time.
 */
export function isRetriable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const e = err as { retriable?: unknown; code?: unknown; name?: unknown }
  if (typeof e.retriable === 'boolean') return e.retriable
  if (typeof e.code === 'string' && TRANSIENT_SYSTEM_CODES.has(e.code)) return true
  return e.name === 'TimeoutError'
}

export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt - 1, 30))
  return Math.round(base / 2 + (Math.random() * base) / 2)
}

export interface RetryOptions {
  policy: RetryPolicy
  isRetriable?: (err: unknown) => boolean
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** Stops waiting between attempts; the last error is thrown. */
  signal?: AbortSignal
}

export async function withRetry<T>(op: () => Promise<T>, options: RetryOptions): Promise<T> {
  const retriable = options.isRetriable ?? isRetriable
  for (let attempt = 1; ; attempt++) {
    try {
      return await op()
    } catch (err) {
      const last = options.policy.maxAttempts > 0 && attempt >= options.policy.maxAttempts
      if (last || !retriable(err) || options.signal?.aborted) throw err
      const delay = backoffDelay(options.policy, attempt)
      options.onRetry?.(err, attempt, delay)
      try {
        await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined)
      } catch {
        throw err
      }
    }
  }
}

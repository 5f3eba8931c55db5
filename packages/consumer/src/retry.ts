// kafkajs' retry rule for the consumer (its src/retry): the same defaults, the same randomized exponential
// schedule, and the same test of which errors are worth retrying, so an archive-served partition gives up and
// crashes exactly when a Kafka-served one would.
import kafkajs from 'kafkajs'
import type { RetryOptions } from 'kafkajs'

const { KafkaJSNumberOfRetriesExceeded } = kafkajs
// kafkajs' constructor takes the cause as a second argument; its type declaration leaves it out.
const KafkaJSNonRetriableError = kafkajs.KafkaJSNonRetriableError as unknown as new (
  e: Error,
  options: { cause: unknown },
) => Error

const DEFAULTS = { maxRetryTime: 30_000, initialRetryTime: 300, factor: 0.2, multiplier: 2, retries: 5 }

/** Errors of the language itself are bugs: kafkajs never retries them. */
const UNRECOVERABLE = new Set(['RangeError', 'ReferenceError', 'SyntaxError', 'TypeError'])

export function isRetriable(error: unknown): boolean {
  const e = error as { retriable?: unknown; name?: unknown } | null
  if (e === null || typeof e !== 'object') return true
  return e.retriable !== false && !UNRECOVERABLE.has(String(e.name))
}

/** One failing operation's retries: `next(error)` says how long to wait, or returns the error to crash with. */
export class RetryState {
  private readonly config: typeof DEFAULTS
  private retryCount = 0
  private retryTime: number

  constructor(options: RetryOptions | undefined) {
    this.config = { ...DEFAULTS, ...stripUndefined(options) }
    this.retryTime = randomAround(this.config.factor, this.config.initialRetryTime)
  }

  next(error: unknown): { waitMs: number } | { crash: Error } {
    const cause = ((error as { cause?: unknown })?.cause ?? error) as Error
    if (!isRetriable(error)) return { crash: new KafkaJSNonRetriableError(error as Error, { cause }) }
    if (this.retryCount >= this.config.retries) {
      const { retryCount, retryTime } = this
      return { crash: new KafkaJSNumberOfRetriesExceeded(error as Error, { retryCount, retryTime }) }
    }
    const waitMs = this.retryTime
    this.retryCount++
    const { factor, multiplier, maxRetryTime } = this.config
    this.retryTime = Math.min(randomAround(factor, this.retryTime) * multiplier, maxRetryTime)
    return { waitMs }
  }
}

function randomAround(factor: number, time: number): number {
  const delta = factor * time
  return Math.ceil(Math.random() * 2 * delta + (time - delta))
}

function stripUndefined(options: RetryOptions | undefined): Partial<typeof DEFAULTS> {
  const out: Partial<typeof DEFAULTS> = {}
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const v = options?.[key]
    if (typeof v === 'number') out[key] = v
  }
  return out
}

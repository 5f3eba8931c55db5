// A byte-rate limit shared by every partition of a restore: each send reserves its bytes on one virtual clock, so
// the average over any stretch longer than a batch stays at or under the limit however many partitions run.
import { setTimeout as sleep } from 'node:timers/promises'

export class RateLimiter {
  private nextFree = 0

  /** @param bytesPerSecond the limit; Infinity (or <= 0) disables it. */
  constructor(
    readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get limited(): boolean {
    return Number.isFinite(this.bytesPerSecond) && this.bytesPerSecond > 0
  }

  /** Resolves when `bytes` may be sent. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!this.limited) return
    const now = this.now()
    const start = Math.max(now, this.nextFree)
    this.nextFree = start + (bytes / this.bytesPerSecond) * 1000
    // Waiting until this reservation's slot ends (not starts) keeps even the last batch of a run under the limit.
    const wait = this.nextFree - now
    if (wait > 1) await sleep(wait, undefined, signal ? { signal } : undefined)
  }
}

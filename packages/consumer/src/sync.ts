// Two small coordination helpers for the per-partition loops: a change signal and a counting semaphore.

/** Wakes every waiter on the next notify(); waiters re-check their condition, so spurious wake-ups are harmless. */
export class Signal {
  private waiters: (() => void)[] = []

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  notify(): void {
    // Called after every message a handler finished; nobody waits nearly always, so nothing is allocated then.
    if (this.waiters.length === 0) return
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

/** At most `permits` holders at once, served in arrival order (kafkajs' partitionsConsumedConcurrently). */
export class Semaphore {
  private queue: (() => void)[] = []
  constructor(private permits: number) {}

  async acquire(): Promise<void> {
    if (this.permits > 0) {
      this.permits--
      return
    }
    await new Promise<void>((resolve) => this.queue.push(resolve))
  }

  release(): void {
    const next = this.queue.shift()
    if (next) next()
    else this.permits++
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

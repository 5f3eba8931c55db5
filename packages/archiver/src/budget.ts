// Bounds memory across partitions: bytes buffered or uploading are reserved here and released once committed, and
// concurrent segment uploads share a fixed number of slots.

/** Bytes held by open buffers and in-flight segments across every partition. */
export class ByteBudget {
  private used = 0
  private waiters: (() => void)[] = []
  private watchers: (() => void)[] = []

  constructor(readonly limit: number) {}

  get bytes(): number {
    return this.used
  }

  /** True when no more records should be taken until something is released. */
  get exhausted(): boolean {
    return this.used >= this.limit
  }

  add(n: number): void {
    this.used += n
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n)
    if (this.used < this.limit) this.wake()
    const watchers = this.watchers
    this.watchers = []
    for (const w of watchers) w()
  }

  /** Resolves at the next release, room or not: for callers that decide what to free next. */
  waitForRelease(): Promise<void> {
    return new Promise((resolve) => this.watchers.push(resolve))
  }

  /** Resolves once the budget has room (immediately when it has). */
  waitForRoom(): Promise<void> {
    if (this.used < this.limit) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Lets every waiter go (shutdown): callers re-check their own state. */
  wake(): void {
    const waiters = [...this.waiters, ...this.watchers]
    this.waiters = []
    this.watchers = []
    for (const w of waiters) w()
  }
}

/** A counting semaphore: at most `slots` tasks run at once, in arrival order. */
export class Limiter {
  private active = 0
  private queue: (() => void)[] = []

  constructor(readonly slots: number) {}

  get running(): number {
    return this.active
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.slots) await new Promise<void>((resolve) => this.queue.push(resolve))
    else this.active++
    try {
      return await task()
    } finally {
      const next = this.queue.shift()
      // The slot passes straight to the next task, so `active` stays counted.
      if (next) next()
      else this.active--
    }
  }
}

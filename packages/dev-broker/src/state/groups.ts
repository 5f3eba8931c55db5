// Consumer-group coordinator state: classic group membership, rebalances and committed offsets (skeleton seam).

export interface GroupCoordinatorOptions {
  /** Clock for commit timestamps; tests pass a fake one. */
  now?: () => number
  /** Kafka's group.initial.rebalance.delay.ms: how long the first join into an empty group waits for others. */
  initialRebalanceDelayMs?: number
}

export class GroupCoordinator {
  private readonly now: () => number
  private readonly initialRebalanceDelayMs: number
  private closed = false

  constructor(options: GroupCoordinatorOptions = {}) {
    this.now = options.now ?? Date.now
    this.initialRebalanceDelayMs = options.initialRebalanceDelayMs ?? 0
  }

  /** Stops every timer and answers every waiting request, so nothing keeps the process alive. */
  close(): void {
    this.closed = true
  }

  /** Called by EndTxn: makes a producer's pending TxnOffsetCommit offsets visible (commit) or drops them (abort). */
  completeTransaction(_producerId: bigint, _commit: boolean): void {}

  /** Committed offsets as plain JSON, for `dataDir` persistence. */
  snapshot(): unknown {
    return { version: 1, groups: [], at: this.now(), delay: this.initialRebalanceDelayMs, closed: this.closed }
  }

  restore(_snapshot: unknown): void {}
}

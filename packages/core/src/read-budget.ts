// One byte budget shared by every partition an ArchiveReader reads: fetched segment bytes and the row groups decoded
// from them are reserved here before they are fetched, so a reader's memory does not grow with the partitions read.
import { InvalidArgumentError } from './errors.js'

/** A reservation of bytes: waiting, then granted, until released. */
export interface BudgetRequest {
  readonly bytes: number
  /** Settles when the bytes are granted (never rejects; a released waiting request never settles). */
  readonly granted: Promise<void>
  /**
   * Changes a granted reservation to `bytes`, once the real size is known. Growing is granted at once: the
   * holder is already reading and must not wait for others (that could deadlock); shrinking lets others in.
   */
  resize(bytes: number): void
  /** Gives the bytes back (or leaves the queue, when still waiting). Idempotent. */
  release(): void
}

interface Entry {
  bytes: number
  state: 'waiting' | 'granted' | 'released'
  /** A first request: its reader holds nothing yet, so it goes ahead of every read-ahead request. */
  first: boolean
  grant: () => void
}

/**
 * Requests are granted in order: first requests (from readers holding nothing) before read-ahead, otherwise first
 * come first served, and one that does not fit holds back those behind it. A request larger than the whole budget
 * is granted when nothing else is held, so it is slow rather than stuck. A reader only asks for its next chunk
 * once every chunk before it was granted, so whatever is held belongs to readers that can finish and release it.
 */
export class ReadBudget {
  private held = 0
  private peak = 0
  private readonly queue: Entry[] = []

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidArgumentError(`invalid read budget ${limit}: expected a number of bytes >= 1`)
    }
  }

  /** Bytes granted and not yet released. */
  get heldBytes(): number {
    return this.held
  }

  /** The most bytes ever held at once. */
  get peakBytes(): number {
    return this.peak
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.queue.length
  }

  request(bytes: number, options: { first?: boolean } = {}): BudgetRequest {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new InvalidArgumentError(`invalid byte count ${bytes}`)
    let grant!: () => void
    const granted = new Promise<void>((resolve) => (grant = resolve))
    const entry: Entry = { bytes, state: 'waiting', first: options.first === true, grant }
    if (entry.first) {
      const at = this.queue.findIndex((e) => !e.first)
      this.queue.splice(at < 0 ? this.queue.length : at, 0, entry)
    } else {
      this.queue.push(entry)
    }
    this.pump()
    return {
      get bytes() {
        return entry.bytes
      },
      granted,
      resize: (n) => {
        if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`invalid byte count ${n}`)
        if (entry.state !== 'granted') {
          if (entry.state === 'waiting') entry.bytes = n
          this.pump()
          return
        }
        this.add(n - entry.bytes)
        entry.bytes = n
        this.pump()
      },
      release: () => {
        if (entry.state === 'granted') this.add(-entry.bytes)
        else if (entry.state === 'waiting') this.queue.splice(this.queue.indexOf(entry), 1)
        entry.state = 'released'
        this.pump()
      },
    }
  }

  private add(bytes: number): void {
    this.held += bytes
    if (this.held > this.peak) this.peak = this.held
  }

  private pump(): void {
    for (;;) {
      const head = this.queue[0]
      if (!head || (this.held > 0 && this.held + head.bytes > this.limit)) return
      this.queue.shift()
      head.state = 'granted'
      this.add(head.bytes)
      head.grant()
    }
  }
}

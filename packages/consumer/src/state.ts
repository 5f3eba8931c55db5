// What the parts of an ArchiveConsumer share: the clients, the assigned partitions and their positions, pauses,
// the run configuration, and the small helpers every part uses to read and change them.
import type { ArchiveReader } from '@everlog/core'
import type { Admin, Consumer, ConsumerConfig, ConsumerRunConfig, Logger } from 'kafkajs'
import type { Commits } from './commits.js'
import type { EventHub } from './events.js'
import type { Extents } from './extent.js'
import { OffsetBook } from './offset-book.js'
import type { Entry as BookEntry } from './offset-book.js'
import type { ReadMode } from './position.js'
import { Semaphore, Signal } from './sync.js'

export type Source = 'resolving' | 'archive' | 'kafka'

export interface PartitionState {
  topic: string
  partition: number
  /** Bumped by every seek, reassignment and re-route: work started under an older epoch stops. */
  epoch: number
  source: Source
  /** Next offset to deliver; undefined until resolved (or while `reset` is set). */
  position: bigint | undefined
  /** Start at the subscription's default offset (fromBeginning: earliest, else latest), kafkajs' offset reset. */
  reset?: boolean
  /** The position came from seek(): out of range below the earliest offset resets it, as Kafka would. */
  sought?: boolean
  /** The latest high watermark seen (Kafka's, or the archive's end when that is ahead of what we last asked Kafka). */
  highWatermark: bigint
  /** While Kafka serves the partition below the archive's first offset: that offset, where the archive takes over. */
  liveUntil?: bigint | undefined
  /** Read from the archive since it was assigned or sought, so crossing into Kafka is worth an archive.switch. */
  fromArchive: boolean
  /** This partition's entry in the offset book, once it has one. */
  offsets?: BookEntry
}

export interface Subscription {
  matches: (topic: string) => boolean
  fromBeginning: boolean
}

export type RunSettings = Required<Pick<ConsumerRunConfig, 'autoCommit' | 'eachBatchAutoResolve'>> &
  Pick<ConsumerRunConfig, 'eachBatch' | 'eachMessage'> & {
    autoCommitInterval: number | null
    autoCommitThreshold: number | null
  }

export const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`

export interface StateParts {
  groupId: string
  mode: ReadMode
  onMissing: 'error' | 'skip'
  retry: NonNullable<ConsumerConfig['retry']>
  inner: Consumer
  admin: Admin
  reader: ArchiveReader
  log: Logger
  events: EventHub
}

export class ConsumerState {
  readonly groupId: string
  readonly mode: ReadMode
  readonly onMissing: 'error' | 'skip'
  readonly retry: NonNullable<ConsumerConfig['retry']>
  readonly inner: Consumer
  readonly admin: Admin
  readonly reader: ArchiveReader
  readonly log: Logger
  readonly events: EventHub
  readonly subscriptions: Subscription[] = []
  readonly partitions = new Map<string, PartitionState>()
  readonly pendingSeeks = new Map<string, string>()
  readonly loops = new Set<Promise<void>>()
  readonly book = new OffsetBook()
  readonly changed = new Signal()
  readonly pausedTopics = new Set<string>()
  readonly pausedPartitions = new Set<string>()
  readonly resumedPartitions = new Set<string>()
  // Set once the parts that need the state exist (they take it in their constructors).
  commits!: Commits
  extents!: Extents
  /** Stops the consumer for good after an error no retry can fix (set by ArchiveConsumer). */
  crash: (error: unknown) => void = () => {}

  runConfig: RunSettings = {
    autoCommit: true,
    eachBatchAutoResolve: true,
    autoCommitInterval: null,
    autoCommitThreshold: null,
  }
  running = false
  rebalancing = false
  semaphore = new Semaphore(1)
  /** Handlers running right now (archive or live); a rebalance waits for them before rejoining. */
  inFlight = 0
  settling: Promise<void> | undefined
  /** kafkajs' runner heartbeat, seen in live payloads of the current generation (it is not partition-bound). */
  liveHeartbeat: (() => Promise<void>) | undefined
  /** heartbeat() of archive payloads: the group's heartbeat when we have one; kafkajs heartbeats by itself otherwise. */
  readonly archiveHeartbeat = async (): Promise<void> => {
    const heartbeat = this.liveHeartbeat
    if (heartbeat) await heartbeat()
  }

  constructor(parts: StateParts) {
    this.groupId = parts.groupId
    this.mode = parts.mode
    this.onMissing = parts.onMissing
    this.retry = parts.retry
    this.inner = parts.inner
    this.admin = parts.admin
    this.reader = parts.reader
    this.log = parts.log
    this.events = parts.events
  }

  isCurrent(ps: PartitionState, epoch: number): boolean {
    return ps.epoch === epoch && this.running
  }

  advance(ps: PartitionState, next: bigint): void {
    ps.position = next
    // The book entry lives as long as the assignment does (revocation drops both), so caching it is safe.
    ;(ps.offsets ??= this.book.entry(ps.topic, ps.partition)).resolved = next
  }

  track(p: Promise<void>): void {
    this.loops.add(p)
    void p.finally(() => this.loops.delete(p))
  }

  fromBeginning(topic: string): boolean {
    // The latest subscription naming the topic wins, as in kafkajs.
    for (let i = this.subscriptions.length - 1; i >= 0; i--) {
      const s = this.subscriptions[i]!
      if (s.matches(topic)) return s.fromBeginning
    }
    return false
  }

  // ---- pauses ----------------------------------------------------------------------------------------------------

  /** Any user pause at all: the per-message check skips building a key when there is none. */
  get hasPauses(): boolean {
    return this.pausedPartitions.size > 0 || this.pausedTopics.size > 0
  }

  isPaused(topic: string, partition: number): boolean {
    if (!this.hasPauses) return false
    const key = keyOf(topic, partition)
    if (this.pausedPartitions.has(key)) return true
    return this.pausedTopics.has(topic) && !this.resumedPartitions.has(key)
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.pausedTopics.add(topic)
        for (const key of [...this.resumedPartitions])
          if (key.startsWith(`${topic}\u0000`)) this.resumedPartitions.delete(key)
      } else {
        for (const p of partitions) {
          this.pausedPartitions.add(keyOf(topic, p))
          this.resumedPartitions.delete(keyOf(topic, p))
        }
      }
      const assigned = this.assignedOf(topic, partitions)
      if (assigned.length > 0) this.innerPause(topic, assigned)
    }
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.pausedTopics.delete(topic)
        for (const key of [...this.pausedPartitions])
          if (key.startsWith(`${topic}\u0000`)) this.pausedPartitions.delete(key)
      } else {
        for (const p of partitions) {
          this.pausedPartitions.delete(keyOf(topic, p))
          if (this.pausedTopics.has(topic)) this.resumedPartitions.add(keyOf(topic, p))
        }
      }
      // Only partitions Kafka serves resume underneath; archive-served ones stay paused there and wake their loop.
      const live = this.assignedOf(topic, partitions).filter((p) => {
        const ps = this.partitions.get(keyOf(topic, p))
        return ps?.source === 'kafka' && !this.isPaused(topic, p)
      })
      if (live.length > 0) this.inner.resume([{ topic, partitions: live }])
    }
    this.changed.notify()
  }

  pauseFromHandler(topic: string, partition: number): () => void {
    this.pause([{ topic, partitions: [partition] }])
    return () => this.resume([{ topic, partitions: [partition] }])
  }

  innerPause(topic: string, partitions: number[]): void {
    try {
      this.inner.pause([{ topic, partitions }])
    } catch {
      // Before run() kafkajs has no group to pause in; the GROUP_JOIN handler pauses every assigned partition.
    }
  }

  private assignedOf(topic: string, partitions: number[] | undefined): number[] {
    const out: number[] = []
    for (const ps of this.partitions.values()) {
      if (ps.topic === topic && (partitions === undefined || partitions.includes(ps.partition))) out.push(ps.partition)
    }
    return out
  }

  // ---- logging ---------------------------------------------------------------------------------------------------

  logHandlerError(handler: string, ps: PartitionState, offset: string | null, error: unknown): void {
    this.log.error(`Error when calling ${handler}`, {
      topic: ps.topic,
      partition: ps.partition,
      offset,
      source: ps.source,
      stack: (error as Error)?.stack,
      error,
    })
  }

  logCommitError(error: unknown): void {
    this.log.warn('Offset commit failed; the offsets are committed again with the next commit', {
      groupId: this.groupId,
      error: (error as Error)?.message,
    })
  }
}

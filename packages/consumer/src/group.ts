// Group membership as the kafkajs consumer underneath reports it: new assignments (and where each partition
// starts), rebalances, crashes, and a rejoin that waits for in-flight handlers and their commit.
import kafkajs from 'kafkajs'
import type { Cluster, PartitionAssigner } from 'kafkajs'
import { startLoop } from './archive-reading.js'
import { SETTLE_TIMEOUT_MS } from './config.js'
import { applySeek } from './handover.js'
import { keyOf } from './state.js'
import type { ConsumerState, PartitionState } from './state.js'
import { sleep } from './sync.js'

const { PartitionAssigners } = kafkajs

/**
 * kafkajs has no "partitions revoked" callback, and our archive loops run beside its fetch loop, so a handler
 * may still be processing when kafkajs decides to rejoin. Every assigner factory receives the consumer's
 * cluster; wrapping its findGroupCoordinator (the first step of JoinGroup) lets a rejoin wait until in-flight
 * handlers finish and what they processed is committed, as Kafka's own clients do before giving partitions up.
 */
export function hookAssigners(
  assigners: PartitionAssigner[] | undefined,
  beforeJoin: () => Promise<void>,
): PartitionAssigner[] {
  const patched = new WeakSet<Cluster>()
  const factories = assigners && assigners.length > 0 ? assigners : [PartitionAssigners.roundRobin]
  return factories.map((factory) => (config) => {
    const { cluster } = config
    if (!patched.has(cluster)) {
      patched.add(cluster)
      const findGroupCoordinator = cluster.findGroupCoordinator.bind(cluster)
      cluster.findGroupCoordinator = async (group) => {
        await beforeJoin()
        return findGroupCoordinator(group)
      }
    }
    return factory(config)
  })
}

export class Membership {
  constructor(private readonly s: ConsumerState) {}

  onGroupJoin(assignment: Record<string, number[]>): void {
    const s = this.s
    s.rebalancing = false
    s.liveHeartbeat = undefined
    const assigned = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const p of partitions) assigned.add(keyOf(topic, p))
    }
    for (const [key, ps] of s.partitions) {
      if (assigned.has(key)) continue
      ps.epoch++
      s.partitions.delete(key)
      s.book.forget(ps.topic, ps.partition)
    }
    const toResolve: PartitionState[] = []
    for (const [topic, partitions] of Object.entries(assignment)) {
      if (partitions.length === 0) continue
      // Synchronous, before kafkajs' first fetch of the new generation: nothing is fetched until we decide.
      s.inner.pause([{ topic, partitions }])
      for (const partition of partitions) {
        const key = keyOf(topic, partition)
        let ps = s.partitions.get(key)
        if (!ps) {
          ps = {
            topic,
            partition,
            epoch: 0,
            source: 'resolving',
            position: undefined,
            highWatermark: 0n,
            fromArchive: false,
          }
          s.partitions.set(key, ps)
        }
        ps.epoch++
        ps.source = 'resolving'
        const pending = s.pendingSeeks.get(key)
        if (pending !== undefined) {
          s.pendingSeeks.delete(key)
          applySeek(s, ps, BigInt(pending))
        }
        toResolve.push(ps)
      }
    }
    s.changed.notify()
    if (!s.running || toResolve.length === 0) return
    const epochs = new Map(toResolve.map((ps) => [ps, ps.epoch]))
    const resolving = this.resolveCommitted(toResolve.filter((ps) => ps.position === undefined && !ps.reset))
      .then(() => {
        for (const ps of toResolve) if (ps.epoch === epochs.get(ps)) startLoop(s, ps)
      })
      .catch((error: unknown) => s.crash(error))
    s.track(resolving)
  }

  onRebalancing(): void {
    // Deliver nothing more until the new assignment is known; the rejoin waits in settleBeforeRejoin.
    this.s.rebalancing = true
    this.s.changed.notify()
  }

  onInnerCrash(restart: boolean): void {
    const s = this.s
    // kafkajs disconnected underneath; loops stop and wait for the restart's GROUP_JOIN (or for good).
    s.rebalancing = true
    s.liveHeartbeat = undefined
    for (const ps of s.partitions.values()) ps.epoch++
    if (!restart) s.running = false
    s.changed.notify()
  }

  /** Committed offsets of newly assigned partitions; those without one take the subscription's default. */
  private async resolveCommitted(states: PartitionState[]): Promise<void> {
    if (states.length === 0) return
    const s = this.s
    const topics = [...new Set(states.map((ps) => ps.topic))]
    const fetched = await s.admin.fetchOffsets({ groupId: s.groupId, topics })
    for (const ps of states) {
      const entry = fetched.find((t) => t.topic === ps.topic)?.partitions.find((p) => p.partition === ps.partition)
      const committed = entry ? BigInt(entry.offset) : -1n
      if (committed >= 0n) {
        ps.position = committed
        s.book.committed(ps.topic, ps.partition, committed)
      } else {
        ps.reset = true
      }
    }
  }

  /** Called before every JoinGroup (see hookAssigners): a rejoin waits until this consumer has settled. */
  async beforeJoin(): Promise<void> {
    if (this.s.rebalancing && this.s.running) await this.settleBeforeRejoin()
  }

  private settleBeforeRejoin(): Promise<void> {
    const s = this.s
    s.settling ??= (async () => {
      const deadline = Date.now() + SETTLE_TIMEOUT_MS
      while (s.inFlight > 0 && Date.now() < deadline) {
        await Promise.race([s.changed.wait(), sleep(50)])
      }
      if (s.runConfig.autoCommit) {
        await Promise.race([s.commits.resolvedQuietly(), sleep(SETTLE_TIMEOUT_MS)])
      }
    })().finally(() => {
      s.settling = undefined
    })
    return s.settling
  }
}

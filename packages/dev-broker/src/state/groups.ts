// Consumer-group coordinator: classic group membership (join, sync, heartbeat, leave), rebalances, committed and
// transactional offsets. API modules only decode and encode; every rule of the group protocol lives here.
//
// Deliberately not supported (a dev broker does not need them): the KIP-848 consumer protocol; offset retention
// and expiry (offsets live as long as the broker or its dataDir); group.min/max.session.timeout.ms bounds (any
// positive timeout is accepted, so tests can expire members quickly); group.max.size; Kafka's rebalance-free
// replacement of a restarted static member (here the replacement rebalances the group).

import { randomUUID } from 'node:crypto'
import type { KafkaErrorName } from '../protocol/errors.js'

export const GroupStates = {
  Empty: 'Empty',
  PreparingRebalance: 'PreparingRebalance',
  CompletingRebalance: 'CompletingRebalance',
  Stable: 'Stable',
  Dead: 'Dead',
} as const
export type GroupState = (typeof GroupStates)[keyof typeof GroupStates]

export interface GroupCoordinatorOptions {
  /** Clock for commit timestamps; tests pass a fake one. */
  now?: () => number
  /** Kafka's group.initial.rebalance.delay.ms: how long the first join into an empty group waits for others. */
  initialRebalanceDelayMs?: number
}

export interface ProtocolOffer {
  name: string
  metadata: Uint8Array
}

export interface JoinGroupInput {
  groupId: string
  /** '' for a member joining for the first time. */
  memberId: string
  groupInstanceId: string | null
  clientId: string
  clientHost: string
  sessionTimeoutMs: number
  /** JoinGroup v0 has none: pass the session timeout, as Kafka does. */
  rebalanceTimeoutMs: number
  protocolType: string
  protocols: ProtocolOffer[]
  /** JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED with its id, then joins again with it. */
  requireKnownMemberId: boolean
}

export interface JoinGroupMember {
  memberId: string
  groupInstanceId: string | null
  metadata: Uint8Array
}

export interface JoinGroupOutput {
  error: KafkaErrorName
  generationId: number
  protocolType: string | null
  protocolName: string | null
  leader: string
  memberId: string
  /** Filled for the leader only: it computes the assignment client-side. */
  members: JoinGroupMember[]
}

export interface SyncGroupInput {
  groupId: string
  generationId: number
  memberId: string
  groupInstanceId: string | null
  /** SyncGroup v5+; null when the client does not say. */
  protocolType: string | null
  protocolName: string | null
  assignments: { memberId: string; assignment: Uint8Array }[]
}

export interface SyncGroupOutput {
  error: KafkaErrorName
  protocolType: string | null
  protocolName: string | null
  assignment: Uint8Array
}

export interface MemberRef {
  groupId: string
  generationId: number
  memberId: string
  groupInstanceId: string | null
}

export interface LeavingMember {
  memberId: string
  groupInstanceId: string | null
}

export interface LeaveGroupOutput {
  error: KafkaErrorName
  members: (LeavingMember & { error: KafkaErrorName })[]
}

export interface OffsetToCommit {
  topic: string
  partition: number
  offset: bigint
  leaderEpoch: number
  metadata: string | null
}

export interface FetchedOffset {
  partition: number
  /** -1 when nothing was committed. */
  offset: bigint
  leaderEpoch: number
  metadata: string
  error: KafkaErrorName
}

export interface OffsetFetchOutput {
  error: KafkaErrorName
  topics: { topic: string; partitions: FetchedOffset[] }[]
}

export interface GroupDescription {
  groupId: string
  error: KafkaErrorName
  state: GroupState
  protocolType: string
  /** The chosen protocol; empty unless Stable, as in Kafka. */
  protocolData: string
  members: {
    memberId: string
    groupInstanceId: string | null
    clientId: string
    clientHost: string
    metadata: Uint8Array
    assignment: Uint8Array
  }[]
}

export interface GroupListing {
  groupId: string
  protocolType: string
  state: GroupState
}

export interface TxnOffsetCommitInput {
  groupId: string
  producerId: bigint
  producerEpoch: number
  /** TxnOffsetCommit v3+; -1 and '' from older clients (no generation check). */
  generationId: number
  memberId: string
  groupInstanceId: string | null
  offsets: OffsetToCommit[]
}

interface CommittedOffset {
  offset: bigint
  leaderEpoch: number
  metadata: string
  commitTimestamp: number
}

type Timer = ReturnType<typeof setTimeout>

class Member {
  sessionTimer: Timer | null = null
  awaitingJoin: ((out: JoinGroupOutput) => void) | null = null
  awaitingSync: ((out: SyncGroupOutput) => void) | null = null
  assignment: Uint8Array = EMPTY
  constructor(
    readonly memberId: string,
    public groupInstanceId: string | null,
    public clientId: string,
    public clientHost: string,
    public sessionTimeoutMs: number,
    public rebalanceTimeoutMs: number,
    public protocols: ProtocolOffer[],
  ) {}

  metadataFor(protocol: string | null): Uint8Array {
    for (const p of this.protocols) if (p.name === protocol) return p.metadata
    return EMPTY
  }
}

class Group {
  state: GroupState = GroupStates.Empty
  generationId = 0
  protocolType: string | null = null
  protocolName: string | null = null
  leaderId: string | null = null
  readonly members = new Map<string, Member>()
  /** v4+ members that were handed an id (MEMBER_ID_REQUIRED) and have not joined with it yet. */
  readonly pending = new Map<string, Timer>()
  /** Join phase deadline (rebalance timeout), or sync phase deadline while CompletingRebalance. */
  phaseTimer: Timer | null = null
  initialDelayPending = false
  readonly offsets = new Map<string, Map<number, CommittedOffset>>()
  constructor(readonly groupId: string) {}
}

const EMPTY = new Uint8Array(0)
// setTimeout's ceiling; larger delays would fire at once
const MAX_TIMER_MS = 2 ** 31 - 1
const SNAPSHOT_VERSION = 1

export class GroupCoordinator {
  private readonly now: () => number
  private readonly initialRebalanceDelayMs: number
  private readonly groups = new Map<string, Group>()
  /** TxnOffsetCommit offsets by producer id, then group: invisible until the transaction commits. */
  private readonly pendingTxnOffsets = new Map<bigint, Map<string, OffsetToCommit[]>>()
  private readonly timers = new Set<Timer>()
  private closed = false

  constructor(options: GroupCoordinatorOptions = {}) {
    this.now = options.now ?? Date.now
    this.initialRebalanceDelayMs = Math.max(0, options.initialRebalanceDelayMs ?? 0)
  }

  // ---- membership -------------------------------------------------------------------------------------------

  joinGroup(input: JoinGroupInput): Promise<JoinGroupOutput> {
    const fail = (error: KafkaErrorName, memberId = input.memberId): Promise<JoinGroupOutput> =>
      Promise.resolve(joinError(error, memberId))
    if (this.closed) return fail('COORDINATOR_NOT_AVAILABLE')
    if (input.groupId === '') return fail('INVALID_GROUP_ID')
    if (!(input.sessionTimeoutMs > 0)) return fail('INVALID_SESSION_TIMEOUT')
    // checked before the group exists so that a malformed join does not leave an empty group behind
    if (input.protocolType === '' || input.protocols.length === 0) return fail('INCONSISTENT_GROUP_PROTOCOL')
    let group = this.groups.get(input.groupId)
    if (group === undefined) {
      if (input.memberId !== '') return fail('UNKNOWN_MEMBER_ID')
      group = new Group(input.groupId)
      this.groups.set(input.groupId, group)
    }
    if (!this.supportsProtocols(group, input)) return fail('INCONSISTENT_GROUP_PROTOCOL')

    if (input.memberId === '') {
      const memberId = `${input.clientId}-${randomUUID()}`
      if (input.requireKnownMemberId && input.groupInstanceId === null) {
        // the member id must round-trip through the client before it counts, so a client that dies between the
        // two joins does not hold up the rebalance for longer than its session timeout
        const g = group
        g.pending.set(
          memberId,
          this.schedule(input.sessionTimeoutMs, () => {
            g.pending.delete(memberId)
            this.tryCompleteJoin(g)
          }),
        )
        return fail('MEMBER_ID_REQUIRED', memberId)
      }
      // a static member restarting under the same group.instance.id takes over from its previous incarnation
      const previous = input.groupInstanceId === null ? undefined : this.byInstanceId(group, input.groupInstanceId)
      if (previous !== undefined) this.removeMember(group, previous, 'FENCED_INSTANCE_ID')
      return this.addMemberAndRebalance(group, memberId, input)
    }

    const pendingTimer = group.pending.get(input.memberId)
    if (pendingTimer !== undefined) {
      this.cancel(pendingTimer)
      group.pending.delete(input.memberId)
      return this.addMemberAndRebalance(group, input.memberId, input)
    }
    const member = this.member(group, input.memberId, input.groupInstanceId)
    if (typeof member === 'string') return fail(member)
    switch (group.state) {
      case GroupStates.PreparingRebalance:
        this.updateMember(member, input)
        return this.awaitJoin(group, member)
      case GroupStates.CompletingRebalance:
        // the member missed the join response (e.g. a retried request): hand it the same generation again
        if (sameProtocols(member.protocols, input.protocols)) return Promise.resolve(this.joinResponse(group, member))
        this.updateMember(member, input)
        this.prepareRebalance(group)
        return this.awaitJoin(group, member)
      case GroupStates.Stable:
        if (member.memberId !== group.leaderId && sameProtocols(member.protocols, input.protocols)) {
          return Promise.resolve(this.joinResponse(group, member))
        }
        // the leader rejoining means it wants to reassign (e.g. its subscription or the metadata changed)
        this.updateMember(member, input)
        this.prepareRebalance(group)
        return this.awaitJoin(group, member)
      default:
        return fail('UNKNOWN_MEMBER_ID')
    }
  }

  syncGroup(input: SyncGroupInput): Promise<SyncGroupOutput> {
    const fail = (error: KafkaErrorName): Promise<SyncGroupOutput> =>
      Promise.resolve({ error, protocolType: null, protocolName: null, assignment: EMPTY })
    if (this.closed) return fail('COORDINATOR_NOT_AVAILABLE')
    const group = this.groups.get(input.groupId)
    if (group === undefined) return fail('UNKNOWN_MEMBER_ID')
    const member = this.member(group, input.memberId, input.groupInstanceId)
    if (typeof member === 'string') return fail(member)
    if (input.generationId !== group.generationId) return fail('ILLEGAL_GENERATION')
    if (
      (input.protocolType !== null && input.protocolType !== group.protocolType) ||
      (input.protocolName !== null && input.protocolName !== group.protocolName)
    ) {
      return fail('INCONSISTENT_GROUP_PROTOCOL')
    }
    switch (group.state) {
      case GroupStates.PreparingRebalance:
        return fail('REBALANCE_IN_PROGRESS')
      case GroupStates.CompletingRebalance: {
        this.armSession(group, member)
        if (member.awaitingSync !== null) member.awaitingSync(this.syncResponse(group, EMPTY, 'REBALANCE_IN_PROGRESS'))
        const reply = new Promise<SyncGroupOutput>((resolve) => (member.awaitingSync = resolve))
        if (member.memberId === group.leaderId) {
          const byMember = new Map(input.assignments.map((a) => [a.memberId, a.assignment]))
          for (const m of group.members.values()) m.assignment = byMember.get(m.memberId) ?? EMPTY
          this.cancel(group.phaseTimer)
          group.phaseTimer = null
          group.state = GroupStates.Stable
          for (const m of group.members.values()) {
            const resolve = m.awaitingSync
            m.awaitingSync = null
            resolve?.(this.syncResponse(group, m.assignment, 'NONE'))
          }
        }
        return reply
      }
      case GroupStates.Stable:
        this.armSession(group, member)
        return Promise.resolve(this.syncResponse(group, member.assignment, 'NONE'))
      default:
        return fail('UNKNOWN_MEMBER_ID')
    }
  }

  heartbeat(input: MemberRef): KafkaErrorName {
    if (this.closed) return 'COORDINATOR_NOT_AVAILABLE'
    const group = this.groups.get(input.groupId)
    if (group === undefined) return 'UNKNOWN_MEMBER_ID'
    const member = this.member(group, input.memberId, input.groupInstanceId)
    if (typeof member === 'string') return member
    if (input.generationId !== group.generationId) return 'ILLEGAL_GENERATION'
    switch (group.state) {
      case GroupStates.PreparingRebalance:
        this.armSession(group, member)
        return 'REBALANCE_IN_PROGRESS'
      case GroupStates.CompletingRebalance:
      case GroupStates.Stable:
        this.armSession(group, member)
        return 'NONE'
      default:
        return 'UNKNOWN_MEMBER_ID'
    }
  }

  leaveGroup(groupId: string, leaving: LeavingMember[]): LeaveGroupOutput {
    if (this.closed) return { error: 'COORDINATOR_NOT_AVAILABLE', members: [] }
    const group = this.groups.get(groupId)
    const members = leaving.map((m) => {
      if (group === undefined) return { ...m, error: 'UNKNOWN_MEMBER_ID' as KafkaErrorName }
      const pendingTimer = group.pending.get(m.memberId)
      if (pendingTimer !== undefined) {
        this.cancel(pendingTimer)
        group.pending.delete(m.memberId)
        return { ...m, error: 'NONE' as KafkaErrorName }
      }
      // a static member may leave by instance id alone (LeaveGroup v3+ with an empty member id)
      const member =
        m.memberId === '' && m.groupInstanceId !== null
          ? (this.byInstanceId(group, m.groupInstanceId) ?? 'UNKNOWN_MEMBER_ID')
          : this.member(group, m.memberId, m.groupInstanceId)
      if (typeof member === 'string') return { ...m, error: member }
      this.removeMember(group, member)
      return { ...m, error: 'NONE' as KafkaErrorName }
    })
    if (group !== undefined) this.afterMembersLeft(group)
    return { error: 'NONE', members }
  }

  // ---- offsets ----------------------------------------------------------------------------------------------

  /** Commits offsets for a group member, or for a "simple" consumer (generation -1) of an empty group. */
  commitOffsets(input: MemberRef & { offsets: OffsetToCommit[] }): KafkaErrorName {
    if (this.closed) return 'COORDINATOR_NOT_AVAILABLE'
    let group = this.groups.get(input.groupId)
    if (group === undefined) {
      // a group that does not use Kafka's membership only stores offsets; an old generation is a zombie
      if (input.generationId >= 0) return 'ILLEGAL_GENERATION'
      group = this.createGroup(input.groupId)
    }
    if (!(input.generationId < 0 && group.state === GroupStates.Empty)) {
      const member = this.member(group, input.memberId, input.groupInstanceId)
      if (typeof member === 'string') return member
      if (input.generationId !== group.generationId) return 'ILLEGAL_GENERATION'
      // the generation has no assignment yet, so no member can own the partitions it commits
      if (group.state === GroupStates.CompletingRebalance) return 'REBALANCE_IN_PROGRESS'
      this.armSession(group, member)
    }
    this.storeOffsets(group, input.offsets)
    return 'NONE'
  }

  /** Committed offsets; topics null means every partition the group has committed (OffsetFetch v2+). */
  fetchOffsets(
    groupId: string,
    topics: { topic: string; partitions: number[] }[] | null,
    requireStable = false,
  ): OffsetFetchOutput {
    if (this.closed) return { error: 'COORDINATOR_NOT_AVAILABLE', topics: [] }
    const group = this.groups.get(groupId)
    const wanted =
      topics ??
      [...(group?.offsets ?? new Map<string, Map<number, CommittedOffset>>())]
        .map(([topic, parts]) => ({ topic, partitions: [...parts.keys()].sort((a, b) => a - b) }))
        .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
    const unstable = requireStable ? this.pendingPartitions(groupId) : null
    return {
      error: 'NONE',
      topics: wanted.map(({ topic, partitions }) => ({
        topic,
        partitions: partitions.map((partition): FetchedOffset => {
          if (unstable?.has(`${topic}\u0000${partition}`)) {
            return { partition, offset: -1n, leaderEpoch: -1, metadata: '', error: 'UNSTABLE_OFFSET_COMMIT' }
          }
          const c = group?.offsets.get(topic)?.get(partition)
          return c === undefined
            ? { partition, offset: -1n, leaderEpoch: -1, metadata: '', error: 'NONE' }
            : { partition, offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata, error: 'NONE' }
        }),
      })),
    }
  }

  /** TxnOffsetCommit: offsets wait under the producer id until EndTxn calls completeTransaction(). */
  txnCommitOffsets(input: TxnOffsetCommitInput): KafkaErrorName {
    if (this.closed) return 'COORDINATOR_NOT_AVAILABLE'
    const group = this.groups.get(input.groupId)
    if (input.memberId !== '' && group?.members.get(input.memberId) === undefined) return 'UNKNOWN_MEMBER_ID'
    if (input.generationId >= 0 && input.generationId !== (group?.generationId ?? -1)) return 'ILLEGAL_GENERATION'
    let byGroup = this.pendingTxnOffsets.get(input.producerId)
    if (byGroup === undefined) this.pendingTxnOffsets.set(input.producerId, (byGroup = new Map()))
    const list = byGroup.get(input.groupId)
    if (list === undefined) byGroup.set(input.groupId, [...input.offsets])
    else list.push(...input.offsets)
    return 'NONE'
  }

  /** Called by EndTxn: makes a producer's pending TxnOffsetCommit offsets visible (commit) or drops them (abort). */
  completeTransaction(producerId: bigint, commit: boolean): void {
    const byGroup = this.pendingTxnOffsets.get(producerId)
    if (byGroup === undefined) return
    this.pendingTxnOffsets.delete(producerId)
    if (!commit) return
    for (const [groupId, offsets] of byGroup) {
      this.storeOffsets(this.groups.get(groupId) ?? this.createGroup(groupId), offsets)
    }
  }

  // ---- admin ------------------------------------------------------------------------------------------------

  describeGroups(groupIds: string[]): GroupDescription[] {
    return groupIds.map((groupId): GroupDescription => {
      const group = this.groups.get(groupId)
      if (group === undefined || this.closed) {
        // Kafka describes an unknown group as Dead with no members rather than failing
        return { groupId, error: 'NONE', state: GroupStates.Dead, protocolType: '', protocolData: '', members: [] }
      }
      const stable = group.state === GroupStates.Stable
      return {
        groupId,
        error: 'NONE',
        state: group.state,
        protocolType: group.protocolType ?? '',
        protocolData: stable ? (group.protocolName ?? '') : '',
        members: [...group.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          metadata: stable ? m.metadataFor(group.protocolName) : EMPTY,
          assignment: stable ? m.assignment : EMPTY,
        })),
      }
    })
  }

  /** Every group, optionally only those in the given states (ListGroups v4 states filter, case-insensitive). */
  listGroups(statesFilter: string[] | null = null): GroupListing[] {
    if (this.closed) return []
    const states = statesFilter === null || statesFilter.length === 0 ? null : statesFilter.map((s) => s.toLowerCase())
    const out: GroupListing[] = []
    for (const g of this.groups.values()) {
      if (states !== null && !states.includes(g.state.toLowerCase())) continue
      out.push({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state })
    }
    return out
  }

  /** DeleteGroups: forgets empty groups and their offsets; groups with members are refused. */
  deleteGroups(groupIds: string[]): { groupId: string; error: KafkaErrorName }[] {
    return groupIds.map((groupId) => {
      if (this.closed) return { groupId, error: 'COORDINATOR_NOT_AVAILABLE' }
      const group = this.groups.get(groupId)
      if (group === undefined) return { groupId, error: 'GROUP_ID_NOT_FOUND' }
      if (group.state !== GroupStates.Empty || group.pending.size > 0) return { groupId, error: 'NON_EMPTY_GROUP' }
      this.groups.delete(groupId)
      return { groupId, error: 'NONE' }
    })
  }

  // ---- lifecycle and persistence ----------------------------------------------------------------------------

  /** Stops every timer and answers every waiting request, so nothing keeps the process alive. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const group of this.groups.values()) {
      group.phaseTimer = null
      group.pending.clear()
      for (const m of group.members.values()) {
        m.sessionTimer = null
        this.answerWaiting(group, m, 'COORDINATOR_NOT_AVAILABLE')
      }
    }
  }

  /** Committed offsets (and generations, so they keep rising after a restart) as plain JSON for `dataDir`. */
  snapshot(): GroupsSnapshot {
    const groups: GroupsSnapshot['groups'] = []
    for (const g of this.groups.values()) {
      const offsets: GroupsSnapshot['groups'][number]['offsets'] = []
      for (const [topic, parts] of g.offsets) {
        for (const [partition, c] of parts) {
          offsets.push({
            topic,
            partition,
            offset: c.offset.toString(),
            leaderEpoch: c.leaderEpoch,
            metadata: c.metadata,
            commitTimestamp: c.commitTimestamp,
          })
        }
      }
      groups.push({ groupId: g.groupId, protocolType: g.protocolType, generationId: g.generationId, offsets })
    }
    return { version: SNAPSHOT_VERSION, groups }
  }

  /** Loads a snapshot() taken earlier; groups come back Empty (members rejoin) with their offsets. */
  restore(snapshot: unknown): void {
    const s = parseSnapshot(snapshot)
    for (const entry of s.groups) {
      const group = this.groups.get(entry.groupId) ?? this.createGroup(entry.groupId)
      group.generationId = Math.max(group.generationId, entry.generationId)
      group.protocolType ??= entry.protocolType
      for (const o of entry.offsets) {
        let parts = group.offsets.get(o.topic)
        if (parts === undefined) group.offsets.set(o.topic, (parts = new Map()))
        parts.set(o.partition, {
          offset: BigInt(o.offset),
          leaderEpoch: o.leaderEpoch,
          metadata: o.metadata,
          commitTimestamp: o.commitTimestamp,
        })
      }
    }
  }

  // ---- internals --------------------------------------------------------------------------------------------

  private createGroup(groupId: string): Group {
    const group = new Group(groupId)
    this.groups.set(groupId, group)
    return group
  }

  private supportsProtocols(group: Group, input: JoinGroupInput): boolean {
    if (group.state === GroupStates.Empty || group.members.size === 0) return true
    if (group.protocolType !== input.protocolType) return false
    // some protocol the new member offers must be one every current member supports
    return input.protocols.some((p) =>
      [...group.members.values()].every(
        (m) => m.memberId === input.memberId || m.protocols.some((q) => q.name === p.name),
      ),
    )
  }

  private addMemberAndRebalance(group: Group, memberId: string, input: JoinGroupInput): Promise<JoinGroupOutput> {
    const member = new Member(
      memberId,
      input.groupInstanceId,
      input.clientId,
      input.clientHost,
      input.sessionTimeoutMs,
      input.rebalanceTimeoutMs > 0 ? input.rebalanceTimeoutMs : input.sessionTimeoutMs,
      input.protocols,
    )
    group.members.set(memberId, member)
    group.leaderId ??= memberId
    if (group.state === GroupStates.Empty) group.protocolType = input.protocolType
    const reply = this.awaitJoin(group, member, false)
    if (group.state !== GroupStates.PreparingRebalance) this.prepareRebalance(group)
    this.tryCompleteJoin(group)
    return reply
  }

  private updateMember(member: Member, input: JoinGroupInput): void {
    member.groupInstanceId = input.groupInstanceId
    member.clientId = input.clientId
    member.clientHost = input.clientHost
    member.sessionTimeoutMs = input.sessionTimeoutMs
    member.rebalanceTimeoutMs = input.rebalanceTimeoutMs > 0 ? input.rebalanceTimeoutMs : input.sessionTimeoutMs
    member.protocols = input.protocols
  }

  private awaitJoin(group: Group, member: Member, tryComplete = true): Promise<JoinGroupOutput> {
    // a member waiting in a rebalance is alive by definition; its session restarts when the join completes
    this.cancel(member.sessionTimer)
    member.sessionTimer = null
    // a retried JoinGroup replaces the earlier one, whose connection is usually gone
    member.awaitingJoin?.(joinError('REBALANCE_IN_PROGRESS', member.memberId))
    const reply = new Promise<JoinGroupOutput>((resolve) => (member.awaitingJoin = resolve))
    if (tryComplete) this.tryCompleteJoin(group)
    return reply
  }

  private prepareRebalance(group: Group): void {
    if (group.state === GroupStates.CompletingRebalance) {
      // members waiting for an assignment of the generation that is now abandoned must rejoin
      for (const m of group.members.values()) {
        const resolve = m.awaitingSync
        m.awaitingSync = null
        resolve?.(this.syncResponse(group, EMPTY, 'REBALANCE_IN_PROGRESS'))
      }
    }
    for (const m of group.members.values()) m.assignment = EMPTY
    this.cancel(group.phaseTimer)
    const wasEmpty = group.state === GroupStates.Empty
    group.state = GroupStates.PreparingRebalance
    if (wasEmpty && this.initialRebalanceDelayMs > 0) {
      group.initialDelayPending = true
      group.phaseTimer = this.schedule(this.initialRebalanceDelayMs, () => {
        group.initialDelayPending = false
        group.phaseTimer = this.schedule(this.rebalanceTimeout(group), () => this.completeJoin(group))
        this.tryCompleteJoin(group)
      })
    } else {
      group.phaseTimer = this.schedule(this.rebalanceTimeout(group), () => this.completeJoin(group))
    }
  }

  private rebalanceTimeout(group: Group): number {
    let ms = 0
    for (const m of group.members.values()) ms = Math.max(ms, m.rebalanceTimeoutMs)
    return ms
  }

  private tryCompleteJoin(group: Group): void {
    if (group.state !== GroupStates.PreparingRebalance || group.initialDelayPending || group.pending.size > 0) return
    for (const m of group.members.values()) if (m.awaitingJoin === null) return
    this.completeJoin(group)
  }

  /** Ends the join phase: members that did not rejoin in time are dropped and a new generation starts. */
  private completeJoin(group: Group): void {
    if (group.state !== GroupStates.PreparingRebalance) return
    this.cancel(group.phaseTimer)
    group.phaseTimer = null
    group.initialDelayPending = false
    for (const m of [...group.members.values()]) if (m.awaitingJoin === null) this.removeMember(group, m)
    for (const t of group.pending.values()) this.cancel(t)
    group.pending.clear()
    group.generationId++
    if (group.members.size === 0) {
      group.state = GroupStates.Empty
      group.protocolName = null
      group.leaderId = null
      return
    }
    if (group.leaderId === null || !group.members.has(group.leaderId)) {
      group.leaderId = group.members.keys().next().value ?? null
    }
    group.protocolName = selectProtocol(group)
    group.state = GroupStates.CompletingRebalance
    for (const m of group.members.values()) {
      const resolve = m.awaitingJoin
      m.awaitingJoin = null
      resolve?.(this.joinResponse(group, m))
      this.armSession(group, m)
    }
    // a leader that never sends its SyncGroup must not wedge the group: after the rebalance timeout the members
    // that did not sync are dropped and the rest rebalance
    const generation = group.generationId
    group.phaseTimer = this.schedule(this.rebalanceTimeout(group), () => {
      if (group.state !== GroupStates.CompletingRebalance || group.generationId !== generation) return
      group.phaseTimer = null
      for (const m of [...group.members.values()]) if (m.awaitingSync === null) this.removeMember(group, m)
      this.prepareRebalance(group)
      this.tryCompleteJoin(group)
    })
  }

  private joinResponse(group: Group, member: Member): JoinGroupOutput {
    const leader = group.leaderId ?? ''
    return {
      error: 'NONE',
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader,
      memberId: member.memberId,
      members:
        member.memberId === leader
          ? [...group.members.values()].map((m) => ({
              memberId: m.memberId,
              groupInstanceId: m.groupInstanceId,
              metadata: m.metadataFor(group.protocolName),
            }))
          : [],
    }
  }

  private syncResponse(group: Group, assignment: Uint8Array, error: KafkaErrorName): SyncGroupOutput {
    return {
      error,
      protocolType: error === 'NONE' ? group.protocolType : null,
      protocolName: error === 'NONE' ? group.protocolName : null,
      assignment,
    }
  }

  private armSession(group: Group, member: Member): void {
    this.cancel(member.sessionTimer)
    member.sessionTimer = this.schedule(member.sessionTimeoutMs, () => {
      member.sessionTimer = null
      if (group.members.get(member.memberId) !== member) return
      // a member parked in JoinGroup/SyncGroup is waiting on us, not dead
      if (member.awaitingJoin !== null || member.awaitingSync !== null) return this.armSession(group, member)
      this.removeMember(group, member)
      this.afterMembersLeft(group)
    })
  }

  private removeMember(group: Group, member: Member, answer: KafkaErrorName = 'UNKNOWN_MEMBER_ID'): void {
    this.cancel(member.sessionTimer)
    member.sessionTimer = null
    group.members.delete(member.memberId)
    this.answerWaiting(group, member, answer)
    if (group.leaderId === member.memberId) group.leaderId = group.members.keys().next().value ?? null
  }

  /** The member a request names, or why it cannot act: unknown, or a static member replaced by a newer one. */
  private member(group: Group, memberId: string, groupInstanceId: string | null): Member | KafkaErrorName {
    const member = group.members.get(memberId)
    if (member !== undefined) {
      return groupInstanceId !== null && member.groupInstanceId !== groupInstanceId ? 'FENCED_INSTANCE_ID' : member
    }
    if (groupInstanceId !== null && this.byInstanceId(group, groupInstanceId) !== undefined) {
      return 'FENCED_INSTANCE_ID'
    }
    return 'UNKNOWN_MEMBER_ID'
  }

  private byInstanceId(group: Group, groupInstanceId: string): Member | undefined {
    for (const m of group.members.values()) if (m.groupInstanceId === groupInstanceId) return m
    return undefined
  }

  private afterMembersLeft(group: Group): void {
    if (group.state === GroupStates.Stable || group.state === GroupStates.CompletingRebalance) {
      this.prepareRebalance(group)
    }
    this.tryCompleteJoin(group)
  }

  private answerWaiting(group: Group, member: Member, error: KafkaErrorName): void {
    const join = member.awaitingJoin
    const sync = member.awaitingSync
    member.awaitingJoin = null
    member.awaitingSync = null
    join?.(joinError(error, member.memberId))
    sync?.(this.syncResponse(group, EMPTY, error))
  }

  private storeOffsets(group: Group, offsets: OffsetToCommit[]): void {
    const commitTimestamp = this.now()
    for (const o of offsets) {
      let parts = group.offsets.get(o.topic)
      if (parts === undefined) group.offsets.set(o.topic, (parts = new Map()))
      parts.set(o.partition, {
        offset: o.offset,
        leaderEpoch: o.leaderEpoch,
        metadata: o.metadata ?? '',
        commitTimestamp,
      })
    }
  }

  private pendingPartitions(groupId: string): Set<string> {
    const out = new Set<string>()
    for (const byGroup of this.pendingTxnOffsets.values()) {
      for (const o of byGroup.get(groupId) ?? []) out.add(`${o.topic}\u0000${o.partition}`)
    }
    return out
  }

  private schedule(ms: number, fn: () => void): Timer {
    const timer: Timer = setTimeout(
      () => {
        this.timers.delete(timer)
        fn()
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    )
    // group timers are bookkeeping: they must never be what keeps a process alive
    timer.unref?.()
    this.timers.add(timer)
    return timer
  }

  private cancel(timer: Timer | null | undefined): void {
    if (timer == null) return
    clearTimeout(timer)
    this.timers.delete(timer)
  }
}

export interface GroupsSnapshot {
  version: number
  groups: {
    groupId: string
    protocolType: string | null
    generationId: number
    offsets: {
      topic: string
      partition: number
      /** int64 as a decimal string: JSON has no 64-bit integers. */
      offset: string
      leaderEpoch: number
      metadata: string
      commitTimestamp: number
    }[]
  }[]
}

function parseSnapshot(snapshot: unknown): GroupsSnapshot {
  const bad = (why: string): never => {
    throw new GroupSnapshotError(`cannot restore consumer groups from the data dir: ${why}`)
  }
  if (typeof snapshot !== 'object' || snapshot === null) return bad('the snapshot is not an object')
  const s = snapshot as Partial<GroupsSnapshot>
  if (s.version !== SNAPSHOT_VERSION) return bad(`unsupported groups snapshot version ${String(s.version)}`)
  if (!Array.isArray(s.groups)) return bad('"groups" is not an array')
  for (const g of s.groups) {
    if (typeof g?.groupId !== 'string' || !Array.isArray(g.offsets)) return bad('a group entry lacks groupId/offsets')
    for (const o of g.offsets) {
      if (typeof o?.topic !== 'string' || !Number.isInteger(o.partition) || !/^-?\d+$/.test(String(o.offset))) {
        return bad(`group "${g.groupId}" has a malformed offset entry`)
      }
    }
  }
  return s as GroupsSnapshot
}

/** A persisted groups snapshot that this version cannot read. */
export class GroupSnapshotError extends Error {
  readonly code = 'FORMAT'
  readonly retriable = false
  constructor(message: string) {
    super(message)
    this.name = 'GroupSnapshotError'
  }
}

function joinError(error: KafkaErrorName, memberId: string): JoinGroupOutput {
  return { error, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] }
}

function sameProtocols(a: ProtocolOffer[], b: ProtocolOffer[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.name !== b[i]!.name || !Buffer.from(a[i]!.metadata).equals(b[i]!.metadata)) return false
  }
  return true
}

/** Kafka's rule: among protocols every member supports, each member votes for its most preferred; most votes win. */
function selectProtocol(group: Group): string | null {
  const members = [...group.members.values()]
  const candidates = members[0]!.protocols
    .map((p) => p.name)
    .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)))
  const votes = new Map<string, number>()
  for (const m of members) {
    const choice = m.protocols.find((p) => candidates.includes(p.name))
    if (choice !== undefined) votes.set(choice.name, (votes.get(choice.name) ?? 0) + 1)
  }
  let best: string | null = candidates[0] ?? null
  for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best ?? '') ?? 0)) best = name
  return best
}

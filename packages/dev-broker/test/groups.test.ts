// GroupCoordinator state transitions under a fake clock: joins, rebalances, expiry, offsets, transactions.

import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { GroupCoordinator, type JoinGroupInput, type JoinGroupOutput } from '../src/state/groups.js'

const SESSION = 10_000
const REBALANCE = 30_000
let clock = 0
let coordinators: GroupCoordinator[] = []

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout'] })
  clock = 1_000_000
})
afterEach(() => {
  for (const c of coordinators) c.close()
  coordinators = []
  mock.timers.reset()
})

function coordinator(initialRebalanceDelayMs = 0): GroupCoordinator {
  const c = new GroupCoordinator({ now: () => clock, initialRebalanceDelayMs })
  coordinators.push(c)
  return c
}

function tick(ms: number): Promise<void> {
  clock += ms
  mock.timers.tick(ms)
  return flush()
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

function input(groupId: string, memberId: string, extra: Partial<JoinGroupInput> = {}): JoinGroupInput {
  return {
    groupId,
    memberId,
    groupInstanceId: null,
    clientId: 'app',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: SESSION,
    rebalanceTimeoutMs: REBALANCE,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from(`meta-${memberId || 'new'}`) }],
    requireKnownMemberId: false,
    ...extra,
  }
}

/** Joins as a new member through the v4 MEMBER_ID_REQUIRED round trip; resolves when the join completes. */
async function newMember(c: GroupCoordinator, groupId: string, extra: Partial<JoinGroupInput> = {}) {
  const first = await c.joinGroup(input(groupId, '', { ...extra, requireKnownMemberId: true }))
  assert.equal(first.error, 'MEMBER_ID_REQUIRED')
  assert.match(first.memberId, /^app-/)
  return { memberId: first.memberId, join: c.joinGroup(input(groupId, first.memberId, extra)) }
}

async function settled<T>(p: Promise<T>): Promise<T | 'pending'> {
  await flush()
  return Promise.race([p, Promise.resolve('pending' as const)])
}

async function stableSingle(c: GroupCoordinator, groupId: string) {
  const { memberId, join } = await newMember(c, groupId)
  const j = await join
  const s = await c.syncGroup({
    groupId,
    generationId: j.generationId,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocolName: 'range',
    assignments: [{ memberId, assignment: Buffer.from('all') }],
  })
  assert.equal(s.error, 'NONE')
  return { memberId, generationId: j.generationId }
}

describe('membership', () => {
  test('a single member joins, leads, syncs its own assignment and the group is Stable', async () => {
    const c = coordinator()
    const { memberId, join } = await newMember(c, 'g')
    const j = await join
    assert.equal(j.error, 'NONE')
    assert.equal(j.generationId, 1)
    assert.equal(j.leader, memberId)
    assert.equal(j.protocolName, 'range')
    assert.deepEqual(
      j.members.map((m) => [m.memberId, Buffer.from(m.metadata).toString()]),
      [[memberId, `meta-${memberId}`]],
    )
    const s = await c.syncGroup({
      groupId: 'g',
      generationId: 1,
      memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [{ memberId, assignment: Buffer.from('p0,p1') }],
    })
    assert.equal(s.error, 'NONE')
    assert.equal(Buffer.from(s.assignment).toString(), 'p0,p1')
    const [d] = c.describeGroups(['g'])
    assert.equal(d!.state, 'Stable')
    assert.equal(d!.protocolData, 'range')
    assert.equal(Buffer.from(d!.members[0]!.assignment).toString(), 'p0,p1')
    assert.deepEqual(c.listGroups(), [{ groupId: 'g', protocolType: 'consumer', state: 'Stable' }])
    assert.deepEqual(c.listGroups(['empty']), [])
  })

  test('a second member triggers a rebalance: both rejoin, only the leader gets the member list', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    const { memberId: b, join: joinB } = await newMember(c, 'g')
    assert.equal(await settled(joinB), 'pending', 'the join waits for the known member to rejoin')
    assert.equal(c.describeGroups(['g'])[0]!.state, 'PreparingRebalance')
    assert.equal(
      c.heartbeat({ groupId: 'g', generationId: 1, memberId: a.memberId, groupInstanceId: null }),
      'REBALANCE_IN_PROGRESS',
    )
    const ja = await c.joinGroup(input('g', a.memberId))
    const jb = (await joinB) as JoinGroupOutput
    assert.equal(ja.generationId, 2)
    assert.equal(jb.generationId, 2)
    assert.equal(ja.leader, a.memberId)
    assert.deepEqual(ja.members.map((m) => m.memberId).sort(), [a.memberId, b].sort())
    assert.deepEqual(jb.members, [])

    const syncB = c.syncGroup({
      groupId: 'g',
      generationId: 2,
      memberId: b,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [],
    })
    assert.equal(await settled(syncB), 'pending', 'followers wait for the leader to hand out assignments')
    assert.equal(c.heartbeat({ groupId: 'g', generationId: 2, memberId: b, groupInstanceId: null }), 'NONE')
    assert.equal(
      c.commitOffsets({ groupId: 'g', generationId: 2, memberId: b, groupInstanceId: null, offsets: [] }),
      'REBALANCE_IN_PROGRESS',
      'no commits while the generation has no assignment',
    )
    const syncA = await c.syncGroup({
      groupId: 'g',
      generationId: 2,
      memberId: a.memberId,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [
        { memberId: a.memberId, assignment: Buffer.from('p0') },
        { memberId: b, assignment: Buffer.from('p1') },
      ],
    })
    assert.equal(Buffer.from(syncA.assignment).toString(), 'p0')
    assert.equal(Buffer.from((await syncB).assignment).toString(), 'p1')
    assert.equal(c.describeGroups(['g'])[0]!.state, 'Stable')
  })

  test('a member that heartbeats but does not rejoin within the rebalance timeout is dropped', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    const { memberId: b, join: joinB } = await newMember(c, 'g')
    const hb = { groupId: 'g', generationId: a.generationId, memberId: a.memberId, groupInstanceId: null }
    for (let t = 0; t < REBALANCE - 3000; t += 3000) {
      await tick(3000)
      assert.equal(c.heartbeat(hb), 'REBALANCE_IN_PROGRESS')
    }
    assert.equal(await settled(joinB), 'pending')
    await tick(3000)
    const jb = (await joinB) as JoinGroupOutput
    assert.equal(jb.error, 'NONE')
    assert.equal(jb.generationId, 2)
    assert.equal(jb.leader, b)
    assert.deepEqual(
      jb.members.map((m) => m.memberId),
      [b],
    )
    assert.equal(c.heartbeat(hb), 'UNKNOWN_MEMBER_ID')
  })

  test('a member that stops heartbeating expires after its session timeout and the group empties', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    await tick(SESSION - 1)
    assert.equal(
      c.heartbeat({ groupId: 'g', generationId: a.generationId, memberId: a.memberId, groupInstanceId: null }),
      'NONE',
    )
    await tick(SESSION - 1)
    assert.equal(c.describeGroups(['g'])[0]!.members.length, 1, 'the heartbeat restarted the session')
    await tick(1)
    const [d] = c.describeGroups(['g'])
    assert.equal(d!.state, 'Empty')
    assert.deepEqual(d!.members, [])
    assert.equal(
      c.heartbeat({ groupId: 'g', generationId: a.generationId, memberId: a.memberId, groupInstanceId: null }),
      'UNKNOWN_MEMBER_ID',
    )
  })

  test('when one of two members expires, the survivor is told to rebalance and becomes the sole member', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    const { memberId: b, join: joinB } = await newMember(c, 'g')
    const ja = await c.joinGroup(input('g', a.memberId))
    await joinB
    const sb = c.syncGroup({
      groupId: 'g',
      generationId: ja.generationId,
      memberId: b,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    })
    await c.syncGroup({
      groupId: 'g',
      generationId: ja.generationId,
      memberId: a.memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    })
    await sb
    // b keeps heartbeating, a goes silent
    for (let t = 0; t < SESSION; t += 3000) {
      await tick(3000)
      c.heartbeat({ groupId: 'g', generationId: ja.generationId, memberId: b, groupInstanceId: null })
    }
    assert.equal(
      c.heartbeat({ groupId: 'g', generationId: ja.generationId, memberId: b, groupInstanceId: null }),
      'REBALANCE_IN_PROGRESS',
    )
    const jb = await c.joinGroup(input('g', b))
    assert.equal(jb.generationId, ja.generationId + 1)
    assert.equal(jb.leader, b)
    assert.deepEqual(
      jb.members.map((m) => m.memberId),
      [b],
    )
  })

  test('LeaveGroup removes members (batch), answers unknown ones, and rebalances the rest', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    const { memberId: b, join: joinB } = await newMember(c, 'g')
    await c.joinGroup(input('g', a.memberId))
    await joinB
    const out = c.leaveGroup('g', [
      { memberId: b, groupInstanceId: null },
      { memberId: 'nobody', groupInstanceId: null },
    ])
    assert.deepEqual(
      out.members.map((m) => m.error),
      ['NONE', 'UNKNOWN_MEMBER_ID'],
    )
    assert.equal(c.describeGroups(['g'])[0]!.state, 'PreparingRebalance')
    const ja = await c.joinGroup(input('g', a.memberId))
    assert.equal(ja.generationId, 3)
    assert.deepEqual(
      ja.members.map((m) => m.memberId),
      [a.memberId],
    )
    assert.deepEqual(
      c.leaveGroup('nope', [{ memberId: 'x', groupInstanceId: null }]).members[0]!.error,
      'UNKNOWN_MEMBER_ID',
    )
  })

  test('stale generations, unknown members and incompatible protocols are refused', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    assert.equal(
      c.heartbeat({ groupId: 'g', generationId: 0, memberId: a.memberId, groupInstanceId: null }),
      'ILLEGAL_GENERATION',
    )
    assert.equal(
      c.heartbeat({ groupId: 'g', generationId: 1, memberId: 'ghost', groupInstanceId: null }),
      'UNKNOWN_MEMBER_ID',
    )
    assert.equal(
      c.heartbeat({ groupId: 'nogroup', generationId: 1, memberId: 'ghost', groupInstanceId: null }),
      'UNKNOWN_MEMBER_ID',
    )
    assert.equal((await c.joinGroup(input('g', 'ghost'))).error, 'UNKNOWN_MEMBER_ID')
    assert.equal((await c.joinGroup(input('g', '', { protocolType: 'connect' }))).error, 'INCONSISTENT_GROUP_PROTOCOL')
    const other = [{ name: 'roundrobin', metadata: Buffer.alloc(0) }]
    assert.equal((await c.joinGroup(input('g', '', { protocols: other }))).error, 'INCONSISTENT_GROUP_PROTOCOL')
    const s = await c.syncGroup({
      groupId: 'g',
      generationId: 7,
      memberId: a.memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    })
    assert.equal(s.error, 'ILLEGAL_GENERATION')
    assert.equal((await c.joinGroup(input('', ''))).error, 'INVALID_GROUP_ID')
    assert.equal((await c.joinGroup(input('other', '', { protocols: [] }))).error, 'INCONSISTENT_GROUP_PROTOCOL')
    assert.deepEqual(
      c.listGroups().map((g) => g.groupId),
      ['g'],
      'a refused join leaves no group behind',
    )
  })

  test('the protocol chosen is one every member supports, by member preference', async () => {
    const c = coordinator()
    const both = (first: string, second: string) => [
      { name: first, metadata: Buffer.from(first) },
      { name: second, metadata: Buffer.from(second) },
    ]
    const { memberId: a, join: joinA } = await newMember(c, 'g', { protocols: both('roundrobin', 'range') })
    await joinA
    const { join: joinB } = await newMember(c, 'g', { protocols: [{ name: 'range', metadata: Buffer.from('r') }] })
    const ja = await c.joinGroup(input('g', a, { protocols: both('roundrobin', 'range') }))
    assert.equal(ja.protocolName, 'range')
    assert.equal((await joinB).protocolName, 'range')
    assert.deepEqual(ja.members.map((m) => Buffer.from(m.metadata).toString()).sort(), ['r', 'range'])
  })

  test('a leader that never syncs does not wedge the group: unsynced members are dropped after the timeout', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    const { memberId: b, join: joinB } = await newMember(c, 'g')
    await c.joinGroup(input('g', a.memberId))
    const jb = await joinB
    const syncB = c.syncGroup({
      groupId: 'g',
      generationId: jb.generationId,
      memberId: b,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    })
    // the leader stays alive (heartbeats) but never sends its SyncGroup
    const hb = { groupId: 'g', generationId: jb.generationId, memberId: a.memberId, groupInstanceId: null }
    for (let t = 0; t < REBALANCE - 3000; t += 3000) {
      await tick(3000)
      assert.equal(c.heartbeat(hb), 'NONE')
    }
    assert.equal(await settled(syncB), 'pending')
    await tick(3000)
    assert.equal((await syncB).error, 'REBALANCE_IN_PROGRESS')
    const again = await c.joinGroup(input('g', b))
    assert.equal(again.leader, b)
    assert.deepEqual(
      again.members.map((m) => m.memberId),
      [b],
    )
    assert.equal(c.heartbeat(hb), 'UNKNOWN_MEMBER_ID')
  })

  test('the initial rebalance delay gathers members that start together into one generation', async () => {
    const c = coordinator(3000)
    const x = await newMember(c, 'g')
    await tick(1000)
    const y = await newMember(c, 'g')
    assert.equal(await settled(x.join), 'pending')
    await tick(2000)
    const [jx, jy] = await Promise.all([x.join, y.join])
    assert.equal(jx.generationId, 1)
    assert.equal(jy.generationId, 1)
    assert.equal(jx.leader, x.memberId)
    assert.equal(jx.members.length, 2)
  })

  test('a v4 member id that is never used expires and does not hold up the rebalance for long', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    const first = await c.joinGroup(input('g', '', { requireKnownMemberId: true }))
    assert.equal(first.error, 'MEMBER_ID_REQUIRED')
    assert.equal(c.describeGroups(['g'])[0]!.state, 'Stable', 'an unconfirmed id does not start a rebalance')
    // the leader rejoining starts one; it waits for the unconfirmed member only until its session timeout
    const rejoin = c.joinGroup(input('g', a.memberId, { protocols: [{ name: 'range', metadata: Buffer.from('v2') }] }))
    assert.equal(await settled(rejoin), 'pending')
    await tick(SESSION)
    const j = (await rejoin) as JoinGroupOutput
    assert.equal(j.generationId, 2)
    assert.deepEqual(
      j.members.map((m) => m.memberId),
      [a.memberId],
    )
    assert.equal((await c.joinGroup(input('g', first.memberId))).error, 'UNKNOWN_MEMBER_ID')
  })

  test('a static member restarting with its group.instance.id fences its previous incarnation', async () => {
    const c = coordinator()
    const first = await c.joinGroup(input('g', '', { groupInstanceId: 'pod-1', requireKnownMemberId: true }))
    assert.equal(first.error, 'NONE', 'static members skip the MEMBER_ID_REQUIRED round trip')
    const old = first.memberId
    const restarted = await c.joinGroup(input('g', '', { groupInstanceId: 'pod-1', requireKnownMemberId: true }))
    assert.equal(restarted.error, 'NONE')
    assert.notEqual(restarted.memberId, old)
    assert.deepEqual(
      restarted.members.map((m) => [m.memberId, m.groupInstanceId]),
      [[restarted.memberId, 'pod-1']],
    )
    const ref = { groupId: 'g', generationId: restarted.generationId, groupInstanceId: 'pod-1' }
    assert.equal(c.heartbeat({ ...ref, memberId: old }), 'FENCED_INSTANCE_ID')
    assert.equal(c.heartbeat({ ...ref, memberId: restarted.memberId }), 'NONE')
    assert.equal(c.commitOffsets({ ...ref, memberId: old, offsets: [] }), 'FENCED_INSTANCE_ID')
    assert.deepEqual(
      c.leaveGroup('g', [{ memberId: '', groupInstanceId: 'pod-1' }]).members.map((m) => m.error),
      ['NONE'],
    )
    assert.equal(c.describeGroups(['g'])[0]!.state, 'Empty')
  })

  test('DeleteGroups forgets empty groups with their offsets and refuses live ones', async () => {
    const c = coordinator()
    await stableSingle(c, 'live')
    c.commitOffsets({ groupId: 'idle', generationId: -1, memberId: '', groupInstanceId: null, offsets: [] })
    c.commitOffsets({
      groupId: 'idle',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [{ topic: 't', partition: 0, offset: 4n, leaderEpoch: -1, metadata: null }],
    })
    assert.deepEqual(c.deleteGroups(['live', 'idle', 'never']), [
      { groupId: 'live', error: 'NON_EMPTY_GROUP' },
      { groupId: 'idle', error: 'NONE' },
      { groupId: 'never', error: 'GROUP_ID_NOT_FOUND' },
    ])
    assert.equal(c.fetchOffsets('idle', [{ topic: 't', partitions: [0] }]).topics[0]!.partitions[0]!.offset, -1n)
    assert.deepEqual(
      c.listGroups().map((g) => g.groupId),
      ['live'],
    )
  })

  test('close() answers parked joins and leaves no timer behind', async () => {
    const c = coordinator()
    await stableSingle(c, 'g')
    const { join } = await newMember(c, 'g')
    c.close()
    assert.equal((await join).error, 'COORDINATOR_NOT_AVAILABLE')
    assert.equal((await c.joinGroup(input('g', ''))).error, 'COORDINATOR_NOT_AVAILABLE')
    await tick(10 * REBALANCE)
  })
})

describe('offsets', () => {
  const at = (topic: string, partition: number, offset: bigint, metadata: string | null = null) => ({
    topic,
    partition,
    offset,
    leaderEpoch: -1,
    metadata,
  })

  test('members commit with generation checks; offsets outlive the members', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    const ref = { groupId: 'g', generationId: a.generationId, memberId: a.memberId, groupInstanceId: null }
    assert.equal(c.commitOffsets({ ...ref, offsets: [at('t', 0, 5n, 'm'), at('t', 1, 7n)] }), 'NONE')
    assert.equal(c.commitOffsets({ ...ref, generationId: 0, offsets: [at('t', 0, 99n)] }), 'ILLEGAL_GENERATION')
    assert.equal(c.commitOffsets({ ...ref, memberId: 'ghost', offsets: [at('t', 0, 99n)] }), 'UNKNOWN_MEMBER_ID')
    assert.equal(
      c.commitOffsets({ ...ref, generationId: -1, memberId: '', offsets: [at('t', 0, 99n)] }),
      'UNKNOWN_MEMBER_ID',
      'a simple consumer cannot overwrite offsets of a live group',
    )
    c.leaveGroup('g', [{ memberId: a.memberId, groupInstanceId: null }])
    assert.equal(c.describeGroups(['g'])[0]!.state, 'Empty')
    const f = c.fetchOffsets('g', [{ topic: 't', partitions: [0, 1, 2] }])
    assert.deepEqual(
      f.topics[0]!.partitions.map((p) => [p.partition, p.offset, p.metadata, p.error]),
      [
        [0, 5n, 'm', 'NONE'],
        [1, 7n, '', 'NONE'],
        [2, -1n, '', 'NONE'],
      ],
    )
  })

  test('simple consumers (generation -1) commit to empty or unknown groups; null topics fetch everything', () => {
    const c = coordinator()
    const simple = { groupId: 's', generationId: -1, memberId: '', groupInstanceId: null }
    assert.equal(c.commitOffsets({ ...simple, offsets: [at('b', 0, 1n), at('a', 2, 3n), at('a', 0, 4n)] }), 'NONE')
    assert.equal(
      c.commitOffsets({ ...simple, groupId: 'z', generationId: 3, offsets: [at('a', 0, 1n)] }),
      'ILLEGAL_GENERATION',
    )
    const all = c.fetchOffsets('s', null)
    assert.deepEqual(
      all.topics.map((t) => [t.topic, t.partitions.map((p) => [p.partition, p.offset])]),
      [
        [
          'a',
          [
            [0, 4n],
            [2, 3n],
          ],
        ],
        ['b', [[0, 1n]]],
      ],
    )
    assert.deepEqual(c.fetchOffsets('unknown', null).topics, [])
    assert.equal(c.fetchOffsets('unknown', [{ topic: 'a', partitions: [0] }]).topics[0]!.partitions[0]!.offset, -1n)
    assert.deepEqual(c.listGroups(), [{ groupId: 's', protocolType: '', state: 'Empty' }])
  })

  test('a commit during PreparingRebalance from a current member is accepted (kafkajs commits before rejoining)', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    await newMember(c, 'g')
    const ref = { groupId: 'g', generationId: a.generationId, memberId: a.memberId, groupInstanceId: null }
    assert.equal(c.commitOffsets({ ...ref, offsets: [at('t', 0, 10n)] }), 'NONE')
    assert.equal(c.fetchOffsets('g', [{ topic: 't', partitions: [0] }]).topics[0]!.partitions[0]!.offset, 10n)
  })

  test('transactional offsets are invisible until the transaction commits and vanish on abort', () => {
    const c = coordinator()
    const txn = { groupId: 'g', producerEpoch: 0, generationId: -1, memberId: '', groupInstanceId: null }
    assert.equal(c.txnCommitOffsets({ ...txn, producerId: 7n, offsets: [at('t', 0, 42n)] }), 'NONE')
    assert.equal(c.txnCommitOffsets({ ...txn, producerId: 8n, offsets: [at('t', 1, 9n)] }), 'NONE')
    const read = (stable = false) =>
      c
        .fetchOffsets('g', [{ topic: 't', partitions: [0, 1] }], stable)
        .topics[0]!.partitions.map((p) => [p.offset, p.error])
    assert.deepEqual(read(), [
      [-1n, 'NONE'],
      [-1n, 'NONE'],
    ])
    assert.deepEqual(read(true), [
      [-1n, 'UNSTABLE_OFFSET_COMMIT'],
      [-1n, 'UNSTABLE_OFFSET_COMMIT'],
    ])
    c.completeTransaction(7n, true)
    c.completeTransaction(8n, false)
    assert.deepEqual(read(true), [
      [42n, 'NONE'],
      [-1n, 'NONE'],
    ])
    c.completeTransaction(8n, true) // already aborted: nothing left to apply
    assert.deepEqual(read(), [
      [42n, 'NONE'],
      [-1n, 'NONE'],
    ])
    assert.equal(
      c.txnCommitOffsets({ ...txn, producerId: 9n, generationId: 4, memberId: 'ghost', offsets: [at('t', 0, 1n)] }),
      'UNKNOWN_MEMBER_ID',
    )
  })

  test('snapshot() and restore() carry offsets and generations to a new coordinator', async () => {
    const c = coordinator()
    const a = await stableSingle(c, 'g')
    c.commitOffsets({
      groupId: 'g',
      generationId: a.generationId,
      memberId: a.memberId,
      groupInstanceId: null,
      offsets: [at('t', 3, 12345678901234n, 'x')],
    })
    const json = JSON.parse(JSON.stringify(c.snapshot())) as unknown
    const d = coordinator()
    d.restore(json)
    const p = d.fetchOffsets('g', null).topics[0]!.partitions[0]!
    assert.deepEqual([p.partition, p.offset, p.metadata], [3, 12345678901234n, 'x'])
    assert.equal(d.describeGroups(['g'])[0]!.state, 'Empty')
    const again = await stableSingle(d, 'g')
    assert.ok(again.generationId > a.generationId, 'generations keep rising across restarts')
    assert.throws(() => d.restore({ version: 99, groups: [] }), /unsupported groups snapshot version 99/)
    assert.throws(() => d.restore({ version: 1, groups: [{ groupId: 'g', offsets: [{ topic: 't' }] }] }), /malformed/)
  })
})

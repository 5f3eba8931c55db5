// Randomized rebalances under a fake clock: well-behaved clients (joining as kafkajs does) start, leave and crash
// in random order; no two members of a generation ever own a partition twice, and once the chaos stops every live
// client ends in one Stable generation that covers every partition exactly once.

import { afterEach, beforeEach, test, mock } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { GroupCoordinator, type JoinGroupMember } from '../src/state/groups.js'

const PARTITIONS = 6
const HEARTBEAT = 1_000
const SESSION = 5_000
const REBALANCE = 8_000
const RUNS = process.env.EVERLOG_LONG_TESTS === '1' ? 2_000 : 60

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }))
afterEach(() => mock.timers.reset())

const settle = (): Promise<void> => new Promise((r) => setImmediate(r))

/** The leader's client-side assignor: round-robin over members sorted by id. */
function assign(members: JoinGroupMember[]): { memberId: string; assignment: Uint8Array }[] {
  const ids = members.map((m) => m.memberId).sort()
  return ids.map((memberId, i) => {
    const mine: number[] = []
    for (let p = i; p < PARTITIONS; p += ids.length) mine.push(p)
    return { memberId, assignment: Buffer.from(JSON.stringify(mine)) }
  })
}

class Client {
  memberId = ''
  generation = -1
  assignment: number[] = []
  phase: 'idle' | 'joining' | 'stable' | 'crashed' | 'left' = 'idle'
  /** Bumped on crash/leave/restart so a stale join loop stops acting. */
  private epoch = 0
  loops = 0

  constructor(
    private readonly c: GroupCoordinator,
    private readonly leaders: Map<number, string>,
    private readonly failures: unknown[],
  ) {}

  get live(): boolean {
    return this.phase === 'joining' || this.phase === 'stable'
  }

  start(): void {
    if (this.phase === 'crashed' || this.phase === 'left' || this.phase === 'idle') this.memberId = ''
    // the loop runs detached, as a client's would; its assertion failures are collected for the property
    this.joinLoop(++this.epoch).catch((err: unknown) => this.failures.push(err))
  }

  private async joinLoop(epoch: number): Promise<void> {
    for (;;) {
      if (epoch !== this.epoch) return
      if (++this.loops > 200) throw new Error('livelock: a client looped 200 times without a stable assignment')
      this.phase = 'joining'
      this.assignment = []
      const j = await this.c.joinGroup({
        groupId: 'g',
        memberId: this.memberId,
        groupInstanceId: null,
        clientId: 'sim',
        clientHost: '/sim',
        sessionTimeoutMs: SESSION,
        rebalanceTimeoutMs: REBALANCE,
        protocolType: 'consumer',
        protocols: [{ name: 'roundrobin', metadata: Buffer.from('m') }],
        requireKnownMemberId: true,
      })
      if (epoch !== this.epoch) return
      if (j.error === 'MEMBER_ID_REQUIRED') {
        this.memberId = j.memberId
        continue
      }
      if (j.error === 'UNKNOWN_MEMBER_ID') {
        this.memberId = ''
        continue
      }
      if (j.error !== 'NONE') continue
      const known = this.leaders.get(j.generationId)
      assert.ok(known === undefined || known === j.leader, `generation ${j.generationId} has two leaders`)
      this.leaders.set(j.generationId, j.leader)
      // >=: a follower that rejoins unchanged while Stable is handed the current generation again
      assert.ok(j.generationId >= this.generation, 'generations only move forward')
      this.memberId = j.memberId
      this.generation = j.generationId
      const s = await this.c.syncGroup({
        groupId: 'g',
        generationId: j.generationId,
        memberId: j.memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocolName: j.protocolName,
        assignments: j.leader === j.memberId ? assign(j.members) : [],
      })
      if (epoch !== this.epoch) return
      if (s.error === 'NONE') {
        this.assignment = JSON.parse(Buffer.from(s.assignment).toString() || '[]') as number[]
        this.phase = 'stable'
        this.loops = 0
        return
      }
      if (s.error === 'UNKNOWN_MEMBER_ID') this.memberId = ''
    }
  }

  heartbeat(): void {
    // like kafkajs: no heartbeats while parked in JoinGroup/SyncGroup
    if (this.phase !== 'stable') return
    const e = this.c.heartbeat({
      groupId: 'g',
      generationId: this.generation,
      memberId: this.memberId,
      groupInstanceId: null,
    })
    if (e === 'NONE') return
    if (e === 'UNKNOWN_MEMBER_ID') this.memberId = ''
    this.start()
  }

  crash(): void {
    if (!this.live) return
    this.epoch++
    this.phase = 'crashed'
  }

  leave(): void {
    if (!this.live) return
    this.epoch++
    if (this.memberId !== '') this.c.leaveGroup('g', [{ memberId: this.memberId, groupInstanceId: null }])
    this.phase = 'left'
  }
}

function checkNoDoubleOwnership(clients: Client[]): void {
  const owner = new Map<string, number>()
  for (const [i, cl] of clients.entries()) {
    if (cl.phase !== 'stable') continue
    for (const p of cl.assignment) {
      const key = `${cl.generation}:${p}`
      assert.ok(!owner.has(key), `partition ${p} owned twice in generation ${cl.generation}`)
      owner.set(key, i)
    }
  }
}

const command = fc.oneof(
  fc.record({ kind: fc.constant('start' as const), who: fc.nat(3) }),
  fc.record({ kind: fc.constant('leave' as const), who: fc.nat(3) }),
  fc.record({ kind: fc.constant('crash' as const), who: fc.nat(3) }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 100, max: 4_000 }) }),
)

test('random starts, leaves and crashes converge to one Stable generation owning every partition once', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { maxLength: 30 }), async (commands) => {
      const c = new GroupCoordinator()
      const leaders = new Map<number, string>()
      const failures: unknown[] = []
      const clients = Array.from({ length: 4 }, () => new Client(c, leaders, failures))
      const check = () => {
        if (failures.length > 0) throw failures[0]
        checkNoDoubleOwnership(clients)
      }
      let sinceHeartbeat = 0
      const advance = async (ms: number) => {
        for (let left = ms; left > 0;) {
          const step = Math.min(left, HEARTBEAT - sinceHeartbeat)
          mock.timers.tick(step)
          left -= step
          sinceHeartbeat += step
          await settle()
          if (sinceHeartbeat >= HEARTBEAT) {
            sinceHeartbeat = 0
            for (const cl of clients) cl.heartbeat()
            await settle()
          }
          check()
        }
      }
      try {
        for (const cmd of commands) {
          if (cmd.kind === 'tick') await advance(cmd.ms)
          else clients[cmd.who]![cmd.kind]()
          await settle()
          check()
        }
        // the chaos stops: crashed members expire, the rest rebalance and settle
        await advance(3 * (SESSION + REBALANCE))
        const live = clients.filter((cl) => cl.live)
        const [d] = c.describeGroups(['g'])
        if (live.length === 0) {
          assert.ok(d!.state === 'Empty' || d!.state === 'Dead', `no live client, yet the group is ${d!.state}`)
          return
        }
        assert.equal(d!.state, 'Stable')
        assert.deepEqual(
          d!.members.map((m) => m.memberId).sort(),
          live.map((cl) => cl.memberId).sort(),
          'the group holds exactly the live clients',
        )
        const generation = live[0]!.generation
        for (const cl of live) {
          assert.equal(cl.phase, 'stable')
          assert.equal(cl.generation, generation)
        }
        assert.deepEqual(
          live.flatMap((cl) => cl.assignment).sort((a, b) => a - b),
          Array.from({ length: PARTITIONS }, (_, p) => p),
        )
      } finally {
        c.close()
      }
    }),
    { numRuns: RUNS },
  )
})

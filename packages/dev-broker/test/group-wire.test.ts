// Group APIs on the wire at the versions no bundled client exercises (classic v0 and the flexible encodings), over
// real TCP against startDevBroker, with a minimal hand-rolled Kafka client.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { startDevBroker, type DevBroker } from '../src/broker.js'
import { Reader } from '../src/protocol/reader.js'
import { Writer } from '../src/protocol/writer.js'
import { KafkaErrors } from '../src/protocol/errors.js'

const FLEXIBLE_FROM: Record<number, number> = {
  8: 8,
  9: 6,
  10: 3,
  11: 6,
  12: 4,
  13: 4,
  14: 4,
  15: 5,
  16: 3,
  18: 3,
  28: 3,
}

/** One TCP connection speaking request header v1/v2; responses are matched by correlation id. */
class RawClient {
  private buf = Buffer.alloc(0)
  private nextId = 1
  private readonly waiting = new Map<number, { resolve: (r: Reader) => void; flexible: boolean }>()
  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => this.onData(d))
  }

  static open(broker: DevBroker): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(broker.port, broker.host, () => resolve(new RawClient(s)))
      s.once('error', reject)
    })
  }

  call(apiKey: number, version: number, body: (w: Writer, f: boolean) => void): Promise<Reader> {
    const flexible = version >= (FLEXIBLE_FROM[apiKey] ?? Infinity)
    const id = this.nextId++
    const w = new Writer()
    w.int16(apiKey).int16(version).int32(id).nullableString('raw-client')
    if (flexible) w.tags()
    body(w, flexible)
    const payload = w.toBuffer()
    const frame = Buffer.allocUnsafe(4)
    frame.writeInt32BE(payload.length)
    this.socket.write(Buffer.concat([frame, payload]))
    // ApiVersions answers with header v0 even when flexible
    return new Promise((resolve) => this.waiting.set(id, { resolve, flexible: flexible && apiKey !== 18 }))
  }

  close(): void {
    this.socket.destroy()
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d])
    while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readInt32BE(0)) {
      const size = this.buf.readInt32BE(0)
      const r = new Reader(this.buf.subarray(4, 4 + size))
      this.buf = this.buf.subarray(4 + size)
      const id = r.int32()
      const w = this.waiting.get(id)
      assert.ok(w, `unexpected correlation id ${id}`)
      this.waiting.delete(id)
      if (w.flexible) r.taggedFields()
      w.resolve(r)
    }
  }
}

let broker: DevBroker
const clients: RawClient[] = []
async function client(): Promise<RawClient> {
  const c = await RawClient.open(broker)
  clients.push(c)
  return c
}

before(async () => {
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
  broker.createTopic('wire', { partitions: 3 })
})
after(async () => {
  for (const c of clients) c.close()
  await broker.close()
})

const E = KafkaErrors

describe('group APIs on the wire', () => {
  test('ApiVersions advertises the group API ranges', async () => {
    const c = await client()
    const r = await c.call(18, 0, () => {})
    assert.equal(r.int16(), 0)
    const ranges = new Map(r.array(false, (r) => [r.int16(), [r.int16(), r.int16()]] as const))
    assert.deepEqual(ranges.get(11), [0, 7])
    assert.deepEqual(ranges.get(14), [0, 5])
    assert.deepEqual(ranges.get(8), [0, 8])
    assert.deepEqual(ranges.get(9), [0, 7])
    assert.deepEqual(ranges.get(28), [0, 3])
  })

  test('FindCoordinator v0, v1 (transaction key) and flexible v3 all point at this broker', async () => {
    const c = await client()
    const v0 = await c.call(10, 0, (w) => w.string('g'))
    assert.deepEqual([v0.int16(), v0.int32() >= 0, v0.string(), v0.int32()], [0, true, broker.host, broker.port])
    const v1 = await c.call(10, 1, (w) => w.string('txn-id').int8(1))
    assert.deepEqual(
      [v1.int32(), v1.int16(), v1.nullableString(), v1.int32() >= 0, v1.string(), v1.int32()],
      [0, 0, null, true, broker.host, broker.port],
    )
    const v3 = await c.call(10, 3, (w, f) => w.str(f, 'g').int8(0).tags())
    assert.deepEqual(
      [v3.int32(), v3.int16(), v3.compactNullableString(), v3.int32() >= 0, v3.compactString(), v3.int32()],
      [0, 0, null, true, broker.host, broker.port],
    )
    const bad = await c.call(10, 1, (w) => w.string('g').int8(7))
    bad.int32()
    assert.equal(bad.int16(), E.INVALID_REQUEST.code)
    assert.match(bad.nullableString() ?? '', /key type 7/)
  })

  test('classic v0 lifecycle: join, sync, heartbeat, commit, fetch, leave', async () => {
    const c = await client()
    const join = await c.call(11, 0, (w) => {
      w.string('classic').int32(10_000).string('').string('consumer')
      w.array(false, [['range', Buffer.from('meta')]] as const, (w, [n, m]) => w.string(n).bytes(m))
    })
    assert.equal(join.int16(), 0)
    const generation = join.int32()
    assert.equal(join.string(), 'range')
    const leader = join.string()
    const memberId = join.string()
    assert.equal(leader, memberId)
    assert.match(memberId, /^raw-client-/)
    assert.deepEqual(
      join.array(false, (r) => [r.string(), r.bytes().toString()]),
      [[memberId, 'meta']],
    )

    const sync = await c.call(14, 0, (w) => {
      w.string('classic').int32(generation).string(memberId)
      w.array(false, [memberId], (w, m) => w.string(m).bytes(Buffer.from('my-partitions')))
    })
    assert.equal(sync.int16(), 0)
    assert.equal(sync.bytes().toString(), 'my-partitions')

    const hb = await c.call(12, 0, (w) => w.string('classic').int32(generation).string(memberId))
    assert.equal(hb.int16(), 0)
    const staleHb = await c.call(12, 0, (w) =>
      w
        .string('classic')
        .int32(generation + 5)
        .string(memberId),
    )
    assert.equal(staleHb.int16(), E.ILLEGAL_GENERATION.code)

    const commit = await c.call(8, 2, (w) => {
      w.string('classic').int32(generation).string(memberId).int64(-1n)
      w.array(false, ['wire', 'nope'], (w, t) => {
        w.string(t)
        w.array(false, [0, 2], (w, p) =>
          w
            .int32(p)
            .int64(BigInt(100 + p))
            .nullableString('m'),
        )
      })
    })
    const commitErrors = commit.array(false, (r) => [r.string(), r.array(false, (r) => [r.int32(), r.int16()])])
    assert.deepEqual(commitErrors, [
      [
        'wire',
        [
          [0, 0],
          [2, 0],
        ],
      ],
      [
        'nope',
        [
          [0, E.UNKNOWN_TOPIC_OR_PARTITION.code],
          [2, E.UNKNOWN_TOPIC_OR_PARTITION.code],
        ],
      ],
    ])

    const fetch = await c.call(9, 1, (w) => {
      w.string('classic')
      w.array(false, ['wire'], (w, t) => w.string(t).array(false, [0, 1, 2], (w, p) => w.int32(p)))
    })
    assert.deepEqual(
      fetch.array(false, (r) => [
        r.string(),
        r.array(false, (r) => [r.int32(), r.int64(), r.nullableString(), r.int16()]),
      ]),
      [
        [
          'wire',
          [
            [0, 100n, 'm', 0],
            [1, -1n, '', 0],
            [2, 102n, 'm', 0],
          ],
        ],
      ],
    )

    const leave = await c.call(13, 0, (w) => w.string('classic').string(memberId))
    assert.equal(leave.int16(), 0)
    const again = await c.call(13, 0, (w) => w.string('classic').string(memberId))
    assert.equal(again.int16(), E.UNKNOWN_MEMBER_ID.code)
  })

  test('flexible versions: JoinGroup v7 member-id round trip, SyncGroup v5, Heartbeat v4, OffsetCommit v8, OffsetFetch v7, DescribeGroups v5, ListGroups v4, LeaveGroup v4', async () => {
    const c = await client()
    const joinReq = (memberId: string) => (w: Writer, f: boolean) => {
      w.str(f, 'flex').int32(10_000).int32(20_000).str(f, memberId).nstr(f, null).str(f, 'consumer')
      w.array(f, [['cooperative-sticky', Buffer.from('m1')]] as const, (w, [n, m]) => w.str(f, n).byts(f, m).tags())
      w.tags()
    }
    const readJoin = (r: Reader) => {
      const out = {
        throttle: r.int32(),
        error: r.int16(),
        generation: r.int32(),
        protocolType: r.compactNullableString(),
        protocolName: r.compactNullableString(),
        leader: r.compactString(),
        memberId: r.compactString(),
        members: r.array(true, (r) => {
          const m = [r.compactString(), r.compactNullableString(), r.compactBytes().toString()]
          r.taggedFields()
          return m
        }),
      }
      r.taggedFields()
      assert.equal(r.remaining, 0)
      return out
    }
    const first = readJoin(await c.call(11, 7, joinReq('')))
    assert.equal(first.error, E.MEMBER_ID_REQUIRED.code)
    assert.match(first.memberId, /^raw-client-/)
    const join = readJoin(await c.call(11, 7, joinReq(first.memberId)))
    assert.equal(join.error, 0)
    assert.equal(join.protocolType, 'consumer')
    assert.equal(join.protocolName, 'cooperative-sticky')
    assert.deepEqual(join.members, [[first.memberId, null, 'm1']])
    const me = first.memberId

    const sync = await c.call(14, 5, (w, f) => {
      w.str(f, 'flex').int32(join.generation).str(f, me).nstr(f, null).nstr(f, 'consumer').nstr(f, 'cooperative-sticky')
      w.array(f, [me], (w, m) => w.str(f, m).byts(f, Buffer.from('a1')).tags())
      w.tags()
    })
    assert.deepEqual(
      [
        sync.int32(),
        sync.int16(),
        sync.compactNullableString(),
        sync.compactNullableString(),
        sync.compactBytes().toString(),
      ],
      [0, 0, 'consumer', 'cooperative-sticky', 'a1'],
    )
    sync.taggedFields()
    assert.equal(sync.remaining, 0)
    const wrongProto = await c.call(14, 5, (w, f) => {
      w.str(f, 'flex').int32(join.generation).str(f, me).nstr(f, null).nstr(f, 'consumer').nstr(f, 'range')
      w.array(f, [], () => {})
      w.tags()
    })
    wrongProto.int32()
    assert.equal(wrongProto.int16(), E.INCONSISTENT_GROUP_PROTOCOL.code)

    const hb = await c.call(12, 4, (w, f) => w.str(f, 'flex').int32(join.generation).str(f, me).nstr(f, null).tags())
    assert.deepEqual([hb.int32(), hb.int16()], [0, 0])

    const commit = await c.call(8, 8, (w, f) => {
      w.str(f, 'flex').int32(join.generation).str(f, me).nstr(f, null)
      w.array(f, ['wire'], (w, t) => {
        w.str(f, t)
        w.array(f, [1], (w, p) => w.int32(p).int64(77n).int32(3).nstr(f, null).tags())
        w.tags()
      })
      w.tags()
    })
    commit.int32()
    assert.deepEqual(
      commit.array(true, (r) => {
        const t = [r.compactString(), r.array(true, (r) => [r.int32(), r.int16(), r.taggedFields()][1])]
        r.taggedFields()
        return t
      }),
      [['wire', [0]]],
    )

    // null topics: every partition the group committed
    const fetchAll = await c.call(9, 7, (w, f) => {
      w.str(f, 'flex').arrayLength(f, null).bool(true).tags()
    })
    fetchAll.int32()
    const topics = fetchAll.array(true, (r) => {
      const t = [
        r.compactString(),
        r.array(true, (r) => {
          const p = [r.int32(), r.int64(), r.int32(), r.compactNullableString(), r.int16()]
          r.taggedFields()
          return p
        }),
      ]
      r.taggedFields()
      return t
    })
    assert.deepEqual(topics, [['wire', [[1, 77n, 3, '', 0]]]])
    assert.equal(fetchAll.int16(), 0)

    const describe = await c.call(15, 5, (w, f) =>
      w
        .array(f, ['flex', 'missing'], (w, g) => w.str(f, g))
        .bool(true)
        .tags(),
    )
    describe.int32()
    const groups = describe.array(true, (r) => {
      const g = {
        error: r.int16(),
        id: r.compactString(),
        state: r.compactString(),
        protocolType: r.compactString(),
        protocol: r.compactString(),
        members: r.array(true, (r) => {
          const m = [
            r.compactString(),
            r.compactNullableString(),
            r.compactString(),
            r.compactString(),
            r.compactBytes().toString(),
            r.compactBytes().toString(),
          ]
          r.taggedFields()
          return m
        }),
        ops: r.int32(),
      }
      r.taggedFields()
      return g
    })
    assert.deepEqual(groups[0], {
      error: 0,
      id: 'flex',
      state: 'Stable',
      protocolType: 'consumer',
      protocol: 'cooperative-sticky',
      members: [[me, null, 'raw-client', `/${broker.host}`, 'm1', 'a1']],
      ops: groups[0]!.ops,
    })
    assert.ok(groups[0]!.ops > 0)
    assert.deepEqual([groups[1]!.id, groups[1]!.state, groups[1]!.members], ['missing', 'Dead', []])

    const list = await c.call(16, 4, (w, f) => w.array(f, ['Stable'], (w, s) => w.str(f, s)).tags())
    assert.deepEqual([list.int32(), list.int16()], [0, 0])
    const listed = list.array(true, (r) => {
      const g = [r.compactString(), r.compactString(), r.compactString()]
      r.taggedFields()
      return g
    })
    assert.ok(listed.some((g) => g[0] === 'flex' && g[1] === 'consumer' && g[2] === 'Stable'))
    assert.ok(listed.every((g) => g[2] === 'Stable'))

    const leave = await c.call(13, 4, (w, f) => {
      w.str(f, 'flex')
      w.array(f, [me, 'ghost'], (w, m) => w.str(f, m).nstr(f, null).tags())
      w.tags()
    })
    assert.deepEqual([leave.int32(), leave.int16()], [0, 0])
    assert.deepEqual(
      leave.array(true, (r) => {
        const m = [r.compactString(), r.compactNullableString(), r.int16()]
        r.taggedFields()
        return m
      }),
      [
        [me, null, 0],
        ['ghost', null, E.UNKNOWN_MEMBER_ID.code],
      ],
    )
  })

  test('TxnOffsetCommit v3 offsets stay pending until the transaction completes; fenced producers are refused', async () => {
    const c = await client()
    const { producerId, epoch } = broker.state.transactions.initProducerId('tx', 60_000)
    const txn = broker.state.transactions.lookup('tx', producerId, epoch).txn!
    const txnCommit = (pid: bigint, producerEpoch: number) =>
      c.call(28, 3, (w, f) => {
        w.str(f, 'tx').str(f, 'txg').int64(pid).int16(producerEpoch).int32(-1).str(f, '').nstr(f, null)
        w.array(f, ['wire'], (w, t) => {
          w.str(f, t)
          w.array(f, [2], (w, p) => w.int32(p).int64(9n).int32(-1).nstr(f, 'tx-meta').tags())
          w.tags()
        })
        w.tags()
      })
    const partitionErrors = (r: Reader) => {
      r.int32()
      return r.array(true, (r) => {
        const t = [
          r.compactString(),
          r.array(true, (r) => {
            const p = [r.int32(), r.int16()]
            r.taggedFields()
            return p
          }),
        ]
        r.taggedFields()
        return t
      })
    }
    assert.deepEqual(partitionErrors(await txnCommit(producerId, epoch + 1)), [
      ['wire', [[2, E.INVALID_PRODUCER_EPOCH.code]]],
    ])
    assert.deepEqual(partitionErrors(await txnCommit(producerId + 1000n, epoch)), [
      ['wire', [[2, E.INVALID_PRODUCER_ID_MAPPING.code]]],
    ])
    assert.deepEqual(
      partitionErrors(await txnCommit(producerId, epoch)),
      [['wire', [[2, E.INVALID_TXN_STATE.code]]]],
      'the group must be added to the transaction first (AddOffsetsToTxn)',
    )
    broker.state.transactions.addOffsets(txn, 'txg')
    assert.deepEqual(partitionErrors(await txnCommit(producerId, epoch)), [['wire', [[2, 0]]]])
    const read = async (requireStable: boolean) => {
      const r = await c.call(9, 7, (w, f) => {
        w.str(f, 'txg')
        w.array(f, ['wire'], (w, t) =>
          w
            .str(f, t)
            .array(f, [2], (w, p) => w.int32(p))
            .tags(),
        )
        w.bool(requireStable).tags()
      })
      r.int32()
      const topics = r.array(true, (r) => {
        r.compactString()
        const parts = r.array(true, (r) => {
          const p = {
            partition: r.int32(),
            offset: r.int64(),
            epoch: r.int32(),
            meta: r.compactNullableString(),
            error: r.int16(),
          }
          r.taggedFields()
          return p
        })
        r.taggedFields()
        return parts
      })
      const p = topics[0]![0]!
      return [p.offset, p.error]
    }
    assert.deepEqual(await read(false), [-1n, 0])
    assert.deepEqual(await read(true), [-1n, E.UNSTABLE_OFFSET_COMMIT.code])
    assert.equal(broker.state.transactions.endTxn(txn, true), 0)
    assert.deepEqual(await read(true), [9n, 0])
  })

  test('an injected error answers every partition of an OffsetCommit and commits nothing', async () => {
    const c = await client()
    const commit = (offset: bigint) =>
      c.call(8, 2, (w) => {
        w.string('injected').int32(-1).string('').int64(-1n)
        w.array(false, ['wire'], (w, t) => {
          w.string(t)
          w.array(false, [0, 1], (w, p) => w.int32(p).int64(offset).nullableString(null))
        })
      })
    const errors = (r: Reader) => r.array(false, (r) => [r.string(), r.array(false, (r) => [r.int32(), r.int16()])])
    assert.deepEqual(errors(await commit(3n)), [
      [
        'wire',
        [
          [0, 0],
          [1, 0],
        ],
      ],
    ])
    broker.control(8, () => ({ errorCode: E.COORDINATOR_LOAD_IN_PROGRESS.code }))
    assert.deepEqual(errors(await commit(8n)), [
      [
        'wire',
        [
          [0, E.COORDINATOR_LOAD_IN_PROGRESS.code],
          [1, E.COORDINATOR_LOAD_IN_PROGRESS.code],
        ],
      ],
    ])
    const fetched = broker.state.groups.fetchOffsets('injected', [{ topic: 'wire', partitions: [0, 1] }])
    assert.deepEqual(
      fetched.topics[0]!.partitions.map((p) => p.offset),
      [3n, 3n],
    )
  })

  test('a client that disconnects while parked in JoinGroup does not stall the others', async () => {
    const a = await client()
    const b = await client()
    const joinV5 = (memberId: string) => (w: Writer, f: boolean) => {
      w.str(f, 'parked').int32(1_000).int32(1_500).str(f, memberId).nstr(f, null).str(f, 'consumer')
      w.array(f, [['range', Buffer.from('x')]] as const, (w, [n, m]) => w.str(f, n).byts(f, m))
    }
    const readErrorAndMember = (r: Reader): [number, number, string] => {
      r.int32()
      const error = r.int16()
      const generation = r.int32()
      r.string()
      r.string()
      return [error, generation, r.string()]
    }
    const [, , idA] = readErrorAndMember(await a.call(11, 5, joinV5('')))
    const [errA, genA] = readErrorAndMember(await a.call(11, 5, joinV5(idA)))
    assert.equal(errA, 0)
    const [, , idB] = readErrorAndMember(await b.call(11, 5, joinV5('')))
    const parked = b.call(11, 5, joinV5(idB))
    // a learns of the rebalance, then a (parked in its own rejoin) vanishes
    const hb = await a.call(12, 3, (w) => w.string('parked').int32(genA).string(idA).nullableString(null))
    hb.int32()
    assert.equal(hb.int16(), E.REBALANCE_IN_PROGRESS.code)
    void a.call(11, 5, joinV5(idA))
    await new Promise((r) => setTimeout(r, 50))
    a.close()
    // b's join completes once the dropped member's rejoin is counted; a then expires for lack of heartbeats
    const [errB, genB] = readErrorAndMember(await parked)
    assert.equal(errB, 0)
    assert.equal(genB, genA + 1)
    const deadline = Date.now() + 5_000
    let members = 2
    while (members !== 1 && Date.now() < deadline) {
      const hbB = await b.call(12, 3, (w) => w.string('parked').int32(genB).string(idB).nullableString(null))
      hbB.int32()
      if (hbB.int16() === E.REBALANCE_IN_PROGRESS.code) {
        readErrorAndMember(await b.call(11, 5, joinV5(idB)))
      }
      members = broker.state.groups.describeGroups(['parked'])[0]!.members.length
      await new Promise((r) => setTimeout(r, 200))
    }
    assert.equal(members, 1, 'the vanished member expired after its session timeout')
  })
})

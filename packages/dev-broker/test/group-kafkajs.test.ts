// Consumer groups through kafkajs 2.2.4 against startDevBroker over real TCP: consuming and committing, splitting
// partitions, rebalancing on leave and on session expiry, admin group/offset calls, transactional sendOffsets.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import kafkajs from 'kafkajs'
import type { Admin, Consumer, ConsumerConfig, Producer } from 'kafkajs'
import { startDevBroker, type DevBroker } from '../src/broker.js'
import { KafkaErrors } from '../src/protocol/errors.js'

const { Kafka, logLevel } = kafkajs

let broker: DevBroker
let kafka: InstanceType<typeof Kafka>
let admin: Admin
let producer: Producer
const consumers: Consumer[] = []
const producers: Producer[] = []

before(async () => {
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
  kafka = new Kafka({
    clientId: 'group-test',
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 50, maxRetryTime: 500 },
  })
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer()
  await producer.connect()
})

after(async () => {
  for (const c of consumers) await c.disconnect().catch(() => {})
  for (const p of producers) await p.disconnect().catch(() => {})
  await producer.disconnect()
  await admin.disconnect()
  await broker.close()
})

function consumer(groupId: string, extra: Partial<ConsumerConfig> = {}): Consumer {
  const c = kafka.consumer({
    groupId,
    heartbeatInterval: 100,
    sessionTimeout: 10_000,
    rebalanceTimeout: 5_000,
    maxWaitTimeInMs: 100,
    retry: { retries: 8, initialRetryTime: 50, maxRetryTime: 500 },
    ...extra,
  })
  consumers.push(c)
  return c
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

async function produce(topic: string, partitions: number, perPartition: number, tag: string): Promise<void> {
  const messages = []
  for (let i = 0; i < perPartition; i++) {
    for (let p = 0; p < partitions; p++) messages.push({ partition: p, key: `${p}`, value: `${tag}-${p}-${i}` })
  }
  await producer.send({ topic, messages })
}

async function committed(groupId: string, topic: string): Promise<Record<number, string>> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Object.fromEntries(t!.partitions.map((p) => [p.partition, p.offset]))
}

describe('consumer groups with kafkajs', () => {
  test('one consumer reads every partition of a topic and commits its position', async () => {
    await admin.createTopics({ topics: [{ topic: 'single', numPartitions: 3 }] })
    await produce('single', 3, 5, 'a')
    const c = consumer('g-single')
    await c.connect()
    await c.subscribe({ topic: 'single', fromBeginning: true })
    const seen = new Set<string>()
    await c.run({ eachMessage: async ({ message }) => void seen.add(message.value!.toString()) })
    await waitFor('15 records', () => seen.size === 15)
    await waitFor('offsets committed at the end of each partition', async () => {
      const o = await committed('g-single', 'single')
      return o[0] === '5' && o[1] === '5' && o[2] === '5'
    })
    const d = await c.describeGroup()
    assert.equal(d.state, 'Stable')
    assert.equal(d.protocol, 'RoundRobinAssigner')
    assert.equal(d.members.length, 1)
    await c.disconnect()
    assert.deepEqual(await committed('g-single', 'single'), { 0: '5', 1: '5', 2: '5' }, 'offsets outlive the member')
  })

  test('two consumers split the partitions; when one leaves the survivor takes all and resumes without loss or duplicates', async () => {
    const topic = 'split'
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
    const assignment = new Map<string, number[]>()
    const received: string[] = []
    const start = async (name: string) => {
      const c = consumer('g-split')
      c.on(c.events.GROUP_JOIN, (e) => assignment.set(name, [...(e.payload.memberAssignment[topic] ?? [])].sort()))
      await c.connect()
      await c.subscribe({ topic, fromBeginning: true })
      await c.run({
        eachMessage: async ({ partition, message }) => void received.push(`${partition}:${message.offset}`),
      })
      return c
    }
    const a = await start('a')
    await waitFor('a to own all four partitions', () => assignment.get('a')?.length === 4)
    const b = await start('b')
    await waitFor('a and b to split the partitions', () => {
      const pa = assignment.get('a') ?? []
      const pb = assignment.get('b') ?? []
      return pa.length > 0 && pb.length > 0 && pa.length + pb.length === 4
    })
    const pa = assignment.get('a')!
    const pb = assignment.get('b')!
    assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2, 3], 'complete')
    assert.equal(pa.filter((p) => pb.includes(p)).length, 0, 'disjoint')

    await produce(topic, 4, 10, 'first')
    await waitFor('the first 40 records', () => received.length >= 40)
    await waitFor('the first records to be committed', async () =>
      Object.values(await committed('g-split', topic)).every((o) => o === '10'),
    )
    await a.disconnect()
    await waitFor('b to own all four partitions', () => assignment.get('b')?.length === 4)
    await produce(topic, 4, 10, 'second')
    await waitFor('all 80 records', () => received.length >= 80)
    await new Promise((r) => setTimeout(r, 300)) // a duplicate would arrive now
    const unique = new Set(received)
    assert.equal(received.length, 80, 'no record delivered twice')
    assert.equal(unique.size, 80)
    for (let p = 0; p < 4; p++) for (let o = 0; o < 20; o++) assert.ok(unique.has(`${p}:${o}`), `${p}:${o} delivered`)
    await waitFor('final commits', async () =>
      Object.values(await committed('g-split', topic)).every((o) => o === '20'),
    )
    await b.disconnect()
  })

  test('a member that stops heartbeating is expired and the group empties', async () => {
    const topic = 'stuck'
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await produce(topic, 1, 1, 'x')
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let got = 0
    const c = consumer('g-stuck', { sessionTimeout: 1_000 })
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    // kafkajs heartbeats from its fetch loop: a handler that never returns stops the heartbeats
    await c.run({
      eachMessage: async () => {
        got++
        await gate
      },
    })
    await waitFor('the message to be in the handler', () => got === 1)
    assert.equal((await admin.describeGroups(['g-stuck'])).groups[0]!.members.length, 1)
    await waitFor(
      'the silent member to expire',
      async () => (await admin.describeGroups(['g-stuck'])).groups[0]!.members.length === 0,
      5_000,
    )
    assert.equal((await admin.describeGroups(['g-stuck'])).groups[0]!.state, 'Empty')
    release()
    await c.disconnect()
  })

  test('describeGroups and listGroups through the admin client', async () => {
    const topic = 'described'
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
    const c = consumer('g-described')
    let joined = false
    c.on(c.events.GROUP_JOIN, () => void (joined = true))
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({ eachMessage: async () => {} })
    await waitFor('the consumer to join', () => joined)
    await waitFor(
      'a Stable group',
      async () => (await admin.describeGroups(['g-described'])).groups[0]!.state === 'Stable',
    )
    const {
      groups: [g],
    } = await admin.describeGroups(['g-described'])
    assert.equal(g!.groupId, 'g-described')
    assert.equal(g!.protocolType, 'consumer')
    assert.equal(g!.protocol, 'RoundRobinAssigner')
    assert.equal(g!.members.length, 1)
    assert.equal(g!.members[0]!.clientId, 'group-test')
    const assigned = kafkajs.AssignerProtocol.MemberAssignment.decode(g!.members[0]!.memberAssignment)
    assert.deepEqual([...(assigned?.assignment[topic] ?? [])].sort(), [0, 1])
    const { groups } = await admin.listGroups()
    assert.ok(groups.some((x) => x.groupId === 'g-described' && x.protocolType === 'consumer'))
    const unknown = (await admin.describeGroups(['no-such-group'])).groups[0]!
    assert.deepEqual([unknown.state, unknown.members.length], ['Dead', 0])
    await c.disconnect()
    assert.equal((await admin.describeGroups(['g-described'])).groups[0]!.state, 'Empty')
  })

  test('admin fetchOffsets, setOffsets and resetOffsets move where the group resumes', async () => {
    const topic = 'admin-offsets'
    const groupId = 'g-admin'
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
    await produce(topic, 2, 5, 'o')
    assert.deepEqual(await committed(groupId, topic), { 0: '-1', 1: '-1' }, 'nothing committed yet')

    const consumeAll = async (expect: number): Promise<string[]> => {
      const got: string[] = []
      const c = consumer(groupId)
      await c.connect()
      await c.subscribe({ topic, fromBeginning: true })
      await c.run({ eachMessage: async ({ partition, message }) => void got.push(`${partition}:${message.offset}`) })
      await waitFor(`${expect} records`, () => got.length >= expect)
      await waitFor('commits', async () => Object.values(await committed(groupId, topic)).every((o) => o === '5'))
      await new Promise((r) => setTimeout(r, 200))
      await c.disconnect()
      return got.sort()
    }
    assert.equal((await consumeAll(10)).length, 10)
    assert.deepEqual(await committed(groupId, topic), { 0: '5', 1: '5' })

    await admin.setOffsets({
      groupId,
      topic,
      partitions: [
        { partition: 0, offset: '2' },
        { partition: 1, offset: '4' },
      ],
    })
    assert.deepEqual(await committed(groupId, topic), { 0: '2', 1: '4' })
    assert.deepEqual(await consumeAll(4), ['0:2', '0:3', '0:4', '1:4'])

    await admin.resetOffsets({ groupId, topic, earliest: true })
    assert.equal((await consumeAll(10)).length, 10, 'after a reset to earliest the group reads everything again')
  })

  test('kafkajs rides out coordinator errors injected into JoinGroup, SyncGroup, Heartbeat and OffsetCommit', async () => {
    const topic = 'flaky'
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
    await produce(topic, 2, 5, 'f')
    const injected: string[] = []
    const once = (apiKey: number, name: string, errorCode: number) =>
      broker.control(apiKey, () => {
        injected.push(name)
        return { errorCode }
      })
    once(11, 'JoinGroup', KafkaErrors.COORDINATOR_NOT_AVAILABLE.code)
    once(14, 'SyncGroup', KafkaErrors.REBALANCE_IN_PROGRESS.code)
    once(12, 'Heartbeat', KafkaErrors.NOT_COORDINATOR.code)
    once(8, 'OffsetCommit', KafkaErrors.COORDINATOR_LOAD_IN_PROGRESS.code)
    const seen = new Set<string>()
    const c = consumer('g-flaky')
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({ eachMessage: async ({ partition, message }) => void seen.add(`${partition}:${message.offset}`) })
    await waitFor('all 10 records', () => seen.size === 10)
    await waitFor('commits despite the injected errors', async () =>
      Object.values(await committed('g-flaky', topic)).every((o) => o === '5'),
    )
    await waitFor('every injected error to be hit', () => injected.length === 4)
    assert.deepEqual(injected.sort(), ['Heartbeat', 'JoinGroup', 'OffsetCommit', 'SyncGroup'])
    await c.disconnect()
  })

  test("a transactional producer's sendOffsets is visible only after the transaction commits", async () => {
    const topic = 'txn-in'
    const groupId = 'g-txn'
    await admin.createTopics({
      topics: [
        { topic, numPartitions: 1 },
        { topic: 'txn-out', numPartitions: 1 },
      ],
    })
    const tp = kafka.producer({ transactionalId: 'txn-offsets', idempotent: true, maxInFlightRequests: 1 })
    producers.push(tp)
    await tp.connect()

    const t1 = await tp.transaction()
    await t1.send({ topic: 'txn-out', messages: [{ value: 'derived' }] })
    await t1.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '5' }] }] })
    assert.deepEqual(await committed(groupId, topic), { 0: '-1' }, 'pending until commit')
    await t1.commit()
    assert.deepEqual(await committed(groupId, topic), { 0: '5' })

    const t2 = await tp.transaction()
    await t2.send({ topic: 'txn-out', messages: [{ value: 'discarded' }] })
    await t2.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '9' }] }] })
    await t2.abort()
    assert.deepEqual(await committed(groupId, topic), { 0: '5' }, 'an aborted transaction leaves the offset alone')
    await tp.disconnect()
  })
})

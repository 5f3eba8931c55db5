// kafkajs 2.2.4 against the dev broker over real TCP: produce (acks, keys, headers, nulls, batches, gzip),
// consume back exactly, admin calls, LogAppendTime and long-poll wake-up.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { CompressionTypes, Kafka, logLevel, type Admin, type IHeaders } from 'kafkajs'
import { startDevBroker, type DevBroker } from '../src/broker.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

interface Got {
  partition: number
  offset: string
  key: string | null
  value: string | null
  headers: Record<string, string>
  timestamp: string
}

function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h ?? {})) out[k] = String(v)
  return out
}

let groupSeq = 0

/** Reads `count` messages of a topic from the beginning with a kafkajs consumer (fresh group each time). */
async function consume(kafka: Kafka, topic: string, count: number, readUncommitted = false): Promise<Got[]> {
  const consumer = kafka.consumer({ groupId: `g-${topic}-${groupSeq++}`, readUncommitted, maxWaitTimeInMs: 200 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    const got: Got[] = []
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length}/${count} messages of ${topic}`)), 20_000)
      if (count === 0) {
        clearTimeout(timer)
        resolve()
      }
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            got.push({
              partition,
              offset: message.offset,
              key: message.key === null ? null : message.key.toString(),
              value: message.value === null ? null : message.value.toString(),
              headers: headersOf(message.headers),
              timestamp: message.timestamp,
            })
            if (got.length === count) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
    return got.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))
  } finally {
    await consumer.disconnect()
  }
}

describe('kafkajs data path', () => {
  let broker: DevBroker
  let kafka: Kafka
  let admin: Admin

  before(async () => {
    broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
    kafka = new Kafka({ clientId: 'data-test', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    admin = kafka.admin()
    await admin.connect()
  })
  after(async () => {
    await admin.disconnect()
    await broker.close()
  })

  test('Metadata advertises the real listening address', async () => {
    assert.notEqual(broker.port, 0)
    assert.equal(broker.address, `127.0.0.1:${broker.port}`)
    const cluster = await admin.describeCluster()
    assert.deepEqual(
      cluster.brokers.map((b) => [b.host, b.port]),
      [['127.0.0.1', broker.port]],
    )
  })

  test('acks -1, 1 and 0 with keys, headers and null values read back exactly', async () => {
    const producer = kafka.producer()
    await producer.connect()
    const r1 = await producer.send({
      topic: 'acks',
      acks: -1,
      messages: [
        { key: 'k0', value: 'v0', headers: { trace: 't0', n: '0' } },
        { key: null, value: 'no-key' },
        { key: 'tomb', value: null },
      ],
    })
    assert.equal(r1[0]!.baseOffset, '0')
    const r2 = await producer.send({ topic: 'acks', acks: 1, messages: [{ key: 'k3', value: 'v3' }] })
    assert.equal(r2[0]!.baseOffset, '3')
    await producer.send({ topic: 'acks', acks: 0, messages: [{ key: 'k4', value: 'v4' }] })
    // acks=0 has no response: wait for the broker to have it, then read everything back
    for (let i = 0; i < 50 && broker.highWatermark('acks', 0) < 5; i++) await new Promise((r) => setTimeout(r, 20))
    await producer.disconnect()
    const got = await consume(kafka, 'acks', 5)
    assert.deepEqual(
      got.map((m) => [m.offset, m.key, m.value, m.headers]),
      [
        ['0', 'k0', 'v0', { trace: 't0', n: '0' }],
        ['1', null, 'no-key', {}],
        ['2', 'tomb', null, {}],
        ['3', 'k3', 'v3', {}],
        ['4', 'k4', 'v4', {}],
      ],
    )
  })

  test('a gzip batch of 1000 messages is stored compressed as produced and consumed exactly', async () => {
    await admin.createTopics({ topics: [{ topic: 'gz', numPartitions: 3 }] })
    const producer = kafka.producer()
    await producer.connect()
    const messages = Array.from({ length: 1000 }, (_, i) => ({
      key: `key-${i}`,
      value: `value-${i}-${'x'.repeat(i % 50)}`,
      partition: i % 3,
      headers: { i: String(i) },
    }))
    await producer.send({ topic: 'gz', compression: CompressionTypes.GZIP, messages })
    await producer.disconnect()
    const stored = broker.state.topics.get('gz')!.partitions.flatMap((p) => p.batches)
    assert.ok(stored.length >= 3)
    assert.ok(
      stored.every((b) => (b.buf.readInt16BE(21) & 0x07) === 1),
      'batches keep gzip compression',
    )
    const got = await consume(kafka, 'gz', 1000)
    for (const m of got) {
      const i = Number(m.headers.i)
      assert.equal(m.partition, i % 3)
      assert.equal(m.offset, String(Math.floor(i / 3)))
      assert.equal(m.key, `key-${i}`)
      assert.equal(m.value, `value-${i}-${'x'.repeat(i % 50)}`)
    }
    assert.equal(new Set(got.map((m) => m.headers.i)).size, 1000)
  })

  test('admin: create with partitions and configs, describe/alter configs, delete', async () => {
    assert.equal(
      await admin.createTopics({
        topics: [{ topic: 'adm', numPartitions: 4, configEntries: [{ name: 'retention.ms', value: '1000' }] }],
      }),
      true,
    )
    assert.equal(await admin.createTopics({ topics: [{ topic: 'adm', numPartitions: 1 }] }), false)
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: 'adm-rf', replicationFactor: 3 }] }),
      (err: { errors?: Array<{ type?: string }> }) => err.errors?.[0]?.type === 'INVALID_REPLICATION_FACTOR',
    )
    const md = await admin.fetchTopicMetadata({ topics: ['adm'] })
    assert.equal(md.topics[0]!.partitions.length, 4)

    const describe = async () => {
      const res = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: 'adm', configNames: ['retention.ms', 'cleanup.policy'] }],
      })
      return Object.fromEntries(res.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]))
    }
    assert.deepEqual(await describe(), { 'retention.ms': '1000', 'cleanup.policy': 'delete' })
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: 2, name: 'adm', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    })
    // AlterConfigs replaces the whole set: retention.ms falls back to its default
    assert.deepEqual(await describe(), { 'retention.ms': '604800000', 'cleanup.policy': 'compact' })
    await assert.rejects(
      admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: 'adm', configEntries: [{ name: 'cleanup.policy', value: 'shred' }] }],
      }),
    )

    await admin.deleteTopics({ topics: ['adm'] })
    assert.ok(!(await admin.listTopics()).includes('adm'))
    assert.equal(broker.state.topics.has('adm'), false)
  })

  test('createPartitions grows a topic; the new partitions take records', async () => {
    await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 2 }] })
    await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 5 }] })
    await assert.rejects(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] }))
    const md = await admin.fetchTopicMetadata({ topics: ['grow'] })
    assert.deepEqual(md.topics[0]!.partitions.map((p) => p.partitionId).sort(), [0, 1, 2, 3, 4])
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'grow', messages: [{ value: 'in four', partition: 4 }] })
    await producer.disconnect()
    assert.equal(broker.highWatermark('grow', 4), 1)
  })

  test('fetchTopicOffsets, fetchTopicOffsetsByTimestamp and deleteTopicRecords', async () => {
    await admin.createTopics({ topics: [{ topic: 'offs', numPartitions: 1 }] })
    const producer = kafka.producer()
    await producer.connect()
    for (let i = 0; i < 10; i++) {
      await producer.send({
        topic: 'offs',
        messages: [{ key: `k${i}`, value: `v${i}`, timestamp: String(1000 + i * 10) }],
      })
    }
    await producer.disconnect()
    assert.deepEqual(await admin.fetchTopicOffsets('offs'), [{ partition: 0, offset: '10', high: '10', low: '0' }])
    assert.deepEqual(await admin.fetchTopicOffsetsByTimestamp('offs', 1035), [{ partition: 0, offset: '4' }])
    assert.deepEqual(await admin.fetchTopicOffsetsByTimestamp('offs', 1040), [{ partition: 0, offset: '4' }])
    assert.deepEqual(await admin.fetchTopicOffsetsByTimestamp('offs', 5000), [{ partition: 0, offset: '10' }])

    await admin.deleteTopicRecords({ topic: 'offs', partitions: [{ partition: 0, offset: '6' }] })
    assert.deepEqual(await admin.fetchTopicOffsets('offs'), [{ partition: 0, offset: '10', high: '10', low: '6' }])
    const got = await consume(kafka, 'offs', 4)
    assert.deepEqual(
      got.map((m) => [m.offset, m.value]),
      [
        ['6', 'v6'],
        ['7', 'v7'],
        ['8', 'v8'],
        ['9', 'v9'],
      ],
    )
  })

  test('message.timestamp.type=LogAppendTime: the broker stamps the batch', async () => {
    await admin.createTopics({
      topics: [{ topic: 'lat', configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }],
    })
    const before = Date.now()
    const producer = kafka.producer()
    await producer.connect()
    const [res] = await producer.send({ topic: 'lat', messages: [{ key: 'a', value: 'b', timestamp: '1234' }] })
    await producer.disconnect()
    assert.ok(Number(res!.logAppendTime) >= before)
    const [m] = await consume(kafka, 'lat', 1)
    assert.ok(Number(m!.timestamp) >= before, `timestamp ${m!.timestamp} is the append time, not 1234`)
  })

  test('a waiting consumer is woken by produce, not by max wait', async () => {
    await admin.createTopics({ topics: [{ topic: 'wake' }] })
    const consumer = kafka.consumer({ groupId: 'wake-g', maxWaitTimeInMs: 10_000 })
    await consumer.connect()
    await consumer.subscribe({ topic: 'wake', fromBeginning: true })
    let sentAt = 0
    const received = new Promise<number>((resolve) => {
      void consumer.run({ eachMessage: async () => resolve(Date.now() - sentAt) })
    })
    await new Promise((r) => setTimeout(r, 1500)) // let the consumer join and start long-polling
    const producer = kafka.producer()
    await producer.connect()
    sentAt = Date.now()
    await producer.send({ topic: 'wake', messages: [{ value: 'hello' }] })
    const latency = await received
    await producer.disconnect()
    await consumer.disconnect()
    assert.ok(latency < 2000, `delivered ${latency} ms after produce with a 10 s max wait`)
  })
})

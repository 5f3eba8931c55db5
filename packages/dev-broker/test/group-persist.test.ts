// Committed group offsets survive a broker restart on the same dataDir, and consumers resume from them.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import kafkajs from 'kafkajs'
import { startDevBroker, type DevBroker } from '../src/broker.js'

const { Kafka, logLevel } = kafkajs
const brokers: DevBroker[] = []
let dir: string | undefined

after(async () => {
  for (const b of brokers) await b.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

test('offsets committed before a restart are where the group resumes afterwards', async () => {
  dir = await mkdtemp(join(tmpdir(), 'everlog-groups-'))
  const run = async (produceTag: string): Promise<{ got: string[]; committed: string[] }> => {
    const broker = await startDevBroker({ port: 0, dataDir: dir, retentionCheckIntervalMs: 0 })
    brokers.push(broker)
    const kafka = new Kafka({ clientId: 'persist', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    if (!(await admin.listTopics()).includes('kept')) {
      await admin.createTopics({ topics: [{ topic: 'kept', numPartitions: 2 }] })
    }
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({
      topic: 'kept',
      messages: [0, 1].flatMap((p) => [1, 2, 3].map((i) => ({ partition: p, value: `${produceTag}-${p}-${i}` }))),
    })
    const got: string[] = []
    const consumer = kafka.consumer({ groupId: 'g-kept', heartbeatInterval: 100, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic: 'kept', fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) })
    await waitFor('three records per partition', () => got.length >= 6)
    const committed = async () => {
      const [t] = await admin.fetchOffsets({ groupId: 'g-kept', topics: ['kept'] })
      return t!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset)
    }
    const expected = produceTag === 'before' ? ['3', '3'] : ['6', '6']
    await waitFor('commits', async () => (await committed()).join() === expected.join())
    await new Promise((r) => setTimeout(r, 200))
    await consumer.disconnect()
    await producer.disconnect()
    const final = await committed()
    await admin.disconnect()
    await broker.close()
    return { got: got.sort(), committed: final }
  }

  const first = await run('before')
  assert.equal(first.got.length, 6)
  assert.deepEqual(first.committed, ['3', '3'])
  const second = await run('after')
  assert.deepEqual(
    second.got,
    ['after-0-1', 'after-0-2', 'after-0-3', 'after-1-1', 'after-1-2', 'after-1-3'],
    'the restarted broker resumed the group after its committed offsets',
  )
  assert.deepEqual(second.committed, ['6', '6'])
})

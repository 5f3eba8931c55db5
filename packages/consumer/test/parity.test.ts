// The same scenarios against a kafkajs consumer and an ArchiveConsumer reading the same records from the archive:
// what each delivers and which events it emits must agree wherever kafkajs defines the behaviour.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ConfigError, openStore, PartitionWriter } from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
import type { Consumer, ConsumerConfig, Kafka } from 'kafkajs'
import { ArchiveConsumer } from '../src/archive-consumer.js'
import { startTestKafka } from './support/broker.js'
import type { TestKafka } from './support/broker.js'

const T0 = 1_700_000_000_000
const COUNT = 20

let testKafka: TestKafka
let kafka: Kafka
let dir: string
let store: ObjectStore
let seq = 0

before(async () => {
  testKafka = await startTestKafka()
  kafka = testKafka.client()
  dir = await mkdtemp(join(tmpdir(), 'everlog-parity-'))
  store = openStore(pathToFileURL(dir).href)
})

after(async () => {
  await store.close()
  await testKafka.close()
  await rm(dir, { recursive: true, force: true })
})

type Kind = 'kafkajs' | 'archive'
const KINDS: readonly Kind[] = ['kafkajs', 'archive']

/** A topic of COUNT records in Kafka; for the archive kind the same records are archived too, so it reads them there. */
async function topicFor(kind: Kind): Promise<string> {
  const topic = `parity-${kind}-${++seq}-${Date.now()}`
  await testKafka.createTopic(topic)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic,
    messages: Array.from({ length: COUNT }, (_, o) => ({
      partition: 0,
      value: `v${o}`,
      timestamp: String(T0 + o),
    })),
  })
  await producer.disconnect()
  if (kind === 'archive') {
    const w = await PartitionWriter.open(store, { topic, partition: 0, writer: 'test', rowGroupBytes: 256 })
    const records = Array.from({ length: COUNT }, (_, o) => ({
      offset: BigInt(o),
      timestamp: BigInt(T0 + o),
      key: null,
      value: Buffer.from(`v${o}`),
      headers: [],
    }))
    await w.appendSegment(records.slice(0, COUNT / 2))
    await w.appendSegment(records.slice(COUNT / 2))
  }
  return topic
}

function consumerOf(kind: Kind, config: Partial<ConsumerConfig> = {}, client = kafka): Consumer {
  const base: ConsumerConfig = {
    groupId: `g-${kind}-${++seq}`,
    maxWaitTimeInMs: 50,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    retry: { retries: 2, initialRetryTime: 20, maxRetryTime: 50 },
    ...config,
  }
  return kind === 'kafkajs' ? client.consumer(base) : new ArchiveConsumer({ ...base, kafka: client, archive: store })
}

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Runs `scenario` once per kind and returns both observations, kafkajs' first. */
async function both<T>(scenario: (kind: Kind) => Promise<T>): Promise<[T, T]> {
  const [a, b] = await Promise.all(KINDS.map((k) => scenario(k)))
  return [a!, b!]
}

test('parity: a handler that always throws retries per `retry`, asks restartOnFailure, CRASHes after STOP and DISCONNECT', async () => {
  const [kafkajs, archive] = await both(async (kind) => {
    const topic = await topicFor(kind)
    const restartAsked: string[] = []
    const consumer = consumerOf(kind, {
      retry: {
        retries: 2,
        initialRetryTime: 20,
        maxRetryTime: 50,
        restartOnFailure: async (e) => {
          restartAsked.push(e.name)
          return false
        },
      },
    })
    const calls: string[] = []
    const events: string[] = []
    let crash: { error: Error & { retryCount?: number; cause?: Error }; restart: boolean } | undefined
    for (const name of ['STOP', 'DISCONNECT', 'CRASH'] as const) {
      consumer.on(consumer.events[name], (e) => {
        events.push(name)
        if (name === 'CRASH') crash = e.payload as typeof crash
      })
    }
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        calls.push(message.offset)
        throw new Error('handler failed')
      },
    })
    await waitFor('CRASH', () => crash !== undefined)
    await consumer.disconnect()
    return {
      calls,
      restartAsked,
      events: events.slice(0, 3),
      crash: {
        name: crash!.error.name,
        retryCount: crash!.error.retryCount,
        cause: crash!.error.cause?.message,
        restart: crash!.restart,
      },
    }
  })
  assert.deepEqual(kafkajs, {
    calls: ['0', '0', '0'],
    restartAsked: ['KafkaJSNumberOfRetriesExceeded'],
    events: ['STOP', 'DISCONNECT', 'CRASH'],
    crash: { name: 'KafkaJSNumberOfRetriesExceeded', retryCount: 2, cause: 'handler failed', restart: false },
  })
  assert.deepEqual(archive, kafkajs)
})

test('parity: seek to -1, -2 and past the end resets to the default offset (fromBeginning: the earliest)', async () => {
  const [kafkajs, archive] = await both(async (kind) => {
    const topic = await topicFor(kind)
    const consumer = consumerOf(kind)
    const delivered: string[] = []
    const seeks = ['-1', '-2', '1000']
    let visits = 0
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        delivered.push(message.offset)
        if (message.offset === '5' && visits < seeks.length) {
          consumer.seek({ topic, partition: 0, offset: seeks[visits++]! })
        }
      },
    })
    await waitFor('every record after the seeks', () => delivered.length >= 6 * 3 + COUNT)
    await consumer.disconnect()
    return delivered
  })
  const range = (n: number) => Array.from({ length: n }, (_, i) => String(i))
  assert.deepEqual(kafkajs, [...range(6), ...range(6), ...range(6), ...range(COUNT)])
  assert.deepEqual(archive, kafkajs)
})

test('parity: eachBatch batches and messages carry the same fields (fetchedOffset, batchContext)', async () => {
  const [kafkajs, archive] = await both(async (kind) => {
    const topic = await topicFor(kind)
    const consumer = consumerOf(kind)
    let seen: { batch: object; message: object; context: Record<string, unknown> } | undefined
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const message = batch.messages[0]! as (typeof batch.messages)[0] & { batchContext: Record<string, unknown> }
        seen ??= { batch, message, context: message.batchContext }
      },
    })
    await waitFor('a batch', () => seen !== undefined)
    await consumer.disconnect()
    return seen!
  })
  const fields = (o: object) => {
    const names = new Set(Object.keys(o))
    for (let p = Object.getPrototypeOf(o); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor') names.add(n)
    }
    return names
  }
  for (const name of fields(kafkajs.batch)) assert.ok(name in archive.batch, `batch.${name} is missing`)
  assert.equal((archive.batch as { fetchedOffset: string }).fetchedOffset, '0')
  assert.deepEqual(Object.keys(archive.message), Object.keys(kafkajs.message))
  const types = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, typeof v]))
  assert.deepEqual(types(archive.context), types(kafkajs.context))
  assert.equal(archive.context.firstOffset, '0')
})

test('parity: the same instrumentation events while reading, stopping and disconnecting', async () => {
  const names = [
    'CONNECT',
    'GROUP_JOIN',
    'FETCH_START',
    'FETCH',
    'START_BATCH_PROCESS',
    'END_BATCH_PROCESS',
    'COMMIT_OFFSETS',
    'STOP',
    'DISCONNECT',
  ] as const
  const [kafkajs, archive] = await both(async (kind) => {
    const topic = await topicFor(kind)
    const consumer = consumerOf(kind)
    const seen = new Set<string>()
    const batchPayloadKeys: string[][] = []
    for (const name of names) {
      consumer.on(consumer.events[name], (e) => {
        seen.add(name)
        if (name === 'START_BATCH_PROCESS') batchPayloadKeys.push(Object.keys(e.payload as object).sort())
      })
    }
    const fetchNodes = new Set<number>()
    consumer.on(consumer.events.FETCH, (e) => fetchNodes.add(e.payload.nodeId))
    const switches: string[] = []
    if (consumer instanceof ArchiveConsumer) {
      consumer.on(consumer.events.ARCHIVE_SWITCH, (e) => switches.push(e.payload.offset))
    }
    const delivered: string[] = []
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void delivered.push(message.offset) })
    const crossed = () => kind === 'kafkajs' || switches.length > 0
    await waitFor('every record', () => delivered.length >= COUNT && crossed())
    await consumer.disconnect()
    return { seen: [...seen].sort(), batchPayloadKeys: batchPayloadKeys[0], delivered, fetchNodes, switches }
  })
  assert.deepEqual(kafkajs.seen, [...names].sort())
  const common = ({ seen, batchPayloadKeys, delivered }: typeof kafkajs) => ({ seen, batchPayloadKeys, delivered })
  assert.deepEqual(common(archive), common(kafkajs))
  // The archive served every record (it crossed into Kafka at the end) and its reads were the FETCH events.
  assert.deepEqual(archive.switches, [String(COUNT)])
  assert.ok(archive.fetchNodes.has(-1), `FETCH nodeIds ${[...archive.fetchNodes]}`)
})

test('parity: connect() against a broker that accepts connections and never answers gives up as kafkajs does', async () => {
  const sockets = new Set<Socket>()
  const silent: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const { port } = silent.address() as { port: number }
  try {
    const client = testKafka.client({
      brokers: [`127.0.0.1:${port}`],
      connectionTimeout: 300,
      requestTimeout: 600,
      retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 },
    })
    const [kafkajs, archive] = await both(async (kind) => {
      const consumer = consumerOf(kind, {}, client)
      const started = Date.now()
      const error = await consumer.connect().then(
        () => undefined,
        (e: Error) => e,
      )
      const ms = Date.now() - started
      await consumer.disconnect()
      return { ms, name: error?.name }
    })
    // kafkajs' connect() waits out the request timeout of ApiVersions and then returns; the ArchiveConsumer must
    // end the same way (returning, or failing with the same error) in about the same time.
    assert.ok(kafkajs.ms >= 600, `kafkajs returned after ${kafkajs.ms} ms`)
    assert.equal(archive.name, kafkajs.name)
    assert.ok(archive.ms < kafkajs.ms * 1.5 + 500, `ArchiveConsumer ${archive.ms} ms vs kafkajs ${kafkajs.ms} ms`)
  } finally {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => silent.close(resolve))
  }
})

test('an archive that cannot be opened is an error at connect(), never a silent fallback to Kafka', async () => {
  const missing = pathToFileURL(join(dir, 'no-such-folder')).href
  const consumer = new ArchiveConsumer({ kafka, archive: missing, groupId: `g-missing-${++seq}` })
  await assert.rejects(consumer.connect(), (e: unknown) => e instanceof ConfigError && /does not exist/.test(e.message))
  await consumer.disconnect()
})

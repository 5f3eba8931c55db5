// Hostile clients over real TCP: random frames, mutated copies of the requests kafkajs really sends, absurd frame
// lengths and trickled bytes. The broker may close the offending connection, but must never crash, hang other
// clients, or allocate what a frame merely claims; a healthy kafkajs client keeps producing and consuming throughout.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import kafkajs from 'kafkajs'
import type { Admin, Producer } from 'kafkajs'
import { startDevBroker } from '../src/broker.js'
import type { DevBroker } from '../src/broker.js'

const { Kafka, logLevel } = kafkajs
const LONG = process.env.EVERLOG_LONG_TESTS === '1'

let broker: DevBroker
let admin: Admin
let producer: Producer
let kafka: InstanceType<typeof Kafka>
/** Real request frames (length prefix included) by API key, as kafkajs sent them. */
const captured = new Map<number, Buffer[]>()

before(async () => {
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
  const unhooks: (() => void)[] = []
  for (let apiKey = 0; apiKey < 40; apiKey++) {
    unhooks.push(
      broker.control(apiKey, (req) => {
        const list = captured.get(req.apiKey) ?? []
        if (list.length < 4) {
          const client = req.clientId === null ? Buffer.from([0xff, 0xff]) : lengthPrefixed(req.clientId)
          const header = Buffer.alloc(8)
          header.writeInt16BE(req.apiKey, 0)
          header.writeInt16BE(req.apiVersion, 2)
          header.writeInt32BE(req.correlationId, 4)
          const frame = Buffer.concat([header, client, req.flexible ? Buffer.from([0]) : Buffer.alloc(0), req.body])
          const size = Buffer.alloc(4)
          size.writeInt32BE(frame.length, 0)
          list.push(Buffer.concat([size, frame]))
          captured.set(req.apiKey, list)
        }
        return undefined
      }),
    )
  }
  kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING, clientId: 'fuzz-reference' })
  admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'fuzz', numPartitions: 2 }] })
  producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'fuzz', messages: [{ key: 'k', value: 'v', headers: { h: 'x' } }] })
  // A group round trip so JoinGroup/SyncGroup/Heartbeat/OffsetCommit/OffsetFetch/Fetch are captured too.
  await consumeCount('fuzz', 1)
  await admin.fetchTopicOffsets('fuzz')
  await admin.describeConfigs({ resources: [{ type: 2, name: 'fuzz' }], includeSynonyms: false })
  for (const u of unhooks) u()
})

after(async () => {
  await producer?.disconnect()
  await admin?.disconnect()
  await broker?.close()
})

function lengthPrefixed(s: string): Buffer {
  const b = Buffer.from(s)
  const out = Buffer.alloc(2 + b.length)
  out.writeInt16BE(b.length, 0)
  b.copy(out, 2)
  return out
}

async function consumeCount(topic: string, count: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `fuzz-${Math.random()}`, maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let seen = 0
  let resolve!: () => void
  const done = new Promise<void>((r) => (resolve = r))
  await consumer.run({
    eachMessage: async () => {
      if (++seen >= count) resolve()
    },
  })
  const timer = setTimeout(resolve, 15_000)
  await done
  clearTimeout(timer)
  await consumer.disconnect()
  return seen
}

/** Sends bytes on a fresh connection; resolves with what happened within `waitMs`, closing the socket after. */
async function poke(bytes: Buffer | Buffer[], waitMs = 150): Promise<'closed' | 'answered' | 'silent'> {
  const socket: Socket = connect(broker.port, broker.host)
  socket.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  let outcome: 'closed' | 'answered' | 'silent' = 'silent'
  let hungUp = false
  const ended = new Promise<void>((resolve) => {
    socket.once('close', () => {
      if (outcome === 'silent' && !hungUp) outcome = 'closed'
      resolve()
    })
    socket.on('data', () => {
      outcome = 'answered'
    })
  })
  for (const chunk of Array.isArray(bytes) ? bytes : [bytes]) socket.write(chunk)
  await Promise.race([ended, new Promise((r) => setTimeout(r, waitMs))])
  hungUp = true
  socket.destroy()
  await ended
  return outcome
}

/** The broker still serves a well-behaved client: metadata, produce and offsets move. */
async function healthy(): Promise<void> {
  const topics = await admin.listTopics()
  assert.ok(topics.includes('fuzz'))
  const [res] = await producer.send({ topic: 'fuzz', messages: [{ value: 'still alive' }] })
  assert.equal(res!.errorCode, 0)
}

test('kafkajs requests were captured for the APIs a client uses', () => {
  for (const key of [0, 1, 2, 3, 8, 9, 10, 11, 14, 18, 19, 32]) {
    assert.ok(captured.has(key), `no request of API key ${key} was captured`)
  }
})

test('a frame claiming 2 GiB, or a negative or tiny length, closes only that connection at once', async () => {
  const heapBefore = process.memoryUsage().heapUsed
  for (const size of [0x7fffffff, 0x40000000, -1, -0x80000000, 0, 3, 7]) {
    const frame = Buffer.alloc(4 + 16)
    frame.writeInt32BE(size, 0)
    const started = Date.now()
    assert.equal(await poke(frame, 2000), 'closed', `frame length ${size}`)
    assert.ok(Date.now() - started < 1000)
  }
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'a claimed length was allocated')
  await healthy()
})

test('a frame trickled byte by byte is served; one cut short leaves the broker waiting on that connection only', async () => {
  const metadata = captured.get(3)![0]!
  const bytes = [...metadata].map((b) => Buffer.from([b]))
  assert.equal(await poke(bytes, 2000), 'answered')
  assert.equal(await poke(metadata.subarray(0, metadata.length - 3), 200), 'silent')
  await healthy()
})

test('mutated real requests: each is answered or its connection closed; the broker keeps serving', async () => {
  const keys = [...captured.keys()]
  const mutation = fc.record({
    key: fc.constantFrom(...keys),
    which: fc.nat(3),
    edits: fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({
          op: fc.constant('int32' as const),
          at: fc.nat(),
          value: fc.constantFrom(-1, 0x7fffffff, 0x10000000, -2),
        }),
        fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  })
  const outcomes = { closed: 0, answered: 0, silent: 0 }
  let n = 0
  await fc.assert(
    fc.asyncProperty(mutation, async ({ key, which, edits }) => {
      const list = captured.get(key)!
      let frame = Buffer.from(list[which % list.length]!)
      for (const e of edits) {
        // Never touch the length prefix here (that is the test above): edits hit the header and body.
        const at = 4 + (('at' in e ? e.at : 0) % Math.max(1, frame.length - 4))
        if (e.op === 'set' && at < frame.length) frame[at] = e.value
        else if (e.op === 'int32' && at + 4 <= frame.length) frame.writeInt32BE(e.value, at)
        else if (e.op === 'truncate') frame = frame.subarray(0, Math.max(12, at))
        else if (e.op === 'append') frame = Buffer.concat([frame, Buffer.from(e.bytes)])
      }
      frame.writeInt32BE(frame.length - 4, 0)
      outcomes[await poke(frame, 100)]++
      if (++n % 25 === 0) await healthy()
    }),
    { numRuns: LONG ? 3000 : 150, seed: 31 },
  )
  assert.ok(outcomes.closed > 0 && outcomes.answered > 0, JSON.stringify(outcomes))
  await healthy()
  // The records the healthy client produced all along are there for a consumer.
  const hw = await admin.fetchTopicOffsets('fuzz')
  const total = hw.reduce((s, p) => s + Number(p.high), 0)
  assert.equal(await consumeCount('fuzz', total), total)
})

test('random bytes after a valid length: the connection is closed or answered, never the broker', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 8, maxLength: 200 }), async (body) => {
      const frame = Buffer.alloc(4 + body.length)
      frame.writeInt32BE(body.length, 0)
      Buffer.from(body).copy(frame, 4)
      await poke(frame, 50)
    }),
    { numRuns: LONG ? 2000 : 100, seed: 32 },
  )
  // Many connections at once, each sending garbage, next to a healthy client.
  await Promise.all([
    ...Array.from({ length: 50 }, (_, i) =>
      poke(Buffer.from([0, 0, 0, 12, i, 0xff, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0]), 300),
    ),
    healthy(),
  ])
  await healthy()
})

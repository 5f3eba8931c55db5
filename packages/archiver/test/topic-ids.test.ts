// The archiver's Metadata v10-v12 codec for topic IDs. Apache Kafka 3.9 and 4.x answer v12 (the recreated-topic test
// in archive.test.ts runs against them); v10 and v11, which only older brokers (2.8-3.x) pick, are checked here
// byte for byte against Kafka's message schema, through a broker stand-in that answers with those bytes.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fetchTopicIds } from '../src/fetch/topic-ids.js'
import type { TopicIdBroker } from '../src/fetch/topic-ids.js'

const uvarint = (n: number) => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}
const compactString = (s: string | null) =>
  s === null ? uvarint(0) : Buffer.concat([uvarint(Buffer.byteLength(s) + 1), Buffer.from(s)])
const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff])
const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const TAGS = uvarint(0)

/** A Metadata response body (after the correlation id) as Kafka writes it at `version`. */
function response(version: number, topics: { error: number; name: string; id: Buffer; partitions: number }[]) {
  const parts: Buffer[] = [
    // Response header v1's tagged fields, with one unknown field a reader must skip.
    uvarint(1),
    uvarint(7),
    uvarint(2),
    Buffer.from([9, 9]),
    int32(0), // throttle
    uvarint(2), // one broker
    int32(1),
    compactString('localhost'),
    int32(9092),
    compactString(null),
    TAGS,
    compactString('cluster'),
    int32(1),
    uvarint(topics.length + 1),
  ]
  for (const t of topics) {
    parts.push(int16(t.error), compactString(t.name), t.id, Buffer.from([0]), uvarint(t.partitions + 1))
    for (let p = 0; p < t.partitions; p++) {
      parts.push(int16(0), int32(p), int32(1), int32(0))
      for (let k = 0; k < 3; k++) parts.push(uvarint(2), int32(1))
      parts.push(TAGS)
    }
    parts.push(int32(-2147483648), TAGS)
  }
  if (version === 10) parts.push(int32(-2147483648))
  parts.push(TAGS)
  return Buffer.concat(parts)
}

function standIn(maxVersion: number, answer: (version: number, request: Buffer) => Buffer) {
  const sent: { version: number; request: Buffer }[] = []
  const broker: TopicIdBroker = {
    versions: { 3: { minVersion: 0, maxVersion } },
    connectionPool: {
      async send(protocol: unknown) {
        const p = protocol as {
          request: { apiKey: number; apiVersion: number; encode(): { buffer: Buffer } }
          response: { decode(b: Buffer): Promise<unknown>; parse(d: unknown): Promise<unknown> }
        }
        assert.equal(p.request.apiKey, 3)
        const request = p.request.encode().buffer
        sent.push({ version: p.request.apiVersion, request })
        return p.response.parse(await p.response.decode(answer(p.request.apiVersion, request)))
      },
    },
  }
  return { broker, sent }
}

const idA = Buffer.from('a30f4e1c3d4b4c8e9a1b2c3d4e5f6071', 'hex')

for (const version of [10, 11, 12]) {
  test(`Metadata v${version}: topic IDs in Kafka's text form, unknown topics as null`, async () => {
    const { broker, sent } = standIn(version, (v) =>
      response(v, [
        { error: 0, name: 'orders', id: idA, partitions: 2 },
        { error: 3, name: 'gone', id: Buffer.alloc(16), partitions: 0 },
      ]),
    )
    const ids = await fetchTopicIds(broker, ['orders', 'gone'])
    assert.deepEqual(
      ids,
      new Map<string, string | null>([
        ['orders', idA.toString('base64url')],
        ['gone', null],
      ]),
    )
    // Request: header tags, 2 topics (zero UUID, name, tags), then the booleans v`version` has, then tags.
    const expected = Buffer.concat([
      TAGS,
      uvarint(3),
      Buffer.alloc(16),
      compactString('orders'),
      TAGS,
      Buffer.alloc(16),
      compactString('gone'),
      TAGS,
      Buffer.alloc(version === 10 ? 3 : 2),
      TAGS,
    ])
    assert.deepEqual(sent, [{ version, request: expected }])
  })
}

test('the newest version both sides know, at most v12; none before v10 (no topic IDs there)', async () => {
  const newer = standIn(13, (v) => response(v, [{ error: 0, name: 'orders', id: idA, partitions: 1 }]))
  await fetchTopicIds(newer.broker, ['orders'])
  assert.equal(newer.sent[0]!.version, 12)
  const older = standIn(9, () => assert.fail('no request expected'))
  assert.equal(await fetchTopicIds(older.broker, ['orders']), undefined)
})

test('a truncated response is a FORMAT error, not a wrong answer', async () => {
  const { broker } = standIn(12, (v) =>
    response(v, [{ error: 0, name: 'orders', id: idA, partitions: 3 }]).subarray(0, 60),
  )
  await assert.rejects(
    fetchTopicIds(broker, ['orders']),
    (err: unknown) => (err as { code?: string }).code === 'FORMAT',
  )
})

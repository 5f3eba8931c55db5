// Kafka 4 removed old protocol versions (KIP-896). Every request Everlog sends through kafkajs 2.2.4 (the archiver,
// ArchiveConsumer, restore and group backup) must find a version both sides speak; ApiVersions, asked over a raw
// socket, says what Apache Kafka serves.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Archiver } from '@everlog/archiver'
import { ArchiveConsumer } from '@everlog/consumer'
import {
  KAFKAJS_REQUEST_VERSIONS,
  KafkaProtocolUnsupportedError,
  openStore,
  PartitionWriter,
  writeTopicMeta,
} from '@everlog/core'
import { startDevBroker } from '@everlog/dev-broker'
import type { DevBroker } from '@everlog/dev-broker'
import kafkajs from 'kafkajs'
import { everlog } from '../../packages/cli/test/support.js'
import { KAFKA_3_VERSION, KAFKA_VERSION, kafkaMissing, startKafka } from '@everlog/testkit'
import type { KafkaBroker } from '@everlog/testkit'

/** The requests kafkajs 2.2.4 sends, with the version range it implements (core's table, checked below), and the archiver's own Metadata for topic IDs. */
const KAFKAJS_RANGES: Record<string, [apiKey: number, min: number, max: number]> = Object.fromEntries([
  ...Object.entries(KAFKAJS_REQUEST_VERSIONS).map(([name, v]) => [name, [v.apiKey, v.min, v.max]]),
  // Not kafkajs': the archiver's own Metadata request for topic IDs (a topic deleted and created again).
  ['Metadata with topic IDs', [3, 10, 12]],
])

/** ApiVersions v0 over a raw socket: api key -> [min, max] the broker serves. */
function apiVersions(address: string): Promise<Map<number, [number, number]>> {
  const [host, port] = address.split(':') as [string, string]
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host)
    const clientId = Buffer.from('everlog-versions')
    const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length)
    body.writeInt16BE(18, 0) // ApiVersions
    body.writeInt16BE(0, 2) // v0
    body.writeInt32BE(1, 4) // correlation id
    body.writeInt16BE(clientId.length, 8)
    clientId.copy(body, 10)
    const size = Buffer.alloc(4)
    size.writeInt32BE(body.length)
    socket.write(Buffer.concat([size, body]))
    let got = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      if (got.length < 4 || got.length < 4 + got.readInt32BE(0)) return
      socket.end()
      const errorCode = got.readInt16BE(8)
      if (errorCode !== 0) return reject(new Error(`ApiVersions error ${errorCode}`))
      const out = new Map<number, [number, number]>()
      const count = got.readInt32BE(10)
      for (let i = 0, at = 14; i < count; i++, at += 6) {
        out.set(got.readInt16BE(at), [got.readInt16BE(at + 2), got.readInt16BE(at + 4)])
      }
      resolve(out)
    })
    socket.on('error', reject)
  })
}

test("core's table of kafkajs' request versions is what kafkajs implements", () => {
  // kafkajs' own request definitions (CommonJS, outside its public API): every version it can encode, by API key.
  const require = createRequire(import.meta.url)
  const { requests } = require('kafkajs/src/protocol/requests/index.js') as {
    requests: Record<string, { versions: string[] }>
  }
  const keys = require('kafkajs/src/protocol/requests/apiKeys.js') as Record<string, number>
  for (const [name, { apiKey, min, max }] of Object.entries(KAFKAJS_REQUEST_VERSIONS)) {
    const kafkajsName = Object.entries(keys).find(([, key]) => key === apiKey)![0]
    const versions = requests[kafkajsName]!.versions.map(Number)
    assert.deepEqual([min, max], [Math.min(...versions), Math.max(...versions)], name)
  }
})

for (const version of [KAFKA_VERSION, KAFKA_3_VERSION]) {
  describe(`kafkajs 2.2.4 and Apache Kafka ${version}`, { skip: kafkaMissing(version) }, () => {
    let kafka: KafkaBroker
    before(async () => {
      kafka = await startKafka({ version })
    })
    after(() => kafka?.stop())

    test('every request kafkajs sends for Everlog has a version the broker serves', async () => {
      const served = await apiVersions(kafka.bootstrap)
      const unserved: string[] = []
      for (const [name, [key, min, max]] of Object.entries(KAFKAJS_RANGES)) {
        const range = served.get(key)
        if (!range || range[1] < min || range[0] > max) {
          unserved.push(`${name} (kafkajs ${min}-${max}, broker ${range ? `${range[0]}-${range[1]}` : 'none'})`)
        }
      }
      assert.deepEqual(unserved, [], 'requests with no common version')
    })
  })
}

// A broker whose ranges exclude kafkajs' (as a Kafka that removed old versions would): the dev broker serving
// Metadata v7-9 only, closing the connection on anything older, as Apache Kafka does. Every component must fail at
// once with KafkaProtocolUnsupportedError naming the request and both ranges, never retry for good.
describe('a broker that serves no Metadata version kafkajs speaks', () => {
  let broker: DevBroker
  let dir: string
  let url: string
  const TOPIC = 'versions'
  const NAMED = /Metadata \(key 3\): the broker serves v7-9, kafkajs v0-6/

  /** Rejects when `work` has not settled after `ms`: a hang is reported as one, not as the runner's timeout. */
  const settles = <T>(work: Promise<T>, what: string, ms = 60_000): Promise<T> =>
    Promise.race([
      work,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} hung for ${ms} ms`)), ms).unref()),
    ])

  before(async () => {
    broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0, servedVersions: { 3: [7, 9] } })
    dir = mkdtempSync(join(tmpdir(), 'everlog-versions-'))
    url = pathToFileURL(dir).href
    const store = openStore(url)
    await writeTopicMeta(store, { topic: TOPIC, partitions: 1, cleanupPolicy: 'delete', configs: {} })
    const writer = await PartitionWriter.open(store, { topic: TOPIC, partition: 0, writer: 'test' })
    await writer.appendSegment([{ offset: 0n, timestamp: 1n, key: null, value: Buffer.from('v'), headers: [] }])
    await store.close()
  })
  after(async () => {
    await broker?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const kafka = () =>
    new kafkajs.Kafka({ brokers: broker.brokers, logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 5 } })

  test('ArchiveConsumer.connect() rejects with the typed error', async () => {
    const consumer = new ArchiveConsumer({ kafka: kafka(), archive: url, groupId: 'versions-app' })
    await assert.rejects(settles(consumer.connect(), 'ArchiveConsumer.connect()'), (e: unknown) => {
      assert.ok(e instanceof KafkaProtocolUnsupportedError, String(e))
      assert.equal(e.code, 'KAFKA_PROTOCOL_UNSUPPORTED')
      assert.match(e.message, NAMED)
      assert.match(e.message, /^ArchiveConsumer/)
      return true
    })
  })

  test('the archiver fails to start with the typed error', async () => {
    const archiver = new Archiver(
      {
        brokers: broker.brokers,
        topics: [TOPIC],
        store: url,
        group: 'versions-archiver',
        http: { port: 0, host: '127.0.0.1' },
        logLevel: 'silent',
        progressIntervalMs: 0,
      },
      { processMetrics: false },
    )
    await assert.rejects(settles(archiver.start(), 'Archiver.start()'), (e: unknown) => {
      assert.ok(e instanceof KafkaProtocolUnsupportedError, String(e))
      assert.match(e.message, NAMED)
      return true
    })
    await archiver.stop()
  })

  for (const [command, args] of [
    ['restore', ['--topic', TOPIC, '--to-topic', 'versions-restored']],
    ['backup-groups', ['--groups', 'versions-app']],
    ['restore-groups', ['--groups', 'versions-app', '--topic', TOPIC]],
  ] as const) {
    test(`everlog ${command} exits with the error naming the request`, async () => {
      const run = await settles(
        everlog([command, '--store', url, '--brokers', broker.address, ...args]),
        `everlog ${command}`,
      )
      assert.notEqual(run.code, 0)
      assert.match(run.stderr, NAMED)
      assert.match(
        run.stderr,
        new RegExp(`everlog ${command} \\(kafkajs 2\\.2\\.4\\) cannot talk to this Kafka broker`),
      )
    })
  }
})

// Kafka 4 removed old protocol versions (KIP-896). Every request Everlog sends through kafkajs 2.2.4 (the archiver,
// ArchiveConsumer, restore and group backup) must find a version both sides speak; ApiVersions, asked over a raw
// socket, says what Apache Kafka serves.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { KAFKA_3_VERSION, KAFKA_VERSION, kafkaMissing, startKafka } from '@everlog/testkit'
import type { KafkaBroker } from '@everlog/testkit'

/** The requests kafkajs 2.2.4 sends, with the version range it implements (its protocol/requests folders). */
const KAFKAJS_RANGES: Record<string, [apiKey: number, min: number, max: number]> = {
  Produce: [0, 0, 7],
  Fetch: [1, 0, 11],
  ListOffsets: [2, 0, 3],
  Metadata: [3, 0, 6],
  OffsetCommit: [8, 0, 5],
  OffsetFetch: [9, 1, 4],
  FindCoordinator: [10, 0, 2],
  JoinGroup: [11, 0, 5],
  Heartbeat: [12, 0, 3],
  LeaveGroup: [13, 0, 3],
  SyncGroup: [14, 0, 3],
  DescribeGroups: [15, 0, 2],
  ApiVersions: [18, 0, 2],
  CreateTopics: [19, 0, 3],
  DeleteTopics: [20, 0, 1],
  DeleteRecords: [21, 0, 1],
  InitProducerId: [22, 0, 1],
  AddPartitionsToTxn: [24, 0, 1],
  AddOffsetsToTxn: [25, 0, 1],
  EndTxn: [26, 0, 1],
  TxnOffsetCommit: [28, 0, 1],
  DescribeConfigs: [32, 0, 2],
  // Not kafkajs': the archiver's own Metadata request for topic IDs (a topic deleted and created again).
  'Metadata with topic IDs': [3, 10, 12],
}

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

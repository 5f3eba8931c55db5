import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ArchiveReader, openStore, readTopicMeta, verifyArchive } from '@everlog/core'
import { startS3Server } from '@everlog/core/testing'
import type { S3TestServer } from '@everlog/core/testing'
import { Archiver } from '../src/archiver.js'
import { loadConfig } from '../src/config.js'
import { admin, broker, producer, useBroker } from './support.js'

let s3: S3TestServer

useBroker()

before(async () => {
  s3 = await startS3Server()
})

after(async () => {
  await s3?.close()
})

describe('archiver to S3 over HTTP', () => {
  test('an s3:// store URL with endpoint from the config and credentials from the AWS env: every record, conditional HEADs', async () => {
    const topic = 'to-s3'
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })
    for (let round = 0; round < 3; round++) {
      for (let p = 0; p < 3; p++) {
        await producer.send({
          topic,
          messages: Array.from({ length: 40 }, (_, i) => ({
            partition: p,
            key: `k${i}`,
            value: Buffer.alloc(200 + i, p + round),
            headers: { round: String(round) },
          })),
        })
      }
    }
    const url = `s3://${s3.bucket}/archive/prod`
    const config = loadConfig({
      env: {
        EVERLOG_BROKERS: broker.brokers.join(','),
        EVERLOG_TOPICS: topic,
        EVERLOG_STORE: url,
        EVERLOG_S3__ENDPOINT: s3.endpoint,
        EVERLOG_S3__REGION: s3.region,
        EVERLOG_ONCE: 'true',
        EVERLOG_HTTP__PORT: '0',
        EVERLOG_HTTP__HOST: '127.0.0.1',
        EVERLOG_LOG_LEVEL: 'silent',
        EVERLOG_SEGMENT__MAX_RECORDS: '50',
      },
    })
    // The AWS SDK's default chain reads credentials from the environment, as it would in a container.
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY }
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId
    process.env.AWS_SECRET_ACCESS_KEY = s3.clientConfig().credentials.secretAccessKey
    try {
      const a = new Archiver(config, { processMetrics: false })
      await a.start()
      await a.done
    } finally {
      for (const [k, v] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
    const store = openStore(url, { s3: s3.clientConfig() })
    const reader = new ArchiveReader(store)
    for (let p = 0; p < 3; p++) {
      const records = []
      for await (const r of reader.read({ topic, partition: p })) records.push(r)
      assert.equal(records.length, 120)
      records.forEach((r, n) => {
        const round = Math.floor(n / 40)
        const i = n % 40
        assert.equal(r.offset, BigInt(n))
        assert.equal(r.key?.toString(), `k${i}`)
        assert.ok(r.value?.equals(Buffer.alloc(200 + i, p + round)))
        assert.deepEqual(r.headers, [['round', Buffer.from(String(round))]])
      })
      assert.equal((await reader.head(topic, p))?.segments, 3)
    }
    assert.equal((await readTopicMeta(store, topic))?.partitions, 3)
    const verified = await verifyArchive(store)
    assert.deepEqual(verified.problems, [])
    // One conditional HEAD write per segment, each accepted (no lost race, no retry needed).
    const headPuts = s3.requests.filter((r) => r.method === 'PUT' && r.key?.endsWith('/HEAD'))
    assert.equal(headPuts.length, 9)
    assert.ok(headPuts.every((r) => r.status === 200))
  })
})

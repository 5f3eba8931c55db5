// Security of the archiver: SSE-S3 / SSE-KMS and the storage class from its config reach every PUT (checked on the
// objects the S3 test server stored), and a SASL password or an AWS secret key never appears in any log line (down
// to trace, kafkajs' own lines included) or error text, also when the connection or the credentials fail.
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { after, before, test } from 'node:test'
import { startS3Server } from '@everlog/core/testing'
import type { S3TestServer } from '@everlog/core/testing'
import { Archiver } from '../src/archiver.js'
import type { ArchiverConfigInput } from '../src/config.js'
import { admin, broker, LogSink, producer, useBroker } from './support.js'

const SASL_PASSWORD = 'sasl-Pa55word-do-not-leak-7f3a'

let s3: S3TestServer

useBroker()

before(async () => {
  s3 = await startS3Server()
})

after(async () => {
  await s3?.close()
})

function config(topic: string, extra: Partial<ArchiverConfigInput>): ArchiverConfigInput {
  return {
    brokers: broker.brokers,
    topics: [topic],
    store: `s3://${s3.bucket}/sec/`,
    group: `g-${topic}`,
    once: true,
    http: { port: 0, host: '127.0.0.1' },
    progressIntervalMs: 0,
    segment: { maxRecords: 10 },
    // Enough attempts for a fresh Apache Kafka, whose first group waits for __consumer_offsets to be created.
    retry: { initialMs: 10, maxMs: 500, maxAttempts: 8 },
    kafka: { maxWaitTimeInMs: 50, connectionTimeout: 500, requestTimeout: 2000 },
    s3: { endpoint: s3.endpoint, region: s3.region, forcePathStyle: true },
    ...extra,
  }
}

/** Runs fn with AWS credentials in the environment only (the standard chain), restoring it afterwards. */
async function withAwsEnv<T>(secret: string, fn: () => Promise<T>): Promise<T> {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY }
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId
  process.env.AWS_SECRET_ACCESS_KEY = secret
  try {
    return await fn()
  } finally {
    for (const [k, v] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

async function produce(topic: string, n: number): Promise<void> {
  // Produce only once the partition has a leader (Apache Kafka elects it a moment after CreateTopics answers).
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ value: `v${i}` })) })
}

test('SSE-KMS with a key id and the storage class from the config are sent with every PUT', async () => {
  const topic = 'sse-kms'
  await produce(topic, 35)
  const before = s3.requests.length
  const a = new Archiver(
    config(topic, {
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        serverSideEncryption: 'aws:kms',
        sseKmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/everlog-test',
        storageClass: 'STANDARD_IA',
      },
    }),
    { logStream: new LogSink(), processMetrics: false },
  )
  await withAwsEnv(s3.secretAccessKey, async () => {
    await a.start()
    await a.done
  })
  const puts = s3.requests.slice(before).filter((r) => r.method === 'PUT' && r.status === 200)
  const keys = new Set(puts.map((r) => r.key!))
  assert.ok([...keys].some((k) => k.includes('/data/')) && [...keys].some((k) => k.endsWith('/HEAD')))
  assert.ok([...keys].some((k) => k.includes('/nodes/')) && [...keys].some((k) => k.endsWith('topic.json')))
  for (const key of keys) {
    const obj = s3.object(s3.bucket!, key)!
    assert.equal(obj.serverSideEncryption, 'aws:kms', key)
    assert.equal(obj.sseKmsKeyId, 'arn:aws:kms:us-east-1:111122223333:key/everlog-test', key)
    assert.equal(obj.storageClass, 'STANDARD_IA', key)
  }
})

test('SSE-S3 (AES256) on every PUT; a KMS key id without aws:kms is a configuration error', async () => {
  const topic = 'sse-s3'
  await produce(topic, 12)
  const before = s3.requests.length
  const a = new Archiver(
    config(topic, {
      s3: { endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, serverSideEncryption: 'AES256' },
    }),
    { logStream: new LogSink(), processMetrics: false },
  )
  await withAwsEnv(s3.secretAccessKey, async () => {
    await a.start()
    await a.done
  })
  const puts = s3.requests.slice(before).filter((r) => r.method === 'PUT' && r.status === 200)
  assert.ok(puts.length >= 4)
  for (const r of puts) assert.equal(s3.object(s3.bucket!, r.key!)!.serverSideEncryption, 'AES256', r.key)
  assert.throws(
    () => new Archiver(config(topic, { s3: { sseKmsKeyId: 'k', serverSideEncryption: 'AES256' } })),
    /s3\.sseKmsKeyId: sseKmsKeyId needs serverSideEncryption: aws:kms/,
  )
})

test('a SASL password never appears in logs (trace level) or errors, when the SASL handshake fails', async () => {
  const logs = new LogSink()
  const a = new Archiver(
    config('sasl-topic', {
      logLevel: 'trace',
      kafka: {
        maxWaitTimeInMs: 50,
        connectionTimeout: 500,
        requestTimeout: 2000,
        sasl: { mechanism: 'plain', username: 'archiver', password: SASL_PASSWORD },
      },
    }),
    { logStream: logs, processMetrics: false },
  )
  let error: unknown
  await withAwsEnv(s3.secretAccessKey, async () => {
    await a.start().catch((err: unknown) => (error = err))
    await a.done.catch((err: unknown) => (error ??= err))
  })
  assert.ok(error, 'the archiver should not start against a broker without SASL')
  assert.ok(logs.text.length > 0)
  assert.ok(logs.text.includes('archiver starting'))
  for (const text of [logs.text, String(error), inspect(error, { depth: 10 }), await a.metrics.registry.metrics()]) {
    assert.ok(!text.includes(SASL_PASSWORD), 'the SASL password leaked')
  }
})

test('an AWS secret key never appears in logs (trace level) or errors, when S3 refuses the signature', async () => {
  const wrongSecret = 'aws-Secret-Key-do-not-leak-0c9d' + 'x'.repeat(10)
  const logs = new LogSink()
  const a = new Archiver(config('aws-topic', { logLevel: 'trace' }), { logStream: logs, processMetrics: false })
  let error: unknown
  await withAwsEnv(wrongSecret, async () => {
    await a.start().catch((err: unknown) => (error = err))
    await a.done.catch((err: unknown) => (error ??= err))
  })
  assert.ok(error)
  assert.match(String(error), /denied|signature|SignatureDoesNotMatch|403/i)
  for (const text of [logs.text, String(error), inspect(error, { depth: 10 }), await a.metrics.registry.metrics()]) {
    assert.ok(!text.includes(wrongSecret), 'the AWS secret leaked')
    assert.ok(!text.includes(s3.secretAccessKey))
  }
})

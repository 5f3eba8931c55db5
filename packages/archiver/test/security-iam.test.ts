// The IAM policies of docs/iam.md allow exactly what the code does: every request the archiver and the readers send
// to an S3 endpoint is recorded, mapped to its IAM action, and compared with the documented policy of its role
// (nothing missing, nothing extra), and every request stays inside the policy's resources (bucket and prefix).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ArchiveReader, S3Store, describeTopic, listTopics, verifyArchive } from '@everlog/core'
import kafkajs from 'kafkajs'
import { startS3Server } from '@everlog/core/testing'
import type { S3RequestRecord, S3TestServer } from '@everlog/core/testing'
import { startDevBroker } from '@everlog/dev-broker'
import type { DevBroker } from '@everlog/dev-broker'
import { Archiver } from '../src/archiver.js'

const { Kafka, logLevel } = kafkajs
const PREFIX = 'iam-archive'
const TOPIC = 'iam'

interface Statement {
  Effect: string
  Action: string[]
  Resource: string | string[]
  Condition?: { StringLike?: { 's3:prefix'?: string[] } }
}

/** The policies of docs/iam.md, by the name in their `<!-- policy: name -->` marker. */
function documentedPolicies(): Map<string, Statement[]> {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/iam.md', import.meta.url)), 'utf8')
  const out = new Map<string, Statement[]>()
  for (const m of doc.matchAll(/<!-- policy: (\w+) -->\s*```json\n([\s\S]*?)```/g)) {
    out.set(m[1]!, (JSON.parse(m[2]!) as { Statement: Statement[] }).Statement)
  }
  return out
}

/** The IAM action S3 checks for one REST request (docs.aws.amazon.com, "Actions, resources, and condition keys"). */
function iamAction(r: S3RequestRecord): string {
  const q = new URLSearchParams(r.query)
  if (r.key === undefined || r.key === '') {
    if (r.method === 'GET' && q.get('list-type') === '2') return 's3:ListBucket'
    if (r.method === 'HEAD') return 's3:ListBucket'
    if (r.method === 'GET' && q.has('location')) return 's3:GetBucketLocation'
    return `unmapped bucket request ${r.method} ?${r.query}`
  }
  if (r.method === 'GET' || r.method === 'HEAD') return 's3:GetObject'
  if (r.method === 'PUT' || r.method === 'POST') return 's3:PutObject'
  if (r.method === 'DELETE') return q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject'
  return `unmapped object request ${r.method}`
}

function allowedActions(statements: Statement[]): Set<string> {
  return new Set(statements.filter((s) => s.Effect === 'Allow').flatMap((s) => s.Action))
}

/** Every request falls inside a statement allowing its action, resource and (for listings) prefix condition. */
function assertInsidePolicy(requests: S3RequestRecord[], statements: Statement[], bucket: string): void {
  for (const r of requests) {
    const action = iamAction(r)
    const resource = r.key ? `arn:aws:s3:::${bucket}/${r.key}` : `arn:aws:s3:::${bucket}`
    const listPrefix = new URLSearchParams(r.query).get('prefix') ?? ''
    const ok = statements.some((s) => {
      if (s.Effect !== 'Allow' || !s.Action.includes(action)) return false
      const resources = (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((x) =>
        x.replaceAll('BUCKET', bucket).replaceAll('PREFIX', PREFIX),
      )
      if (!resources.some((x) => glob(x).test(resource))) return false
      const prefixes = s.Condition?.StringLike?.['s3:prefix']
      return !prefixes || prefixes.some((p) => glob(p.replaceAll('PREFIX', PREFIX)).test(listPrefix))
    })
    assert.ok(ok, `${r.method} ${r.key ?? ''}?${r.query} (${action} on ${resource}) is not allowed by the policy`)
  }
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`)
}

let s3: S3TestServer
let broker: DevBroker

before(async () => {
  s3 = await startS3Server()
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
})

after(async () => {
  await broker?.close()
  await s3?.close()
})

test('docs/iam.md: the archiver and reader policies allow exactly the S3 actions the code performs', async () => {
  const policies = documentedPolicies()
  const writer = policies.get('archiver')
  const reader = policies.get('reader')
  assert.ok(writer && reader, 'docs/iam.md must hold the archiver and reader policies')

  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  await producer.connect()
  await broker.createTopic(TOPIC, { partitions: 2 })
  for (let p = 0; p < 2; p++) {
    await producer.send({
      topic: TOPIC,
      messages: Array.from({ length: 120 }, (_, i) => ({ partition: p, value: `${p}:${i}`.repeat(20) })),
    })
  }
  // One segment bigger than a multipart part (5 MiB), incompressible, so the multipart path is exercised too.
  const big = 'big'
  await broker.createTopic(big, { partitions: 1 })
  for (let i = 0; i < 12; i++) {
    await producer.send({
      topic: big,
      messages: Array.from({ length: 5 }, () => ({ value: randomBytes(140 * 1024) })),
    })
  }
  await producer.disconnect()

  // The archiver, with every unconditional PUT as a multipart upload and one upload part failing (aborted, retried).
  const store = new S3Store(
    { bucket: s3.bucket!, prefix: `${PREFIX}/` },
    { ...s3.clientConfig(), multipartThreshold: 1, partSize: 5 * 1024 * 1024, maxAttempts: 1 },
  )
  const start = s3.requests.length
  s3.failNext(1, 500, { method: 'PUT', key: new RegExp(`^${PREFIX}/${big}/data/`) })
  const a = new Archiver(
    {
      brokers: broker.brokers,
      topics: [TOPIC, big],
      store: `s3://${s3.bucket}/${PREFIX}/`,
      group: 'iam',
      once: true,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: 'silent',
      segment: { maxRecords: 40, maxBytes: 64 * 1024 * 1024 },
      retry: { initialMs: 10, maxMs: 50, maxAttempts: 10 },
      kafka: { maxWaitTimeInMs: 50 },
    },
    { store, logStream: new Writable({ write: (_c, _e, done) => done() }), processMetrics: false },
  )
  await a.start()
  await a.done
  const archiverRequests = s3.requests.slice(start)
  const archiverActions = new Set(archiverRequests.map(iamAction))
  assert.ok(
    archiverRequests.some((r) => r.query.includes('uploadId')),
    'no multipart upload was exercised',
  )

  // Readers: topic listing, describe, full and ranged reads, seek by time, verify.
  const readStart = s3.requests.length
  const rs = new S3Store({ bucket: s3.bucket!, prefix: `${PREFIX}/` }, s3.clientConfig())
  assert.deepEqual(await listTopics(rs), [big, TOPIC])
  await describeTopic(rs, TOPIC)
  const archiveReader = new ArchiveReader(rs)
  for (let p = 0; p < 2; p++) {
    let n = 0
    for await (const _ of archiveReader.read({ topic: TOPIC, partition: p })) n++
    assert.equal(n, 120)
    for await (const _ of archiveReader.read({ topic: TOPIC, partition: p, fromOffset: 100n })) n++
    await archiveReader.offsetForTimestamp(TOPIC, p, 0n)
  }
  assert.deepEqual((await verifyArchive(rs)).problems, [])
  await rs.close()
  const readerRequests = s3.requests.slice(readStart)
  const readerActions = new Set(readerRequests.map(iamAction))

  for (const action of [...archiverActions, ...readerActions]) assert.match(action, /^s3:/, action)
  // Exactly: nothing the code does is missing from the policy, and the policy grants nothing the code never does.
  assert.deepEqual([...archiverActions].sort(), [...allowedActions(writer)].sort(), 'archiver policy')
  assert.deepEqual([...readerActions].sort(), [...allowedActions(reader)].sort(), 'reader policy')
  assertInsidePolicy(archiverRequests, writer, s3.bucket!)
  assertInsidePolicy(readerRequests, reader, s3.bucket!)
  await store.close()
})

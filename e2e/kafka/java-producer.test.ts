// Against Apache Kafka only, with Kafka's own Java producer writing and its read_committed Java consumer as the
// reference: what the archiver keeps must be exactly what that consumer reads, offset for offset, byte for byte.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { Archiver } from '@everlog/archiver'
import { ArchiveReader, openStore } from '@everlog/core'
import { javaConsume, javaProduce, kafkaMissing, startKafka } from '@everlog/testkit'
import type { JavaProducerOp, JavaRecord, KafkaBroker } from '@everlog/testkit'
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs

let kafka: KafkaBroker
const dirs: string[] = []

async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] })
  } finally {
    await admin.disconnect()
  }
}

/** Archives `topic` up to its high watermarks (--once) into a new file store; returns the store's URL. */
async function archiveOnce(topic: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'everlog-kafka-archive-'))
  dirs.push(dir)
  const url = pathToFileURL(dir).href
  const a = new Archiver(
    {
      brokers: kafka.brokers,
      topics: [topic],
      store: url,
      group: `g-${topic}`,
      once: true,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: 'silent',
      progressIntervalMs: 0,
      segment: { maxRecords: 40 },
      kafka: { maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 500 },
    },
    { processMetrics: false },
  )
  await a.start()
  await a.done
  return url
}

/** The archive of every partition, in the Java consumer's shape, partition by partition in offset order. */
async function readArchive(url: string, topic: string, partitions: number): Promise<JavaRecord[]> {
  const reader = new ArchiveReader(openStore(url))
  const out: JavaRecord[] = []
  for (let p = 0; p < partitions; p++) {
    if (!(await reader.head(topic, p))) continue
    for await (const r of reader.read({ topic, partition: p })) {
      out.push({
        partition: p,
        offset: Number(r.offset),
        timestamp: Number(r.timestamp),
        key: r.key === null ? null : r.key.toString('base64'),
        value: r.value === null ? null : r.value.toString('base64'),
        headers: r.headers.map(([k, v]) => [k, v === null ? null : v.toString('base64')]),
      })
    }
  }
  return out
}

const byPosition = (a: JavaRecord, b: JavaRecord) => a.partition - b.partition || a.offset - b.offset

/** Records of every shape: null and empty keys and values, repeated and null-valued headers, set timestamps. */
function records(topic: string, partitions: number, from: number, count: number): JavaProducerOp[] {
  return Array.from({ length: count }, (_, j) => {
    const i = from + j
    return {
      op: 'send' as const,
      topic,
      partition: i % partitions,
      key: i % 5 === 0 ? null : i % 5 === 1 ? Buffer.alloc(0) : Buffer.from(`key-${i}`),
      value: i % 7 === 0 ? null : i % 7 === 1 ? Buffer.alloc(0) : Buffer.from(`value-${i}-`.repeat(1 + (i % 9))),
      headers:
        i % 3 === 0
          ? [
              ['trace', Buffer.from(`t-${i}`)],
              ['tag', Buffer.from('a')],
              ['tag', null],
              ['tag', Buffer.from('b')],
            ]
          : [],
      timestamp: 1_700_000_000_000 + i * 10,
    }
  })
}

describe('Apache Kafka Java producer -> archiver', { skip: kafkaMissing() }, () => {
  before(async () => {
    kafka = await startKafka()
  })
  after(async () => {
    await kafka?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  test('committed and aborted transactions interleaved across partitions: the archive is what read_committed reads', async () => {
    const topic = 'java-txn'
    await createTopic(topic, 3)
    const ops: JavaProducerOp[] = []
    let next = 0
    // Ten transactions over three partitions, every third aborted; plus a transaction holding nothing but aborts.
    for (let t = 0; t < 10; t++) {
      ops.push({ op: 'begin' }, ...records(topic, 3, next, 17))
      next += 17
      ops.push({ op: t % 3 === 1 ? 'abort' : 'commit' })
    }
    await javaProduce(kafka.bootstrap, ops, { transactionalId: 'everlog-java-txn', compression: 'lz4' })

    const reference = (await javaConsume(kafka.bootstrap, topic, 'read_committed')).sort(byPosition)
    const uncommitted = await javaConsume(kafka.bootstrap, topic, 'read_uncommitted')
    assert.equal(reference.length, 7 * 17, 'seven committed transactions of 17 records')
    assert.equal(uncommitted.length, 10 * 17, 'read_uncommitted also sees the aborted records')

    const archived = await readArchive(await archiveOnce(topic), topic, 3)
    // Offset for offset: aborted records and the transaction markers' offsets are holes in both.
    assert.deepEqual(archived, reference)
  })

  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    test(`${compression} batches from the Java producer, with headers and null keys and values, archived byte for byte`, async () => {
      const topic = `java-${compression}`
      await createTopic(topic, 2)
      await javaProduce(
        kafka.bootstrap,
        [...records(topic, 2, 0, 300), { op: 'flush' }, ...records(topic, 2, 300, 5)],
        {
          compression,
        },
      )
      const reference = (await javaConsume(kafka.bootstrap, topic, 'read_committed')).sort(byPosition)
      assert.equal(reference.length, 305)
      assert.deepEqual(await readArchive(await archiveOnce(topic), topic, 2), reference)
    })
  }
})

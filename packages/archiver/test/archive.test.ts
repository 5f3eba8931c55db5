import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { ArchiveReader, TopicRecreatedError, openStore, readTopicMeta, registerKafkaCodecs } from '@everlog/core'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import kafkajs from 'kafkajs'
import type { Message } from 'kafkajs'
import { Archiver } from '../src/archiver.js'
import type { ArchiverConfigInput } from '../src/config.js'
import { admin, broker, fileStoreUrl, kafka, producer, useBroker } from './support.js'
import { devBrokerOnly, onlyWithRealKafka } from '@everlog/testkit'

const { CompressionCodecs, CompressionTypes } = kafkajs
registerKafkaCodecs(CompressionCodecs)

useBroker({ producer: { allowAutoTopicCreation: false } })

function archiver(store: string, topics: ArchiverConfigInput['topics'], extra: Partial<ArchiverConfigInput> = {}) {
  return new Archiver(
    {
      brokers: broker.brokers,
      topics,
      store,
      group: `g-${Math.random().toString(36).slice(2)}`,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: (process.env.EVERLOG_TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent',
      progressIntervalMs: 0,
      retry: { initialMs: 20, maxMs: 200, maxAttempts: 10 },
      kafka: { maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 500 },
      ...extra,
    },
    { processMetrics: false },
  )
}

async function archiveOnce(
  store: string,
  topics: ArchiverConfigInput['topics'],
  extra: Partial<ArchiverConfigInput> = {},
) {
  const a = archiver(store, topics, { once: true, ...extra })
  await a.start()
  await a.done
  return a
}

async function readPartition(store: ObjectStore, topic: string, partition: number): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = []
  for await (const r of new ArchiveReader(store).read({ topic, partition })) out.push(r)
  return out
}

/** What a plain read_committed kafkajs consumer sees, as archive records (the reference the archive must equal). */
async function consumeFromKafka(topic: string, partition: number, count: number): Promise<ArchiveRecord[]> {
  const consumer = kafka.consumer({ groupId: `ref-${Math.random()}`, maxWaitTimeInMs: 100 })
  const out: ArchiveRecord[] = []
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let resolve!: () => void
  const done = new Promise<void>((r) => (resolve = r))
  await consumer.run({
    eachMessage: async ({ partition: p, message }) => {
      if (p !== partition) return
      const headers: [string, Buffer | null][] = []
      for (const [k, v] of Object.entries(message.headers ?? {})) {
        for (const item of Array.isArray(v) ? v : [v]) headers.push([k, item === undefined ? null : Buffer.from(item)])
      }
      out.push({
        offset: BigInt(message.offset),
        timestamp: BigInt(message.timestamp),
        key: message.key,
        value: message.value,
        headers,
      })
      if (out.length === count) resolve()
    },
  })
  await Promise.race([
    done,
    new Promise((_, rej) => setTimeout(() => rej(new Error('reference consumer timed out')), 20_000)),
  ])
  await consumer.disconnect()
  return out
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const T0 = 1_700_000_000_000

/** Records with every shape the format must keep: null and empty keys/values, repeated headers, set timestamps. */
function messages(partition: number, from: number, count: number): Message[] {
  return Array.from({ length: count }, (_, j) => {
    const i = from + j
    const m: Message = {
      partition,
      key: i % 5 === 0 ? null : i % 5 === 1 ? Buffer.alloc(0) : Buffer.from(`key-${partition}-${i}`),
      value:
        i % 7 === 0
          ? null
          : i % 7 === 1
            ? Buffer.alloc(0)
            : Buffer.from(`value-${partition}-${i}-`.repeat(1 + (i % 4))),
      timestamp: String(T0 + i * 1000),
    }
    if (i % 3 === 0) m.headers = { trace: `t-${i}`, tag: [Buffer.from('a'), Buffer.from('b')] }
    return m
  })
}

function expected(partition: number, from: number, count: number, firstOffset = from): ArchiveRecord[] {
  return messages(partition, from, count).map((m, j) => {
    const headers: [string, Buffer | null][] = []
    for (const [k, v] of Object.entries(m.headers ?? {})) {
      for (const item of Array.isArray(v) ? v : [v]) headers.push([k, Buffer.from(item as string | Buffer)])
    }
    return {
      offset: BigInt(firstOffset + j),
      timestamp: BigInt(m.timestamp!),
      key: m.key === null || m.key === undefined ? null : Buffer.from(m.key),
      value: m.value === null ? null : Buffer.from(m.value as Buffer),
      headers,
    }
  })
}

describe('archiver against the dev broker (file store)', () => {
  test('several topics and partitions: the archive returns exactly the produced records, encoded inline or in a worker', async () => {
    await admin.createTopics({
      topics: [
        { topic: 'orders', numPartitions: 3 },
        { topic: 'payments', numPartitions: 2 },
      ],
    })
    for (let round = 0; round < 4; round++) {
      for (const [topic, partitions] of [
        ['orders', 3],
        ['payments', 2],
      ] as const) {
        for (let p = 0; p < partitions; p++) {
          await producer.send({ topic, messages: messages(p, round * 50, 50) })
        }
      }
    }
    // The default depends on the machine's CPUs: both ways are archived here, and must give the same segments.
    const segmentKeys: string[][] = []
    for (const encodeWorkers of [0, 1]) {
      const url = fileStoreUrl()
      await archiveOnce(url, ['orders', 'payments'], { segment: { maxRecords: 60 }, encodeWorkers })
      const store = openStore(url)
      for (const [topic, partitions] of [
        ['orders', 3],
        ['payments', 2],
      ] as const) {
        for (let p = 0; p < partitions; p++) {
          assert.deepEqual(await readPartition(store, topic, p), expected(p, 0, 200), `${topic}/${p}`)
        }
        const meta = await readTopicMeta(store, topic)
        assert.equal(meta?.partitions, partitions)
        assert.equal(meta?.cleanupPolicy, 'delete')
      }
      const head = await new ArchiveReader(store).head('orders', 0)
      assert.equal(head?.nextOffset, 200n)
      assert.ok(head!.segments >= 4, `segments roll at 60 records: ${head?.segments}`)
      const keys: string[] = []
      for await (const o of store.list('orders/')) if (o.key.endsWith('.parquet')) keys.push(o.key)
      segmentKeys.push(keys.sort())
    }
    assert.ok(segmentKeys[0]!.length >= 4)
    assert.deepEqual(segmentKeys[1], segmentKeys[0], 'content-addressed segments: the same bytes either way')
  })

  test('batches compressed with gzip, snappy, lz4 and zstd are archived record for record', async () => {
    await admin.createTopics({ topics: [{ topic: 'codecs', numPartitions: 1 }] })
    const codecs = [CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD]
    for (const [i, compression] of codecs.entries()) {
      await producer.send({ topic: 'codecs', compression, messages: messages(0, i * 40, 40) })
    }
    const url = fileStoreUrl()
    await archiveOnce(url, ['codecs'])
    assert.deepEqual(await readPartition(openStore(url), 'codecs', 0), expected(0, 0, 160))
  })

  test(
    'incompressible records far beyond the memory budget: each release frees the next row group or segment',
    { timeout: 60_000 },
    async () => {
      // Encoding frees almost nothing of random bytes stored uncompressed, so memory is only freed by uploads. Waiting a
      // heartbeat interval (here 20 s) after each freed row group would take minutes; the test's timeout bounds that.
      const topic = 'budget-incompressible'
      await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
      const sent: Message[] = Array.from({ length: 3000 }, (_, i) => ({
        partition: i % 4,
        key: `k${i}`,
        value: randomBytes(4096),
      }))
      for (let i = 0; i < sent.length; i += 500) await producer.send({ topic, messages: sent.slice(i, i + 500) })
      const store = fileStoreUrl()
      const a = await archiveOnce(store, [topic], {
        maxBufferedBytes: 2 * 1024 * 1024,
        segment: { compression: 'none', rowGroupBytes: 256 * 1024 },
        kafka: {
          maxWaitTimeInMs: 100,
          sessionTimeout: 60_000,
          heartbeatInterval: 20_000,
          maxBytesPerPartition: 256 * 1024,
        },
      })
      const s = openStore(store)
      let archived = 0
      for (let p = 0; p < 4; p++) {
        const got = await readPartition(s, topic, p)
        assert.deepEqual(
          got.map((r) => r.value),
          sent.filter((m) => m.partition === p).map((m) => m.value),
        )
        archived += got.length
      }
      assert.equal(archived, sent.length)
      const metrics = await a.metrics.registry.metrics()
      assert.match(metrics, /everlog_archiver_segments_total\{topic="budget-incompressible",reason="size"\} [1-9]/)
      await s.close()
    },
  )

  test('transactions: committed records are archived, aborted records and control records are not', async () => {
    await admin.createTopics({ topics: [{ topic: 'txn', numPartitions: 1 }] })
    const tx = kafka.producer({ transactionalId: 'archiver-test-tx', maxInFlightRequests: 1, idempotent: true })
    await tx.connect()
    const values: string[] = []
    for (let i = 0; i < 6; i++) {
      const t = await tx.transaction()
      const batch = Array.from({ length: 5 }, (_, j) => ({ partition: 0, value: `txn-${i}-${j}` }))
      await t.send({ topic: 'txn', messages: batch })
      if (i % 2 === 1) await t.abort()
      else {
        await t.commit()
        values.push(...batch.map((m) => m.value))
      }
    }
    await tx.disconnect()
    const url = fileStoreUrl()
    await archiveOnce(url, ['txn'])
    const archived = await readPartition(openStore(url), 'txn', 0)
    assert.deepEqual(
      archived.map((r) => r.value?.toString()),
      values,
    )
    assert.deepEqual(archived, await consumeFromKafka('txn', 0, values.length))
  })

  test(
    'a compacted topic: the archive equals what Kafka serves, and compaction holes are not gaps',
    { skip: devBrokerOnly('compaction on demand (Apache Kafka compacts with its log cleaner: kafka-only tests)') },
    async () => {
      await broker.createTopic('compacted', { partitions: 1, configs: { 'cleanup.policy': 'compact' } })
      for (let round = 0; round < 5; round++) {
        await producer.send({
          topic: 'compacted',
          messages: Array.from({ length: 20 }, (_, k) => ({ partition: 0, key: `k${k % 8}`, value: `r${round}-${k}` })),
        })
      }
      const removed = await broker.dev!.compact('compacted')
      assert.ok(removed > 0, 'the broker compacted something')
      const url = fileStoreUrl()
      await archiveOnce(url, ['compacted'])
      const store = openStore(url)
      const archived = await readPartition(store, 'compacted', 0)
      assert.ok(archived.length < 100)
      assert.deepEqual(archived, await consumeFromKafka('compacted', 0, archived.length))
      const head = await new ArchiveReader(store).head('compacted', 0)
      assert.equal(head?.gaps, 0)
      assert.equal((await readTopicMeta(store, 'compacted'))?.cleanupPolicy, 'compact')
    },
  )

  test(
    'topics deleted (and one created again) while the archiver runs: the archive keeps the old topic, nothing of the new one mixes in, other topics go on',
    { skip: onlyWithRealKafka('topic IDs (Metadata v10+, Kafka 2.8+), which the dev broker does not have') },
    async () => {
      const url = fileStoreUrl()
      const store = openStore(url)
      await broker.createTopic('reborn')
      await broker.createTopic('steady')
      await broker.createTopic('doomed')
      // A producer of its own: kafkajs clients keep asking Kafka's metadata for every topic they wrote to, and fail
      // once one is deleted; the file's shared producer must never meet these topics.
      const own = kafka.producer({ allowAutoTopicCreation: false })
      await own.connect()
      await own.send({ topic: 'reborn', messages: messages(0, 0, 30) })
      await own.send({ topic: 'steady', messages: messages(0, 0, 10) })
      await own.send({ topic: 'doomed', messages: messages(0, 0, 20) })
      await own.disconnect()
      const head = async (topic: string) => (await new ArchiveReader(store).head(topic, 0))?.nextOffset
      const a = archiver(url, ['reborn', 'steady', 'doomed'], { topicRefreshMs: 500, segment: { maxAgeMs: 300 } })
      await a.start()
      let archivedId: string | undefined
      try {
        await waitFor(
          'every topic archived',
          async () =>
            (await head('reborn')) === 30n && (await head('steady')) === 10n && (await head('doomed')) === 20n,
        )
        archivedId = (await readTopicMeta(store, 'reborn'))?.topicId
        assert.ok(archivedId, 'topic.json records the topic ID')
        await admin.deleteTopics({ topics: ['reborn'] })
        await waitFor('reborn deleted', async () => !(await admin.listTopics()).includes('reborn'))
        await broker.createTopic('reborn')
        // More records than the archive holds: a fetch at the archive's position (30) would succeed.
        const renewed = kafka.producer({ allowAutoTopicCreation: false })
        await renewed.connect()
        await renewed.send({ topic: 'reborn', messages: messages(0, 100, 50) })
        await renewed.disconnect()
        const metric = async (name: string) =>
          (await a.metrics.registry.getSingleMetricAsString(name.replace(/\{.*/, '')))
            .split('\n')
            .find((l) => l.startsWith(name))
        await waitFor(
          'the recreated topic noticed',
          async () => (await metric('everlog_archiver_recreated_topics')) === 'everlog_archiver_recreated_topics 1',
          60_000,
        )
        assert.equal(
          await metric('everlog_archiver_errors_total{kind="topic_recreated"}'),
          'everlog_archiver_errors_total{kind="topic_recreated"} 1',
        )
        // A topic deleted for good: the archiver lets it go (its archive stays) and archives the others on.
        await admin.deleteTopics({ topics: ['doomed'] })
        await waitFor(
          'doomed no longer assigned',
          async () =>
            (await metric('everlog_archiver_assigned_partitions')) === 'everlog_archiver_assigned_partitions 2',
        )
        await producer.send({ topic: 'steady', messages: messages(0, 10, 5) })
        await waitFor('steady archived on', async () => (await head('steady')) === 15n)
        assert.deepEqual(await readPartition(store, 'doomed', 0), expected(0, 0, 20))
        assert.deepEqual(await readPartition(store, 'reborn', 0), expected(0, 0, 30))
        assert.equal(a.status, 'running')
      } finally {
        await a.stop()
      }
      // A later run over the same archive refuses the new topic at once, with the typed error; --once exits with it.
      const b = archiver(url, ['reborn'], { once: true })
      await b.start()
      await assert.rejects(b.done, (err: unknown) => {
        assert.ok(err instanceof TopicRecreatedError)
        assert.equal(err.code, 'TOPIC_RECREATED')
        assert.equal(err.archivedTopicId, archivedId)
        assert.match(err.message, /deleted and created again.*another store/)
        return true
      })
      assert.deepEqual(await readPartition(store, 'reborn', 0), expected(0, 0, 30))
      assert.equal((await readTopicMeta(store, 'reborn'))?.topicId, archivedId)
    },
  )

  test('stopped mid-stream and restarted (also with the group offset behind HEAD): no record lost or duplicated', async () => {
    await admin.createTopics({ topics: [{ topic: 'resume', numPartitions: 2 }] })
    const url = fileStoreUrl()
    const store = openStore(url)
    const group = 'resume-group'
    for (const p of [0, 1]) await producer.send({ topic: 'resume', messages: messages(p, 0, 150) })
    const first = archiver(url, ['resume'], { group, segment: { maxRecords: 40 } })
    await first.start()
    await waitFor(
      'some segments',
      async () => ((await new ArchiveReader(store).head('resume', 0))?.nextOffset ?? 0n) >= 80n,
    )
    for (const p of [0, 1]) await producer.send({ topic: 'resume', messages: messages(p, 150, 50) })
    await first.stop()
    // As if the process died after HEAD moved but before the Kafka commit: the group offset is far behind HEAD.
    await admin.setOffsets({ groupId: group, topic: 'resume', partitions: [{ partition: 0, offset: '3' }] })
    for (const p of [0, 1]) await producer.send({ topic: 'resume', messages: messages(p, 200, 100) })
    await archiveOnce(url, ['resume'], { group, segment: { maxRecords: 40 } })
    for (const p of [0, 1]) assert.deepEqual(await readPartition(store, 'resume', p), expected(p, 0, 300))
    const offsets = await admin.fetchOffsets({ groupId: group, topics: ['resume'] })
    assert.deepEqual(
      offsets[0]!.partitions.map((x) => [x.partition, x.offset]).sort(),
      [
        [0, '300'],
        [1, '300'],
      ],
      'the group offset follows HEAD',
    )
  })

  test('a running archiver picks up new topics matching its pattern, rolls quiet partitions by age, and serves /metrics, /healthz, /readyz', async () => {
    const url = fileStoreUrl()
    const store = openStore(url)
    // Records are stamped in 2023: a retention far longer than their age keeps them, and the headroom positive.
    await broker.createTopic('live.a', { configs: { 'retention.ms': String(20 * 365 * 86_400_000) } })
    await producer.send({ topic: 'live.a', messages: messages(0, 0, 10) })
    const a = archiver(url, '/^live\\./', { topicRefreshMs: 200, segment: { maxAgeMs: 300 } })
    await a.start()
    try {
      const base = `http://127.0.0.1:${a.httpPort}`
      // Each answer read to its end, and a stalled one fails the test naming the path instead of hanging it.
      const get = async (path: string) => {
        const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) })
        return { status: res.status, text: await res.text() }
      }
      assert.equal((await get('/healthz')).status, 200)
      await waitFor(
        'live.a archived by age',
        async () => (await new ArchiveReader(store).head('live.a', 0))?.nextOffset === 10n,
      )
      await admin.createTopics({ topics: [{ topic: 'live.b', numPartitions: 2 }] })
      for (const p of [0, 1]) await producer.send({ topic: 'live.b', messages: messages(p, 0, 25) })
      await waitFor('live.b archived', async () => {
        const r = new ArchiveReader(store)
        return (await r.head('live.b', 0))?.nextOffset === 25n && (await r.head('live.b', 1))?.nextOffset === 25n
      })
      await producer.send({ topic: 'live.a', messages: messages(0, 10, 5) })
      await waitFor(
        'live.a tail archived',
        async () => (await new ArchiveReader(store).head('live.a', 0))?.nextOffset === 15n,
      )
      assert.deepEqual(await readPartition(store, 'live.a', 0), expected(0, 0, 15))
      assert.deepEqual(await readPartition(store, 'live.b', 1), expected(1, 0, 25))
      await waitFor('ready', async () => (await get('/readyz')).status === 200)
      const metrics = (await get('/metrics')).text
      const value = (line: string) =>
        Number(
          metrics
            .split('\n')
            .find((l) => l.startsWith(line))
            ?.split(' ')
            .at(-1),
        )
      assert.equal(value('everlog_archiver_records_total{topic="live.a"}'), 15)
      assert.equal(value('everlog_archiver_records_total{topic="live.b"}'), 50)
      assert.ok(value('everlog_archiver_segments_total{topic="live.a",reason="age"}') >= 2)
      assert.equal(value('everlog_archiver_lag_records{topic="live.b",partition="1"}'), 0)
      assert.equal(value('everlog_archiver_freshness_seconds{topic="live.a",partition="0"}'), 0)
      assert.ok(value('everlog_archiver_retention_headroom_seconds{topic="live.a",partition="0"}') > 0)
      assert.match(metrics, /everlog_archiver_upload_seconds_count\{topic="live.b"\} [1-9]/)
      assert.equal(value('everlog_archiver_fenced_partitions'), 0)
      assert.equal((await get('/nope')).status, 404)
    } finally {
      await a.stop()
    }
    assert.equal(a.status, 'stopped')
  })
})

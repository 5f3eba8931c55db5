// The archiver publishing Iceberg tables beside archiving (off the commit path): after N segments, on a timer and
// at stop, and a failed publish that the next one catches up.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  PartitionWriter,
  PreconditionFailedError,
  currentSnapshot,
  openStore,
  readHead,
  readIcebergTable,
  snapshotSegments,
  type ObjectStore,
} from '@everlog/core'
import { Archiver } from '../src/archiver.js'
import { createLogger } from '../src/logger.js'
import { ArchiverMetrics } from '../src/metrics.js'
import { IcebergPublisher } from '../src/iceberg-publisher.js'
import { admin, broker, fileStore, fileStoreUrl, producer, useBroker } from './support.js'

useBroker()

async function publishedRecords(store: ObjectStore, topic: string): Promise<{ records: number; segments: number }> {
  const table = await readIcebergTable(store, topic)
  if (!table) return { records: 0, segments: 0 }
  const segments = await snapshotSegments(store, currentSnapshot(table.metadata)!)
  return { records: segments.reduce((n, s) => n + s.records, 0), segments: segments.length }
}

describe('iceberg publishing in the archiver', () => {
  test('a --once run publishes every committed segment of its topics, and the snapshot equals the HEADs', async () => {
    await admin.createTopics({ topics: [{ topic: 'ice', numPartitions: 2 }] })
    for (let p = 0; p < 2; p++) {
      await producer.send({
        topic: 'ice',
        messages: Array.from({ length: 120 }, (_, i) => ({ partition: p, key: `k${i}`, value: `v${i}` })),
      })
    }
    const url = fileStoreUrl()
    const a = new Archiver(
      {
        brokers: broker.brokers,
        topics: ['ice'],
        store: url,
        once: true,
        group: `g-${Math.random().toString(36).slice(2)}`,
        http: { port: 0, host: '127.0.0.1' },
        logLevel: 'silent',
        progressIntervalMs: 0,
        segment: { maxRecords: 40 },
        kafka: { maxWaitTimeInMs: 100 },
        iceberg: { publish: true, everySegments: 2, intervalMs: 60_000 },
      },
      { processMetrics: false },
    )
    await a.start()
    await a.done
    const store = openStore(url)
    const heads = await Promise.all([0, 1].map(async (p) => (await readHead(store, 'ice', p))!.head))
    assert.deepEqual(await publishedRecords(store, 'ice'), {
      records: heads.reduce((n, h) => n + h.records, 0),
      segments: heads.reduce((n, h) => n + h.segments, 0),
    })
    assert.equal(
      heads.reduce((n, h) => n + h.records, 0),
      240,
    )
    const metrics = await a.metrics.registry.getSingleMetricAsString('everlog_archiver_iceberg_publishes_total')
    assert.match(metrics, /result="published"/)
    assert.doesNotMatch(metrics, /result="error"/)
    await store.close()
  })

  test('a publish that fails leaves the topic dirty; the next one publishes it', async () => {
    const store = fileStore()
    const writer = await PartitionWriter.open(store, { topic: 'later', partition: 0, writer: 't' })
    await writer.appendSegment([{ offset: 0n, timestamp: 1n, key: null, value: Buffer.from('a'), headers: [] }])
    let failing = true
    const flaky: ObjectStore = Object.create(store, {
      putIfAbsent: {
        value: async (key: string, body: Uint8Array) => {
          if (failing) throw new PreconditionFailedError(key, 'simulated: the store refused the commit')
          return store.putIfAbsent(key, body)
        },
      },
    }) as ObjectStore
    const metrics = new ArchiverMetrics()
    const publisher = new IcebergPublisher(
      flaky,
      { publish: true, intervalMs: 60_000, everySegments: 1, expireAfterMs: 0, retainSnapshots: 1 },
      createLogger('silent'),
      metrics,
    )
    publisher.segmentCommitted('later')
    await publisher.publish()
    assert.equal(await readIcebergTable(store, 'later'), undefined)
    assert.match(await metrics.registry.getSingleMetricAsString('everlog_archiver_iceberg_publishes_total'), /error/)
    failing = false
    await publisher.stop()
    assert.deepEqual(await publishedRecords(store, 'later'), { records: 1, segments: 1 })
  })
})

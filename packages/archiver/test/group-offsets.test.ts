// The archiver archives chosen consumer groups' committed offsets (groupOffsets.groups / --backup-groups), so
// `everlog restore-groups` can move the groups along with a restored topic.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { test } from 'node:test'
import { openStore, readGroupSnapshot } from '@everlog/core'
import { startTestBroker } from '@everlog/testkit'
import kafkajs from 'kafkajs'
import { Archiver } from '../src/index.js'

const { Kafka, logLevel } = kafkajs

test('committed offsets of the configured groups are archived, stamped with when they were taken', async (t) => {
  const broker = await startTestBroker()
  t.after(() => broker.close())
  const dir = mkdtempSync(join(tmpdir(), 'everlog-group-offsets-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })

  await broker.createTopic('payments', { partitions: 2 })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic: 'payments',
    messages: Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `p-${i}` })),
  })
  await producer.disconnect()
  const admin = kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())
  await admin.setOffsets({
    groupId: 'billing',
    topic: 'payments',
    partitions: [
      { partition: 0, offset: '7' },
      { partition: 1, offset: '3' },
    ],
  })

  const before = Date.now()
  const archiver = new Archiver(
    {
      brokers: broker.brokers,
      topics: ['payments'],
      store: pathToFileURL(dir).href,
      once: true,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: 'silent',
      groupOffsets: { groups: ['billing', 'nobody-committed'] },
    },
    { processMetrics: false },
  )
  await archiver.start()
  await archiver.done

  const store = openStore(pathToFileURL(dir).href)
  t.after(() => store.close())
  const snapshot = await readGroupSnapshot(store, 'payments', 'billing')
  assert.ok(snapshot, 'a snapshot of billing exists')
  assert.deepEqual(
    snapshot.partitions.map((p) => [p.partition, p.offset]),
    [
      [0, 7n],
      [1, 3n],
    ],
  )
  assert.ok(snapshot.takenAt >= before && snapshot.takenAt <= Date.now())
  assert.equal(await readGroupSnapshot(store, 'payments', 'nobody-committed'), undefined)
  const metrics = await archiver.metrics.registry.metrics()
  assert.match(metrics, /everlog_archiver_group_snapshots_total [1-9]/)
})

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ArchiveReader, openStore, verifyArchive } from '@everlog/core'
import { Archiver } from '../src/archiver.js'
import type { ArchiverConfigInput } from '../src/config.js'
import { admin, broker, fileStoreUrl, producer, useBroker } from './support.js'

useBroker()

function archiver(store: string, topic: string, group: string, extra: Partial<ArchiverConfigInput> = {}) {
  return new Archiver(
    {
      brokers: broker.brokers,
      topics: [topic],
      store,
      group,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: 'silent',
      progressIntervalMs: 0,
      segment: { maxRecords: 10, maxAgeMs: 200 },
      retry: { initialMs: 20, maxMs: 200, maxAttempts: 10 },
      kafka: { maxWaitTimeInMs: 50, sessionTimeout: 6000, heartbeatInterval: 300 },
      ...extra,
    },
    { processMetrics: false },
  )
}

async function gauge(a: Archiver, name: 'assignedPartitions' | 'fencedPartitions'): Promise<number> {
  return (await a.metrics[name].get()).values[0]?.value ?? 0
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Produces `count` records to each partition, values p<partition>-<n> with n counting on from `from`. */
async function produce(topic: string, partitions: number, from: number, count: number): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    await producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({ partition: p, value: `p${p}-${from + i}` })),
    })
  }
}

async function values(store: string, topic: string, partition: number): Promise<string[]> {
  const out: string[] = []
  for await (const r of new ArchiveReader(openStore(store)).read({ topic, partition })) out.push(r.value!.toString())
  return out
}

const expected = (p: number, count: number) => Array.from({ length: count }, (_, i) => `p${p}-${i}`)

describe('several archivers', () => {
  test('two archivers in one group split the partitions, and the survivor takes over when one leaves', async () => {
    const topic = 'shared'
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
    const url = fileStoreUrl('everlog-group-')
    const a = archiver(url, topic, 'split')
    const b = archiver(url, topic, 'split')
    await a.start()
    await b.start()
    try {
      await waitFor(
        'a split assignment',
        async () => (await gauge(a, 'assignedPartitions')) === 2 && (await gauge(b, 'assignedPartitions')) === 2,
      )
      await produce(topic, 4, 0, 30)
      await waitFor('first round archived', async () => {
        for (let p = 0; p < 4; p++)
          if ((await new ArchiveReader(openStore(url)).head(topic, p))?.nextOffset !== 30n) return false
        return true
      })
      const recordsA = (await a.metrics.recordsArchived.get()).values.reduce((n, v) => n + v.value, 0)
      const recordsB = (await b.metrics.recordsArchived.get()).values.reduce((n, v) => n + v.value, 0)
      assert.deepEqual([recordsA, recordsB], [60, 60], 'each archiver archived its two partitions')

      await b.stop()
      await waitFor('the survivor owns every partition', async () => (await gauge(a, 'assignedPartitions')) === 4)
      await produce(topic, 4, 30, 25)
      await waitFor('second round archived', async () => {
        for (let p = 0; p < 4; p++)
          if ((await new ArchiveReader(openStore(url)).head(topic, p))?.nextOffset !== 55n) return false
        return true
      })
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
    for (let p = 0; p < 4; p++) assert.deepEqual(await values(url, topic, p), expected(p, 55), `partition ${p}`)
    assert.equal(await gauge(a, 'fencedPartitions'), 0)
  })

  test('two archivers writing the same partition (different groups): one is fenced, HEAD and the archive stay intact', async () => {
    const topic = 'contested'
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await produce(topic, 1, 0, 100)
    const url = fileStoreUrl('everlog-group-')
    // Distinct writer identities, as two processes have (identical writers would write identical HEADs).
    const a = archiver(url, topic, 'group-one', { writer: 'archiver-one' })
    const b = archiver(url, topic, 'group-two', { writer: 'archiver-two' })
    // A fenced archiver that Kafka still assigns the partition re-reads HEAD and resumes (the gauge drops back within
    // moments), so the lasting evidence of a fence is the counter.
    const fences = async (x: Archiver) =>
      (await x.metrics.errors.get()).values.find((v) => v.labels.kind === 'fenced')?.value ?? 0
    await Promise.all([a.start(), b.start()])
    try {
      await waitFor('one archiver fenced', async () => (await fences(a)) + (await fences(b)) >= 1)
      // The archiver that still owns the partition keeps archiving new records.
      await produce(topic, 1, 100, 40)
      await waitFor(
        'all archived',
        async () => (await new ArchiveReader(openStore(url)).head(topic, 0))?.nextOffset === 140n,
      )
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
    // At least one fence happened, and the archive has one lineage.
    assert.ok((await fences(a)) + (await fences(b)) >= 1, 'a fence was counted')
    assert.deepEqual(await values(url, topic, 0), expected(0, 140))
    const verified = await verifyArchive(openStore(url))
    assert.deepEqual(verified.problems, [])
    assert.equal(verified.checked.records, 140)
  })
})

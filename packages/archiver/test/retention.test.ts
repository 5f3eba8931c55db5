import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ArchiveReader, DataLossError, openStore } from '@everlog/core'
import type { GapEntry } from '@everlog/core'
import { Archiver } from '../src/archiver.js'
import type { ArchiverConfigInput } from '../src/config.js'
import { broker, fileStoreUrl, producer, useBroker } from './support.js'
import { devBrokerOnly } from '@everlog/testkit'

useBroker()

async function produce(topic: string, from: number, count: number): Promise<void> {
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value: `v${from + i}` })) })
}

function archiver(store: string, topic: string, logs: string[], extra: Partial<ArchiverConfigInput> = {}) {
  return new Archiver(
    {
      brokers: broker.brokers,
      topics: [topic],
      store,
      group: `g-${topic}-${Math.random().toString(36).slice(2)}`,
      http: { port: 0, host: '127.0.0.1' },
      logLevel: 'info',
      progressIntervalMs: 0,
      retry: { initialMs: 20, maxMs: 200, maxAttempts: 5 },
      kafka: { maxWaitTimeInMs: 50, sessionTimeout: 10_000, heartbeatInterval: 500 },
      ...extra,
    },
    { processMetrics: false, logStream: { write: (s: string) => void logs.push(s) } },
  )
}

async function read(store: string, topic: string) {
  const values: string[] = []
  const gaps: GapEntry[] = []
  const reader = new ArchiveReader(openStore(store))
  for await (const r of reader.read({ topic, partition: 0, onGap: 'skip', onGapSkipped: (g) => gaps.push(g) })) {
    values.push(r.value!.toString())
  }
  return { values, gaps }
}

async function metric(a: Archiver, name: string): Promise<number | undefined> {
  const text = await a.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(name))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `v${from + i}`)

function overrunLog(logs: string[]): Record<string, unknown> | undefined {
  return logs
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => String(l.msg).startsWith('retention overrun'))
}

describe('retention overrun', () => {
  test('offsets deleted by Kafka before they were archived become a gap entry, an error log and a metric', async () => {
    const topic = 'overrun-restart'
    const url = fileStoreUrl('everlog-retention-')
    await produce(topic, 0, 50)
    await (async () => {
      const a = archiver(url, topic, [], { once: true })
      await a.start()
      await a.done
    })()
    await produce(topic, 50, 100)
    await broker.deleteRecords(topic, 0, 120)

    const logs: string[] = []
    const a = archiver(url, topic, logs, { once: true })
    await a.start()
    await a.done
    const { values, gaps } = await read(url, topic)
    assert.deepEqual(values, [...range(0, 50), ...range(120, 150)])
    assert.deepEqual(
      gaps.map((g) => [g.firstOffset, g.lastOffset, g.reason]),
      [[50n, 119n, 'retention']],
    )
    const line = overrunLog(logs)
    assert.ok(line, 'an error log line')
    assert.equal(line.level, 50)
    assert.equal(line.topic, topic)
    assert.equal(line.partition, 0)
    assert.equal(line.firstOffset, '50')
    assert.equal(line.lastOffset, '119')
    assert.equal(await metric(a, `everlog_archiver_data_loss_offsets_total{topic="${topic}",partition="0"}`), 70)
    assert.equal(await metric(a, `everlog_archiver_gaps_total{topic="${topic}"}`), 1)
    assert.equal(await metric(a, 'everlog_archiver_errors_total{kind="data_loss"}'), 1)
  })

  test(
    'Kafka deleting records while the archiver reads them (Fetch answers OFFSET_OUT_OF_RANGE) is detected as a gap',
    { skip: devBrokerOnly('slowed-down fetches to delete records mid-read') },
    async () => {
      const topic = 'overrun-live'
      const url = fileStoreUrl('everlog-retention-')
      // Many small record batches: a fetch returns at least one whole batch, whatever its byte limit.
      for (let i = 0; i < 300; i += 10) await produce(topic, i, 10)
      // Slow, small fetches so the archiver is still in the middle of the log when retention strikes.
      let fetches = 0
      const release = broker.dev!.control(1, () => {
        fetches++
        return { delayMs: 60, keep: true }
      })
      const logs: string[] = []
      const a = archiver(url, topic, logs, {
        kafka: { maxBytesPerPartition: 1, maxWaitTimeInMs: 50 },
        segment: { maxRecords: 20, maxAgeMs: 200 },
      })
      await a.start()
      try {
        const deadline = Date.now() + 20_000
        while (fetches < 4) {
          if (Date.now() > deadline) throw new Error('the archiver never fetched')
          await new Promise((r) => setTimeout(r, 20))
        }
        await broker.deleteRecords(topic, 0, 250)
        release()
        const until = Date.now() + 20_000
        for (;;) {
          const head = await new ArchiveReader(openStore(url)).head(topic, 0)
          if (head === undefined || head.nextOffset < 300n) {
            if (Date.now() > until) throw new Error(`not archived to the end: ${head?.nextOffset}`)
            await new Promise((r) => setTimeout(r, 50))
            continue
          }
          break
        }
      } finally {
        await a.stop()
      }
      const { values, gaps } = await read(url, topic)
      assert.equal(gaps.length, 1)
      const gap = gaps[0]!
      assert.equal(gap.lastOffset, 249n)
      assert.equal(gap.reason, 'retention')
      const first = Number(gap.firstOffset)
      assert.ok(first > 0 && first < 250, `the gap starts where archiving stopped: ${first}`)
      // Everything before the gap and everything after it, each exactly once.
      assert.deepEqual(values, [...range(0, first), ...range(250, 300)])
      assert.equal(
        await metric(a, `everlog_archiver_data_loss_offsets_total{topic="${topic}",partition="0"}`),
        250 - first,
      )
      assert.ok(overrunLog(logs))
    },
  )

  test('onDataLoss fail: the archiver stops with DataLossError and writes no gap', async () => {
    const topic = 'overrun-fail'
    const url = fileStoreUrl('everlog-retention-')
    await produce(topic, 0, 20)
    await (async () => {
      const a = archiver(url, topic, [], { once: true })
      await a.start()
      await a.done
    })()
    await produce(topic, 20, 20)
    await broker.deleteRecords(topic, 0, 30)
    const logs: string[] = []
    const a = archiver(url, topic, logs, { once: true, onDataLoss: 'fail' })
    await a.start().catch(() => {})
    await assert.rejects(a.done, (err: unknown) => err instanceof DataLossError && err.firstOffset === 20n)
    assert.equal(a.status, 'failed')
    assert.match(String(overrunLog(logs)?.msg), /stopping \(onDataLoss: fail\)/)
    const head = await new ArchiveReader(openStore(url)).head(topic, 0)
    assert.equal(head?.nextOffset, 20n)
    assert.equal(head?.gaps, 0)
  })
})

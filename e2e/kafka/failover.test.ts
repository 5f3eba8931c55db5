// Against a 3-node Apache Kafka cluster only (KRaft, replication factor 3, min.insync.replicas 2): kill -9 of the
// broker leading a partition while the archiver archives it and a producer keeps writing. Nothing acknowledged may be
// lost, and nothing archived twice.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { Archiver } from '@everlog/archiver'
import { ArchiveReader, openStore } from '@everlog/core'
import { kafkaMissing, startKafkaCluster } from '@everlog/testkit'
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs
const TOPIC = 'failover'
const PARTITIONS = 3

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

test(
  'kill -9 of a partition leader while archiving: every acknowledged record archived exactly once',
  {
    // Open bug this test found: after the kill, the archiver keeps sending Fetch to the dead leader (ECONNREFUSED to
    // "broker 1" for 90 s and more) and partition 0 stays a few records short; nothing is lost or doubled. Run it
    // with EVERLOG_FAILOVER_TEST=1 while fixing that.
    skip:
      process.env.EVERLOG_FAILOVER_TEST === '1'
        ? kafkaMissing()
        : 'open bug: the archiver keeps fetching from a dead leader',
    timeout: 240_000,
  },
  async (t) => {
    // Clean-up in reverse order of set-up: clients and the archiver before the brokers they talk to.
    const cleanups: (() => unknown)[] = []
    t.after(async () => {
      for (const c of cleanups.reverse()) await c()
    })
    const cluster = await startKafkaCluster({ nodes: 3 })
    cleanups.push(() => cluster.stop())
    const dir = mkdtempSync(join(tmpdir(), 'everlog-failover-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const url = pathToFileURL(dir).href
    const client = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } })
    const admin = client.admin()
    await admin.connect()
    cleanups.push(() => admin.disconnect())
    // kafkajs' waitForLeaders gives up when a broker that has not heard of the topic yet answers Metadata with
    // UNKNOWN_TOPIC_OR_PARTITION, as followers of a fresh KRaft cluster do for a moment: poll instead.
    await admin.createTopics({
      waitForLeaders: false,
      topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3 }],
    })
    await waitFor('leaders for every partition', async () => {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [TOPIC] })
        const ready = topics[0]!.partitions.filter((p) => p.leader >= 0 && p.isr.length === 3)
        return ready.length === PARTITIONS ? true : undefined
      } catch {
        return undefined
      }
    })

    const archiver = new Archiver(
      {
        brokers: cluster.brokers,
        topics: [TOPIC],
        store: url,
        group: 'failover-archiver',
        http: { port: 0, host: '127.0.0.1' },
        logLevel: (process.env.EVERLOG_TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent',
        progressIntervalMs: 0,
        segment: { maxRecords: 50, maxAgeMs: 300 },
        retry: { initialMs: 100, maxMs: 1000, maxAttempts: 30 },
        kafka: { maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 500 },
      },
      { processMetrics: false },
    )
    await archiver.start()
    cleanups.push(() => archiver.stop())

    // Each acknowledged send is remembered; values are unique, so a duplicate or a loss shows up by value.
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    cleanups.push(() => producer.disconnect())
    const acked = new Set<string>()
    let n = 0
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const messages = Array.from({ length: 10 }, () => ({ partition: n % PARTITIONS, value: `m${n++}` }))
        await producer.send({ topic: TOPIC, acks: -1, messages })
        for (const m of messages) acked.add(m.value)
      }
    }
    await send(30)
    const reader = new ArchiveReader(openStore(url))
    await waitFor('the archiver to start archiving', async () =>
      (await reader.head(TOPIC, 0))?.nextOffset ? true : undefined,
    )

    // The leader of partition 0 dies mid-stream; producing goes on against the survivors.
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC] })
    const leader = meta.topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader
    const victim = cluster.nodes.find((node) => node.nodeId === leader)!
    const sending = send(60)
    await victim.kill()
    await sending
    await send(20)

    // Each partition holds exactly its acknowledged records (one idempotent producer, no transactions), so that is
    // where its archive must end. (A high watermark read right after a leader change can still lag behind.)
    const highs = Array.from({ length: PARTITIONS }, (_, p) => {
      let count = 0
      for (const v of acked) if (Number(v.slice(1)) % PARTITIONS === p) count++
      return [p, BigInt(count)] as const
    })
    await waitFor('everything acknowledged archived', async () => {
      for (const [p, high] of highs) if (((await reader.head(TOPIC, p))?.nextOffset ?? 0n) < high) return undefined
      return true
    }).catch(async (e: Error) => {
      const heads = await Promise.all(highs.map(async ([p]) => (await reader.head(TOPIC, p))?.nextOffset))
      throw new Error(
        `${e.message}: archived up to ${heads.join(', ')}, acknowledged ${highs.map(([, h]) => h).join(', ')}`,
      )
    })

    const archived: string[] = []
    for (const [p, high] of highs) {
      const offsets: bigint[] = []
      for await (const r of reader.read({ topic: TOPIC, partition: p })) {
        offsets.push(r.offset)
        archived.push(r.value!.toString())
      }
      assert.deepEqual(
        offsets,
        Array.from({ length: Number(high) }, (_, i) => BigInt(i)),
        `partition ${p}: every offset once`,
      )
    }
    assert.equal(new Set(archived).size, archived.length, 'no record archived twice')
    const kept = new Set(archived)
    for (const v of acked) assert.ok(kept.has(v), `acknowledged ${v} is archived`)
    assert.equal(acked.size, n, 'every send was acknowledged')
  },
)

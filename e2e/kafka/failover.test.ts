// Against a 3-node Apache Kafka cluster only (KRaft, replication factor 3, min.insync.replicas 2): kill -9 of the
// broker leading a partition while a producer keeps writing, first while the archiver archives, then while an
// ArchiveConsumer crosses from the archive into Kafka. Nothing acknowledged may be lost, and nothing archived or
// delivered twice. One cluster for the file; the killed node is restarted and the ISR recovered between tests.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { Archiver } from '@everlog/archiver'
import { ArchiveConsumer, ArchiveEvents } from '@everlog/consumer'
import { ArchiveReader, EverlogError, openStore, PartitionWriter, writeTopicMeta } from '@everlog/core'
import { kafkaMissing, startKafkaCluster } from '@everlog/testkit'
import type { KafkaCluster, KafkaNode } from '@everlog/testkit'
import kafkajs from 'kafkajs'
import type { Admin, Kafka as KafkaClient } from 'kafkajs'
import { restoreTopic } from '../../packages/cli/src/restore/restore.js'

const { Kafka, logLevel } = kafkajs
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

/**
 * An idempotent producer (acks -1) that remembers each acknowledged value; values are unique, so a loss or a
 * duplicate shows up by value. Each send() holds one partition's records only: kafkajs' send() over several
 * partitions can resolve without having written the partitions of a leader that died mid-request (it keeps the
 * other brokers' answers across its retry, tulios/kafkajs#1303), which would count records as acknowledged that no
 * broker ever had.
 */
class AckedProducer {
  readonly acked = new Set<string>()
  private n = 0
  private readonly producer

  constructor(
    client: KafkaClient,
    private readonly topic: string,
  ) {
    this.producer = client.producer({ idempotent: true, maxInFlightRequests: 1 })
  }

  connect = () => this.producer.connect()
  disconnect = () => this.producer.disconnect()

  /** `rounds` sends of 10 records, partition by partition in turn. */
  async send(rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const partition = this.n % PARTITIONS
      const messages = Array.from({ length: 10 }, () => ({ partition, value: `${partition}:${this.n++}` }))
      await this.producer.send({ topic: this.topic, acks: -1, messages })
      for (const m of messages) this.acked.add(m.value)
    }
  }

  /** Per partition, how many records were acknowledged: one producer, no transactions, so its high watermark. */
  highs(): bigint[] {
    const highs = Array.from({ length: PARTITIONS }, () => 0n)
    for (const v of this.acked) highs[Number(v.split(':')[0])]!++
    return highs
  }
}

describe('leader failover on a 3-node Apache Kafka cluster', { skip: kafkaMissing(), timeout: 300_000 }, () => {
  let cluster: KafkaCluster
  let client: KafkaClient
  let admin: Admin
  let dir: string

  before(async () => {
    // A dead broker is fenced, and its partitions get new leaders, after broker.session.timeout.ms (9 s by default).
    cluster = await startKafkaCluster({
      nodes: 3,
      serverProperties: { 'broker.session.timeout.ms': 4000, 'broker.heartbeat.interval.ms': 1000 },
    })
    dir = mkdtempSync(join(tmpdir(), 'everlog-failover-'))
    client = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } })
    admin = client.admin()
    await admin.connect()
  })

  after(async () => {
    await admin?.disconnect()
    await cluster?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** Every node running, then a fresh topic whose partitions all have a leader and a full ISR. */
  async function createTopic(topic: string): Promise<void> {
    for (const node of cluster.nodes) if (!node.running) await node.restart()
    // kafkajs' waitForLeaders gives up when a broker that has not heard of the topic yet answers Metadata with
    // UNKNOWN_TOPIC_OR_PARTITION, as followers of a fresh KRaft cluster do for a moment: poll instead. A restarted
    // node must also be registered again before a topic with replication factor 3 can be created.
    await waitFor(`topic ${topic} created`, async () => {
      try {
        await admin.createTopics({
          waitForLeaders: false,
          topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }],
        })
        return true
      } catch {
        return undefined
      }
    })
    await waitFor(`leaders and a full ISR for ${topic}`, async () => {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
        const ready = topics[0]!.partitions.filter((p) => p.leader >= 0 && p.isr.length === 3)
        return ready.length === PARTITIONS ? true : undefined
      } catch {
        return undefined
      }
    })
  }

  async function leaderOf(topic: string, partition: number): Promise<KafkaNode> {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    const leader = meta.topics[0]!.partitions.find((p) => p.partitionId === partition)!.leader
    return cluster.nodes.find((node) => node.nodeId === leader)!
  }

  /**
   * The node coordinating `groupId`: the leader of its __consumer_offsets partition, abs(String.hashCode(groupId)) %
   * offsets.topic.num.partitions, as Kafka places groups.
   */
  async function coordinatorOf(groupId: string): Promise<KafkaNode> {
    let hash = 0
    for (let i = 0; i < groupId.length; i++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(i)) | 0
    const { topics } = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] })
    const partitions = topics[0]!.partitions
    const partition = (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions.length
    const leader = partitions.find((p) => p.partitionId === partition)!.leader
    return cluster.nodes.find((node) => node.nodeId === leader)!
  }

  function newArchiver(topic: string, store: string): Archiver {
    return new Archiver(
      {
        brokers: cluster.brokers,
        topics: [topic],
        store,
        group: `${topic}-archiver`,
        http: { port: 0, host: '127.0.0.1' },
        logLevel: (process.env.EVERLOG_TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent',
        progressIntervalMs: 0,
        segment: { maxRecords: 50, maxAgeMs: 300 },
        retry: { initialMs: 100, maxMs: 1000, maxAttempts: 60 },
        kafka: { maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 500 },
      },
      { processMetrics: false },
    )
  }

  /** Waits until every partition's archive ends at `highs`, then returns its offsets and values, in order. */
  async function archivedUpTo(reader: ArchiveReader, topic: string, highs: bigint[]) {
    await waitFor('everything acknowledged archived', async () => {
      for (const [p, high] of highs.entries()) {
        if (((await reader.head(topic, p))?.nextOffset ?? 0n) < high) return undefined
      }
      return true
    }).catch(async (e: Error) => {
      const heads = await Promise.all(highs.map(async (_, p) => (await reader.head(topic, p))?.nextOffset))
      throw new Error(`${e.message}: archived up to ${heads.join(', ')}, acknowledged ${highs.join(', ')}`)
    })
  }

  test('kill -9 of a partition leader while archiving: every acknowledged record archived exactly once', async (t) => {
    const topic = 'failover-archiver'
    await createTopic(topic)
    const url = pathToFileURL(join(dir, 'archiver')).href
    const archiver = newArchiver(topic, url)
    await archiver.start()
    t.after(() => archiver.stop())
    const producer = new AckedProducer(client, topic)
    await producer.connect()
    t.after(() => producer.disconnect())

    await producer.send(30)
    const reader = new ArchiveReader(openStore(url))
    await waitFor('the archiver to start archiving', async () =>
      (await reader.head(topic, 0))?.nextOffset ? true : undefined,
    )

    // The leader of partition 0 dies mid-stream; producing goes on against the survivors.
    const victim = await leaderOf(topic, 0)
    const sending = producer.send(60)
    await victim.kill()
    await sending
    await producer.send(20)

    const highs = producer.highs()
    await archivedUpTo(reader, topic, highs)
    const archived: string[] = []
    for (const [p, high] of highs.entries()) {
      const offsets: bigint[] = []
      for await (const r of reader.read({ topic, partition: p })) {
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
    assert.deepEqual(new Set(archived), producer.acked, 'the archive holds exactly the acknowledged records')
    assert.equal(producer.acked.size, 1100, 'every send was acknowledged')
  })

  test('kill -9 of a partition leader while an ArchiveConsumer crosses into Kafka: every record delivered once', async (t) => {
    const topic = 'failover-consumer'
    await createTopic(topic)
    const url = pathToFileURL(join(dir, 'consumer')).href
    const producer = new AckedProducer(client, topic)
    await producer.connect()
    t.after(() => producer.disconnect())

    // History: 0..199 of each partition archived (the archiver then stops), and Kafka keeps everything.
    await producer.send(60)
    const archiver = newArchiver(topic, url)
    await archiver.start()
    await archivedUpTo(new ArchiveReader(openStore(url)), topic, producer.highs())
    await archiver.stop()
    await producer.send(30)
    const boundary = producer.highs().map((h) => h - 100n)

    const delivered = new Map<number, { offset: bigint; value: string }[]>()
    for (let p = 0; p < PARTITIONS; p++) delivered.set(p, [])
    const switched: { partition: number; offset: bigint }[] = []
    const groupId = `${topic}-app`
    const consumer = new ArchiveConsumer({ kafka: client, archive: url, groupId, maxWaitTimeInMs: 100 })
    t.after(() => consumer.disconnect())
    // Partitions 1 and 2 stop inside the archive (paused at their first record) until partition 0 has crossed into
    // Kafka. Then the leader of partition 1 or 2 dies and both resume at once: one crosses while its leader is dead,
    // the other while the cluster elects; partition 0 reads live throughout. Producing goes on meanwhile.
    // The victim is never the group's coordinator: kafkajs' offset commits keep asking the coordinator they started
    // with (its OffsetManager looks the dead node up again and again until its retries run out, tulios/kafkajs#1779),
    // so the consumer crashes, restarts and, as kafkajs' own consumer does, delivers again what it had not committed.
    let killed = false
    let killing: Promise<void> | undefined
    consumer.on(ArchiveEvents.ARCHIVE_SWITCH, ({ payload }) => {
      switched.push({ partition: payload.partition, offset: BigInt(payload.offset) })
      if (payload.partition !== 0) return
      killing ??= (async () => {
        const coordinator = await coordinatorOf(groupId)
        const leaders = await Promise.all([1, 2].map((p) => leaderOf(topic, p)))
        const victim = leaders.find((node) => node !== coordinator)
        assert.ok(victim, 'partitions 1 and 2 both led by the group coordinator: nothing to kill here')
        const sending = producer.send(60)
        await victim.kill()
        killed = true
        consumer.resume([{ topic, partitions: [1, 2] }])
        await sending
        await producer.send(30)
      })()
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        delivered.get(partition)!.push({ offset: BigInt(message.offset), value: message.value!.toString() })
        if (partition !== 0 && !killed) consumer.pause([{ topic, partitions: [partition] }])
      },
    })

    await waitFor('partition 0 to cross into Kafka', async () => (killing ? true : undefined))
    await killing
    const highs = producer.highs()
    await waitFor('every acknowledged record delivered', async () => {
      for (const [p, high] of highs.entries()) if (delivered.get(p)!.length < high) return undefined
      return true
    }).catch((e: Error) => {
      const counts = [...delivered.values()].map((d) => d.length)
      throw new Error(`${e.message}: delivered ${counts.join(', ')}, acknowledged ${highs.join(', ')}`)
    })
    await consumer.stop()

    for (const [p, high] of highs.entries()) {
      assert.deepEqual(
        delivered.get(p)!.map((r) => r.offset),
        Array.from({ length: Number(high) }, (_, i) => BigInt(i)),
        `partition ${p}: every offset once, in order`,
      )
    }
    const values = [...delivered.values()].flat().map((r) => r.value)
    assert.equal(new Set(values).size, values.length, 'no record delivered twice')
    assert.deepEqual(new Set(values), producer.acked, 'exactly the acknowledged records delivered')
    // Each partition crossed once, at the archive's end: history came from the archive, the rest from Kafka.
    assert.deepEqual(
      switched.map((s) => [s.partition, s.offset]).sort((a, b) => Number(a[0]) - Number(b[0])),
      boundary.map((b, p) => [p, b]),
    )
  })

  test('kill -9 of a target partition leader during everlog restore: the target holds the archive once', async (t) => {
    const source = 'failover-restore'
    const target = 'failover-restore-target'
    const store = openStore(pathToFileURL(join(dir, 'restore')).href)
    await writeTopicMeta(store, { topic: source, partitions: PARTITIONS, cleanupPolicy: 'delete', configs: {} })
    const archived: string[][] = []
    for (let p = 0; p < PARTITIONS; p++) {
      const writer = await PartitionWriter.open(store, { topic: source, partition: p, writer: 'test' })
      const values = Array.from({ length: 300 }, (_, o) => `${p}:${o}`)
      for (let o = 0; o < values.length; o += 50) {
        await writer.appendSegment(
          values.slice(o, o + 50).map((v, i) => ({
            offset: BigInt(o + i),
            timestamp: 1_700_000_000_000n + BigInt(o + i),
            key: null,
            value: Buffer.from(v),
            headers: [],
          })),
        )
      }
      archived.push(values)
    }
    await createTopic(target)

    // Small produce requests, so the restore is still writing when the leader of target partition 0 dies (right after
    // its first acknowledged request).
    let killed = false
    const options = { store, kafka: client, topic: source, toTopic: target, batchRecords: 10, concurrency: PARTITIONS }
    let failure: unknown
    try {
      await restoreTopic({
        ...options,
        hooks: {
          afterSend: async (partition) => {
            if (partition !== 0 || killed) return
            killed = true
            await (await leaderOf(target, 0)).kill()
          },
        },
      })
    } catch (err) {
      failure = err
    }
    assert.ok(killed, 'the leader died during the restore')
    t.diagnostic(
      failure === undefined
        ? 'the restore finished through the failover'
        : `the restore failed (${String(failure)}) and a second run resumed`,
    )
    if (failure !== undefined) {
      // Failing is allowed, with an error that says what failed; a second run resumes from the offset map.
      assert.ok(failure instanceof Error && failure.message.length > 0, `a clear error: ${String(failure)}`)
      assert.ok(failure instanceof EverlogError || failure.name.startsWith('KafkaJS'), `a typed error: ${failure.name}`)
      await restoreTopic(options)
    }

    // The target, read from the beginning: each partition exactly its archived records, in order, once.
    const read: string[][] = archived.map(() => [])
    const consumer = client.consumer({ groupId: `${target}-check`, maxWaitTimeInMs: 100 })
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [target], fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          read[partition]!.push(message.value!.toString())
        },
      })
      const highs = await admin.fetchTopicOffsets(target)
      const ends = highs.map((h) => [h.partition, Number(h.high)] as const).sort((a, b) => a[0] - b[0])
      await waitFor('the target read back', async () =>
        ends.every(([p, high]) => read[p]!.length >= high) ? true : undefined,
      )
      assert.deepEqual(
        ends.map(([p, high]) => [p, high]),
        archived.map((v, p) => [p, v.length]),
        'no partition holds more or fewer records than archived',
      )
    } finally {
      await consumer.disconnect()
    }
    assert.deepEqual(read, archived)
    await store.close()
  })
})

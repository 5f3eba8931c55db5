// The broker an integration suite runs against, chosen by one setting: EVERLOG_TEST_KAFKA=dev (default, the
// embedded dev broker: fast, with error injection) or EVERLOG_TEST_KAFKA=kafka (Apache Kafka from the cached jars,
// the judge). Both come back in one shape, so a test is written once and runs against either.
import { startDevBroker } from '@everlog/dev-broker'
import type { DevBroker } from '@everlog/dev-broker'
import kafkajs from 'kafkajs'
import type { Admin } from 'kafkajs'
import { KAFKA_VERSION, kafkaMissing, startKafka } from './kafka.js'
import type { KafkaBroker, StartKafkaOptions } from './kafka.js'

const { Kafka, logLevel } = kafkajs

export type TestBrokerKind = 'dev' | 'kafka'

/** Which broker the integration suites use: EVERLOG_TEST_KAFKA, `dev` unless it says `kafka`. */
export function testBrokerKind(): TestBrokerKind {
  const value = (process.env.EVERLOG_TEST_KAFKA ?? '').trim().toLowerCase()
  if (value === '' || value === 'dev') return 'dev'
  if (value === 'kafka') return 'kafka'
  throw new Error(`EVERLOG_TEST_KAFKA=${process.env.EVERLOG_TEST_KAFKA}: expected dev or kafka`)
}

/** The Kafka version EVERLOG_TEST_KAFKA=kafka runs (EVERLOG_TEST_KAFKA_VERSION, default the newest 4.x). */
export function testKafkaVersion(): string {
  return process.env.EVERLOG_TEST_KAFKA_VERSION || KAFKA_VERSION
}

/**
 * Skip reason for a test that needs the dev broker's own controls (`what`: error injection, compaction on demand,
 * ...) when the suite runs against Apache Kafka; undefined against the dev broker. A real-Kafka test of the same
 * behaviour lives elsewhere and the reason should say where.
 */
export function devBrokerOnly(what: string): string | undefined {
  return testBrokerKind() === 'kafka' ? `needs the dev broker: ${what}` : undefined
}

/**
 * Skip reason when the suite runs against the dev broker: for tests that only mean something against Apache Kafka
 * but are cheap enough to ride along with the EVERLOG_TEST_KAFKA=kafka run.
 */
export function onlyWithRealKafka(what: string): string | undefined {
  if (testBrokerKind() === 'dev') return `runs against Apache Kafka only (EVERLOG_TEST_KAFKA=kafka): ${what}`
  return kafkaMissing(testKafkaVersion())
}

export interface TestBroker {
  readonly kind: TestBrokerKind
  /** Bootstrap addresses for clients. */
  readonly brokers: string[]
  /** The first of them, 'host:port'. */
  readonly address: string
  /** The dev broker's own controls (control hooks, compact(), restart()); undefined against Apache Kafka. */
  readonly dev: DevBroker | undefined
  /** The Apache Kafka process; undefined against the dev broker. */
  readonly kafka: KafkaBroker | undefined
  /** Creates a topic; returns when every partition has a leader. */
  createTopic(name: string, options?: { partitions?: number; configs?: Record<string, string> }): Promise<void>
  /** Moves the partition's log start offset to `offset` (DeleteRecords), as retention would. */
  deleteRecords(topic: string, partition: number, offset: number | bigint): Promise<void>
  /** The partition's log start offset and high watermark, as ListOffsets reports them. */
  offsets(topic: string, partition: number): Promise<{ logStart: bigint; high: bigint }>
  /** The high watermark alone, as a number (the dev broker's synchronous call had this shape). */
  highWatermark(topic: string, partition: number): Promise<number>
  close(): Promise<void>
}

export interface StartTestBrokerOptions {
  /** Overrides EVERLOG_TEST_KAFKA. */
  kind?: TestBrokerKind
  /** Whether Metadata creates unknown topics (default true, as both brokers do by default). */
  autoCreateTopics?: boolean
  /** Settings for Apache Kafka (ignored by the dev broker). */
  kafka?: StartKafkaOptions
}

/** Starts the broker EVERLOG_TEST_KAFKA names (the dev broker by default), with nothing on a timer. */
export async function startTestBroker(options: StartTestBrokerOptions = {}): Promise<TestBroker> {
  const kind = options.kind ?? testBrokerKind()
  if (kind === 'dev') {
    const dev = await startDevBroker({
      port: 0,
      retentionCheckIntervalMs: 0,
      autoCreateTopics: options.autoCreateTopics ?? true,
    })
    return {
      kind,
      brokers: dev.brokers,
      address: dev.address,
      dev,
      kafka: undefined,
      async createTopic(name, o = {}) {
        dev.createTopic(name, { partitions: o.partitions ?? 1, ...(o.configs ? { configs: o.configs } : {}) })
      },
      async deleteRecords(topic, partition, offset) {
        dev.deleteRecords(topic, partition, Number(offset))
      },
      async offsets(topic, partition) {
        return {
          logStart: BigInt(dev.logStartOffset(topic, partition)),
          high: BigInt(dev.highWatermark(topic, partition)),
        }
      },
      async highWatermark(topic, partition) {
        return dev.highWatermark(topic, partition)
      },
      close: () => dev.close(),
    }
  }
  const kafka = await startKafka({
    version: testKafkaVersion(),
    ...options.kafka,
    serverProperties: {
      'auto.create.topics.enable': options.autoCreateTopics ?? true,
      ...options.kafka?.serverProperties,
    },
  })
  let admin: Admin | undefined
  const connected = async (): Promise<Admin> => {
    if (!admin) {
      const a = new Kafka({
        clientId: 'everlog-test-broker',
        brokers: kafka.brokers,
        logLevel: logLevel.NOTHING,
      }).admin()
      await a.connect()
      admin = a
    }
    return admin
  }
  const offsets = async (topic: string, partition: number): Promise<{ logStart: bigint; high: bigint }> => {
    const a = await connected()
    const found = (await a.fetchTopicOffsets(topic)).find((p) => p.partition === partition)
    if (!found) throw new Error(`${topic}/${partition}: no such partition`)
    return { logStart: BigInt(found.low), high: BigInt(found.high) }
  }
  return {
    kind,
    brokers: kafka.brokers,
    address: kafka.bootstrap,
    dev: undefined,
    kafka,
    async createTopic(name, o = {}) {
      const a = await connected()
      await a.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: name,
            numPartitions: o.partitions ?? 1,
            configEntries: Object.entries(o.configs ?? {}).map(([n, value]) => ({ name: n, value })),
          },
        ],
      })
    },
    async deleteRecords(topic, partition, offset) {
      const a = await connected()
      // kafkajs' admin looks the partition's leader up in metadata it must have loaded first.
      await a.fetchTopicMetadata({ topics: [topic] })
      await a.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(offset) }] })
    },
    offsets,
    async highWatermark(topic, partition) {
      return Number((await offsets(topic, partition)).high)
    },
    async close() {
      await admin?.disconnect().catch(() => {})
      await kafka.stop()
    },
  }
}

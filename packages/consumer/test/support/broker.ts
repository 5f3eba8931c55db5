// The Kafka the consumer suites run against, set up in one place: the dev broker on a free port. Suites ask this
// module for brokers, clients and topics (through Kafka's own admin API, so any Kafka can stand behind it).
import { startDevBroker } from '@everlog/dev-broker'
import type { DevBroker } from '@everlog/dev-broker'
import { Kafka, logLevel } from 'kafkajs'
import type { KafkaConfig } from 'kafkajs'

export interface TestKafka {
  brokers: string[]
  /** A kafkajs client for the test broker; logs are off unless asked for. */
  client(config?: Partial<KafkaConfig>): Kafka
  /** Creates a topic and returns once it has a leader for every partition. */
  createTopic(topic: string, partitions?: number): Promise<void>
  close(): Promise<void>
}

export async function startTestKafka(): Promise<TestKafka> {
  const broker: DevBroker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
  const client = (config: Partial<KafkaConfig> = {}) =>
    new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING, ...config })
  const admin = client().admin()
  await admin.connect()
  return {
    brokers: broker.brokers,
    client,
    async createTopic(topic, partitions = 1) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
    },
    async close() {
      await admin.disconnect()
      await broker.close()
    },
  }
}

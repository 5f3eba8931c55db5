// The harness itself: Apache Kafka starts from the cached jars, its test settings took effect (read back through
// DescribeConfigs), an extra listener and extra properties are honoured, and stop leaves no process or folder.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { test } from 'node:test'
import kafkajs from 'kafkajs'
import { kafkaMissing, startKafka } from '@everlog/testkit'

const { Kafka, logLevel, ConfigResourceTypes } = kafkajs

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('a real Kafka starts, its settings took effect, and stop removes it', { skip: kafkaMissing() }, async () => {
  const started = Date.now()
  const kafka = await startKafka({
    listeners: [{ name: 'EXTRA', protocol: 'PLAINTEXT' }],
    serverProperties: { 'log.retention.ms': 123456789 },
  })
  try {
    assert.ok(Date.now() - started < 30_000, 'ready within 30 s')
    assert.match(kafka.bootstrap, /^127\.0\.0\.1:\d+$/)
    assert.ok(alive(kafka.pid))
    assert.ok(existsSync(kafka.logFile))
    assert.deepEqual(Object.keys(kafka.listeners).sort(), ['CONTROLLER', 'EXTRA', 'PLAINTEXT'])

    const client = new Kafka({ clientId: 'testkit-kafka', brokers: kafka.brokers, logLevel: logLevel.NOTHING })
    const admin = client.admin()
    await admin.connect()
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.BROKER, name: '1' }],
      })
      const configs = new Map(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]))
      assert.equal(configs.get('group.initial.rebalance.delay.ms'), '0')
      assert.equal(configs.get('offsets.topic.replication.factor'), '1')
      assert.equal(configs.get('transaction.state.log.min.isr'), '1')
      assert.equal(configs.get('auto.create.topics.enable'), 'true')
      assert.equal(configs.get('log.retention.ms'), '123456789')
    } finally {
      await admin.disconnect()
    }

    // The extra listener is a second way in: a record produced there is read back through the main one.
    const viaExtra = new Kafka({
      clientId: 'testkit-extra',
      brokers: [kafka.listeners.EXTRA!],
      logLevel: logLevel.NOTHING,
    })
    const producer = viaExtra.producer()
    await producer.connect()
    await producer.send({ topic: 'harness', messages: [{ key: 'k', value: 'through EXTRA' }] })
    await producer.disconnect()
    const consumer = client.consumer({ groupId: 'testkit-harness' })
    await consumer.connect()
    await consumer.subscribe({ topic: 'harness', fromBeginning: true })
    const value = await new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) })
    })
    await consumer.disconnect()
    assert.equal(value, 'through EXTRA')
  } finally {
    const pid = kafka.pid
    await kafka.stop()
    assert.equal(alive(pid), false, 'the java process is gone')
    assert.equal(existsSync(kafka.dir), false, 'the data folder is removed')
  }
})

import { startKafka } from '@everlog/testkit'
import { registerKafkaCodecs } from '@everlog/core'
import kafkajs from 'kafkajs'
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = kafkajs
registerKafkaCodecs(CompressionCodecs)
const k = await startKafka({ keep: true })
const kafka = new Kafka({ brokers: k.brokers, logLevel: logLevel.NOTHING })
const p = kafka.producer()
await p.connect()
for (const [name, c] of Object.entries({
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
})) {
  try {
    await p.send({
      topic: 'c-' + name,
      compression: c,
      messages: [{ key: 'k', value: 'hello hello hello hello', headers: { a: 'b' } }],
    })
    console.log(name, 'ok')
  } catch (e) {
    console.log(name, 'FAILED', (e as Error).message)
  }
}
await p.disconnect()
await k.stop()
console.log(k.logFile)

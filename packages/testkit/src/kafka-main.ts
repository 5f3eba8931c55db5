// `npm run kafka -- [--port 9092] [--kafka-version 4.4.0] [--nodes 1]`: a real Apache Kafka on this machine
// without Docker, from Maven Central's jars (fetched first if needed), until Ctrl-C.
import { parseArgs } from 'node:util'
import { KAFKA_VERSION, fetchKafka, startKafka, startKafkaCluster } from './kafka.js'
import type { KafkaBroker, KafkaCluster } from './kafka.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9092' },
    'kafka-version': { type: 'string', default: KAFKA_VERSION },
    nodes: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log(
    'usage: npm run kafka -- [--port 9092] [--kafka-version X.Y.Z] [--nodes 1|3]\n' +
      'Starts Apache Kafka (KRaft, broker and controller in one process) on 127.0.0.1; --port 0 picks a free port.',
  )
  process.exit(0)
}
const port = Number(values.port)
const nodes = Number(values.nodes)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${values.port}: expected a port number (0 picks a free one)`)
  process.exit(2)
}
if (!Number.isInteger(nodes) || nodes < 1) {
  console.error(`--nodes ${values.nodes}: expected a positive whole number`)
  process.exit(2)
}
const version = values['kafka-version']
try {
  fetchKafka(version, (line) => console.error(line))
} catch (e) {
  console.error((e as Error).message)
  process.exit(1)
}
console.error(`starting Apache Kafka ${version}...`)
let kafka: KafkaBroker | KafkaCluster
try {
  kafka = nodes === 1 ? await startKafka({ version, port }) : await startKafkaCluster({ version, nodes })
} catch (e) {
  console.error((e as Error).message)
  process.exit(1)
}
const logs = 'logFile' in kafka ? kafka.logFile : kafka.nodes.map((n) => n.logFile).join(', ')
console.log(`Apache Kafka ${version} is ready: bootstrap ${kafka.brokers.join(',')}`)
console.error(`log: ${logs}\nCtrl-C stops it and removes its data.`)
let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    console.error('stopping Apache Kafka...')
    void kafka.stop().then(() => process.exit(0))
  })
}
// A broker that dies on its own ends this command too, with its log's last lines.
const watch = setInterval(() => {
  const down = 'nodes' in kafka ? kafka.nodes.filter((n) => !n.running) : kafka.running ? [] : [kafka]
  if (down.length === 0 || stopping) return
  clearInterval(watch)
  console.error(`Apache Kafka exited on its own; ${down[0]!.logFile} ends:\n${down[0]!.logTail(30)}`)
  void kafka.stop().then(() => process.exit(1))
}, 1000)

// `everlog produce-sample`: a steady stream of the demo's sample orders into any Kafka, for trying the archiver
// (docker-compose's example producer runs it).
import type { CliContext } from '../context.js'
import { UsageError } from '../context.js'
import { addKafkaOptions, kafkaClient } from '../kafka-options.js'
import type { KafkaFlags } from '../kafka-options.js'
import { sampleOrder, samplePrng } from '../demo/sample.js'
import { kafkaDeadlineMs, withinDeadline } from '../kafka-client.js'
import type { CliCommand, CommandModule } from '../program.js'

interface ProduceFlags extends KafkaFlags {
  topic: string
  rate: string
  count?: string
}

const HELP = `
Examples:
  $ everlog produce-sample --brokers localhost:9092 --topic orders --rate 50
  $ everlog produce-sample --brokers localhost:9092 --topic orders --count 10000 --rate 1000

Orders keyed by customer with JSON values, "source" and "trace-id" headers, and now and then a tombstone.
Runs until --count records are sent, or until SIGINT/SIGTERM. A broker that does not answer is given up on after
30 s (EVERLOG_KAFKA_DEADLINE_MS).
`

export const produceSampleCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    const command = program
      .command('produce-sample')
      .description('produce sample orders into a Kafka topic at a steady rate')
    addKafkaOptions(command)
      .option('--topic <topic>', 'topic to produce to', 'orders')
      .option('--rate <n>', 'records per second', '50')
      .option('--count <n>', 'stop after this many records (default: run until interrupted)')
      .addHelpText('after', HELP)
      .action(async (flags: ProduceFlags) => {
        const rate = Number(flags.rate)
        if (!Number.isFinite(rate) || rate <= 0)
          throw new UsageError(`--rate ${flags.rate}: expected records per second > 0`)
        const count = flags.count === undefined ? Infinity : Number(flags.count)
        if (!(count === Infinity || (Number.isInteger(count) && count > 0))) {
          throw new UsageError(`--count ${flags.count}: expected a positive integer`)
        }
        const client = await kafkaClient(flags, context, 'everlog-sample-producer')
        const about = { topics: [flags.topic] }
        const producer = client.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
        const where = `${flags.topic} on ${client.settings.brokers.join(',')}`
        const deadline = kafkaDeadlineMs(context)
        try {
          await withinDeadline(
            `connecting to ${client.settings.brokers.join(',')}`,
            client.run(() => producer.connect(), about),
            deadline,
          )
        } catch (err) {
          await producer.disconnect().catch(() => {})
          throw err
        }
        let stopping = false
        const stop = () => (stopping = true)
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
        const rand = samplePrng(Date.now() & 0xffff)
        const started = performance.now()
        let sent = 0
        try {
          while (!stopping && sent < count) {
            // Send what the rate allows by now, in batches of at most 500, then sleep until the next is due.
            const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate) + 1)
            const n = Math.min(500, due - sent)
            if (n > 0) {
              const messages = Array.from({ length: n }, (_, i) => sampleOrder(sent + i, rand, Date.now()))
              await withinDeadline(
                `producing to ${where}`,
                client.run(() => producer.send({ topic: flags.topic, messages }), about),
                deadline,
              )
              sent += n
              if (sent % Math.max(1, Math.round(rate * 10)) < n)
                context.stderr.write(`everlog: produced ${sent} records to ${flags.topic}\n`)
            } else {
              // A short sleep; SIGINT/SIGTERM set `stopping`, seen on the next turn.
              await new Promise((r) => setTimeout(r, Math.min(200, Math.max(5, 1000 / rate))))
            }
          }
        } finally {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          await withinDeadline('disconnecting', producer.disconnect(), deadline).catch(() => {})
        }
        context.stdout.write(`produced ${sent} records to ${flags.topic}\n`)
      })
  },
}

// Set-up shared by the archiver's tests: the test broker (the dev broker, or Apache Kafka with
// EVERLOG_TEST_KAFKA=kafka) with a connected kafkajs admin and producer (exported as live bindings, set once the
// file's `before` hook ran), temporary stores removed after the file, and a log sink.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { after, before } from 'node:test'
import { FileStore } from '@everlog/core'
import kafkajs from 'kafkajs'
import type { Admin, KafkaConfig, Producer, ProducerConfig } from 'kafkajs'
import { startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'

const { Kafka, logLevel } = kafkajs

export let broker: TestBroker
export let kafka: InstanceType<typeof Kafka>
export let admin: Admin
export let producer: Producer

/** Starts the test broker before the file's tests (admin and producer connected) and closes everything after them. */
export function useBroker(
  options: { clientId?: string; kafka?: Partial<KafkaConfig>; producer?: ProducerConfig } = {},
): void {
  before(async () => {
    broker = await startTestBroker()
    kafka = new Kafka({
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
      clientId: options.clientId ?? 'archiver-test',
      ...options.kafka,
    })
    admin = kafka.admin()
    await admin.connect()
    producer = kafka.producer(options.producer)
    await producer.connect()
  })
  after(async () => {
    await producer?.disconnect()
    await admin?.disconnect()
    await broker?.close()
  })
}

const dirs: string[] = []
after(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A new empty directory, removed after the file's tests. */
export function tempDir(prefix = 'everlog-archiver-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

/** A file store URL over a new empty directory. */
export function fileStoreUrl(prefix?: string): string {
  return pathToFileURL(tempDir(prefix)).href
}

/** A file store over a new empty directory, without fsync (tests do not survive power loss). */
export function fileStore(prefix?: string): FileStore {
  return new FileStore(tempDir(prefix), { fsync: false })
}

/** The archiver's JSON log lines, parsed, and the raw text, captured from its pino destination. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = []
  text = ''
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString()
    for (const line of chunk.toString().split('\n')) if (line.startsWith('{')) this.lines.push(JSON.parse(line))
    done()
  }
}

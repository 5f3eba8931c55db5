// The one-line swap from outside the repository: small apps in a temporary folder, linked to the built packages
// as an installed dependency would be. A CommonJS app require()s @everlog/consumer and replays history that Kafka
// has deleted; TypeScript type-checks an app under moduleResolution node (node10), node16 and bundler.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { openStore, PartitionWriter } from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
import { startTestKafka } from '../packages/consumer/test/support/broker.js'
import type { TestKafka } from '../packages/consumer/test/support/broker.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = join(root, 'node_modules/typescript/bin/tsc')
const COUNT = 50
const DELETED = 30

let testKafka: TestKafka
let dir: string
let archiveDir: string
let store: ObjectStore

before(async () => {
  // The apps use what a user installs: the packages' dist builds (incremental, quick when up to date).
  await run(process.execPath, [tsc, '-b'], { cwd: root })
  testKafka = await startTestKafka()
  dir = await mkdtemp(join(tmpdir(), 'everlog-interop-'))
  archiveDir = join(dir, 'archive')
  await mkdir(archiveDir)
  store = openStore(pathToFileURL(archiveDir).href)
  const modules = join(dir, 'node_modules')
  await mkdir(join(modules, '@everlog'), { recursive: true })
  await mkdir(join(modules, '@types'), { recursive: true })
  for (const p of ['core', 'consumer']) await symlink(join(root, 'packages', p), join(modules, '@everlog', p), 'dir')
  await symlink(join(root, 'node_modules/kafkajs'), join(modules, 'kafkajs'), 'dir')
  await symlink(join(root, 'node_modules/@types/node'), join(modules, '@types/node'), 'dir')
})

after(async () => {
  await store?.close()
  await testKafka?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** A kafkajs consumer app as it exists before the swap; it prints what it consumed as JSON. */
const KAFKAJS_APP = `'use strict'
const { Kafka, logLevel } = require('kafkajs')
const { ArchiveConsumer } = require('@everlog/consumer')

async function main() {
  const kafka = new Kafka({ brokers: [process.env.BROKER], logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: process.env.GROUP, maxWaitTimeInMs: 100 })
  const seen = []
  await consumer.connect()
  await consumer.subscribe({ topics: [process.env.TOPIC], fromBeginning: true })
  await new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.offset + '=' + message.value.toString())
        if (message.offset === String(Number(process.env.COUNT) - 1)) resolve()
      },
    })
  })
  await consumer.disconnect()
  console.log(JSON.stringify({ swapped: typeof ArchiveConsumer === 'function', seen }))
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
`

const SWAP_FROM = `  const consumer = kafka.consumer({ groupId: process.env.GROUP, maxWaitTimeInMs: 100 })`
const SWAP_TO = `  const consumer = new ArchiveConsumer({ kafka, archive: process.env.ARCHIVE, groupId: process.env.GROUP, maxWaitTimeInMs: 100 })`

test('a CommonJS app require()s @everlog/consumer and, with one line swapped, replays history Kafka deleted', async () => {
  const topic = `interop-${Date.now()}`
  await testKafka.createTopic(topic)
  const kafka = testKafka.client()
  const producer = kafka.producer()
  await producer.connect()
  const values = Array.from({ length: COUNT }, (_, o) => `v${o}`)
  await producer.send({
    topic,
    messages: values.map((value, o) => ({ value, timestamp: String(1_700_000_000_000 + o) })),
  })
  await producer.disconnect()
  const w = await PartitionWriter.open(store, { topic, partition: 0, writer: 'test' })
  await w.appendSegment(
    values.slice(0, DELETED).map((v, o) => ({
      offset: BigInt(o),
      timestamp: BigInt(1_700_000_000_000 + o),
      key: null,
      value: Buffer.from(v),
      headers: [],
    })),
  )
  const admin = kafka.admin()
  await admin.connect()
  await admin.fetchTopicMetadata({ topics: [topic] })
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(DELETED) }] })
  await admin.disconnect()

  const swapped = KAFKAJS_APP.replace(SWAP_FROM, SWAP_TO)
  const changed = swapped.split('\n').filter((line, i) => line !== KAFKAJS_APP.split('\n')[i])
  assert.deepEqual(changed, [SWAP_TO], 'exactly one line differs')
  await writeFile(join(dir, 'kafkajs-app.cjs'), KAFKAJS_APP)
  await writeFile(join(dir, 'archive-app.cjs'), swapped)
  const env = {
    ...process.env,
    BROKER: testKafka.brokers[0]!,
    TOPIC: topic,
    COUNT: String(COUNT),
    ARCHIVE: pathToFileURL(archiveDir).href,
  }
  const consume = async (app: string, group: string) => {
    const { stdout } = await run(process.execPath, [join(dir, app)], { cwd: dir, env: { ...env, GROUP: group } })
    return JSON.parse(stdout) as { swapped: boolean; seen: string[] }
  }
  const before = await consume('kafkajs-app.cjs', 'plain')
  const after = await consume('archive-app.cjs', 'swapped')
  const all = values.map((v, o) => `${o}=${v}`)
  assert.deepEqual(before.seen, all.slice(DELETED), 'kafkajs alone sees only what Kafka kept')
  assert.deepEqual(after.seen, all, 'the swapped app replays the whole history')
})

const TS_APP = `import { Kafka } from 'kafkajs'
import type { Consumer, EachMessagePayload } from 'kafkajs'
import { ArchiveConsumer, ArchiveEvents, ArchiveUnavailableError } from '@everlog/consumer'
import type { ArchiveConsumerConfig, ArchiveSwitchPayload } from '@everlog/consumer'

const kafka = new Kafka({ brokers: ['localhost:9092'] })
const config: ArchiveConsumerConfig = { kafka, archive: 'file:///var/lib/everlog', groupId: 'g', mode: 'archive-first' }
// The swap: wherever the program wanted kafkajs' Consumer, an ArchiveConsumer fits.
const consumer: Consumer = new ArchiveConsumer(config)
const handle = async ({ message }: EachMessagePayload): Promise<void> => {
  const offset: string = message.offset
  void offset
}
export async function start(): Promise<void> {
  await consumer.connect()
  await consumer.run({ eachMessage: handle })
  const archive = new ArchiveConsumer(config)
  archive.on(ArchiveEvents.ARCHIVE_SWITCH, (e) => {
    const payload: ArchiveSwitchPayload = e.payload
    void payload
  })
  const code: string = new ArchiveUnavailableError('t', 0, 0n, 1n, 'gone').code
  void code
  // @ts-expect-error an ArchiveConsumer is not a number: proves the package's types resolved (not any)
  const wrong: number = archive
  // @ts-expect-error 'mode' takes only the documented values
  const badMode: ArchiveConsumerConfig['mode'] = 'sometimes'
  void wrong
  void badMode
}
`

for (const mode of ['node10', 'node16', 'bundler'] as const) {
  test(`a TypeScript app type-checks against the built packages under moduleResolution ${mode}`, async () => {
    const app = join(dir, `ts-${mode}`)
    await mkdir(app)
    await symlink(join(dir, 'node_modules'), join(app, 'node_modules'), 'dir')
    // node16 follows package.json "type": an ES module app; node10 and bundler take the file as it is.
    const esm = mode === 'node16'
    await writeFile(join(app, 'package.json'), JSON.stringify({ private: true, type: esm ? 'module' : 'commonjs' }))
    await writeFile(join(app, 'app.ts'), TS_APP)
    const module = { node10: 'commonjs', node16: 'node16', bundler: 'esnext' }[mode]
    const compilerOptions = {
      target: 'ES2022',
      module,
      moduleResolution: mode === 'node10' ? 'node' : mode,
      strict: true,
      noEmit: true,
      esModuleInterop: true,
      // Declaration files are trusted (as in most apps); the @ts-expect-error lines fail should types decay to any.
      skipLibCheck: true,
      types: ['node'],
    }
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['app.ts'] }))
    const result = await run(process.execPath, [tsc, '-p', app]).then(
      () => '',
      (e: { stdout?: string }) => e.stdout ?? String(e),
    )
    assert.equal(result, '', `tsc (${mode}) reported:\n${result}`)
  })
}

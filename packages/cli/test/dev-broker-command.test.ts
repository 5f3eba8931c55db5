// `everlog dev-broker` as a user runs it: a foreground process that real clients talk to, stopped by SIGTERM.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import { repoRoot } from './support.js'

test('dev-broker prints its address, serves kafkajs, and exits 0 on SIGTERM', async (t) => {
  const child = spawn(
    process.execPath,
    [
      '--conditions=everlog-source',
      '--import',
      'tsx',
      'packages/cli/src/bin.ts',
      'dev-broker',
      '--port',
      '0',
      '--partitions',
      '3',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  t.after(() => child.kill('SIGKILL'))
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d))
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address printed: ${out}`)), 30_000)
    child.stdout.on('data', () => {
      const m = /listening on (127\.0\.0\.1:\d+) \(in memory\)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
  })

  const kafka = new Kafka({ brokers: [address], logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'greetings', messages: [{ key: 'k', value: 'hello' }] })
  await producer.disconnect()
  const admin = kafka.admin()
  await admin.connect()
  const [meta] = (await admin.fetchTopicMetadata({ topics: ['greetings'] })).topics
  assert.equal(meta!.partitions.length, 3, '--partitions applies to auto-created topics')
  const offsets = await admin.fetchTopicOffsets('greetings')
  assert.equal(
    offsets.reduce((n, p) => n + Number(p.high), 0),
    1,
  )
  await admin.disconnect()

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  assert.equal(code, 0)
})

test('dev-broker refuses a bad port with one clear line', async () => {
  const child = spawn(
    process.execPath,
    ['--conditions=everlog-source', '--import', 'tsx', 'packages/cli/src/bin.ts', 'dev-broker', '--port', 'http'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d))
  const [code] = await once(child, 'exit')
  assert.equal(code, 2)
  assert.equal(err, 'everlog: --port http: expected an integer 0-65535\n')
})

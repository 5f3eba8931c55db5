// Third-party clients from Debian packages against the dev broker: kcat (librdkafka) producing with every codec,
// consuming with -J, -L metadata and -Q offsets by time; kafka-python producing and consuming without a group.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { registerKafkaCodecs } from '@everlog/core'
import kafkajs, { Kafka, logLevel } from 'kafkajs'
import { startDevBroker, type DevBroker } from '../src/broker.js'

const PYTHON = '/usr/bin/python3'

function requireTool(path: string, install: string): void {
  try {
    accessSync(path, constants.X_OK)
  } catch {
    assert.fail(`${path} is missing: apt-get install ${install}`)
  }
}

function which(name: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK)
      return `${dir}/${name}`
    } catch {
      // keep looking
    }
  }
  return `/usr/bin/${name}`
}

/** Runs a command without blocking the event loop (the broker lives in this process). */
function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout, stderr })
    })
    child.stdin.end(input ?? '')
  })
}

interface KcatMessage {
  topic: string
  partition: number
  offset: number
  key: string | null
  payload: string | null
  headers?: string[]
  ts: number
}

describe('kcat (librdkafka)', () => {
  let broker: DevBroker
  const kcat = which('kcat')

  before(async () => {
    broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
  })
  after(async () => {
    await broker.close()
  })

  test('produces with none/gzip/snappy/lz4/zstd and consumes back with -J: offsets, keys, values, headers', async () => {
    requireTool(kcat, 'kcat')
    const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
    // compressible values: librdkafka sends a batch uncompressed when compression would not shrink it
    const pad = ' ' + 'abc'.repeat(200)
    for (const z of codecs) {
      const input = [`k-${z}-1:${z} one${pad}`, `k-${z}-2:${z} two${pad}`].join('\n') + '\n'
      const res = await run(
        kcat,
        ['-P', '-b', broker.address, '-t', 'kcat', '-z', z, '-K', ':', '-H', `codec=${z}`, '-H', 'trace=abc'],
        input,
      )
      assert.equal(res.code, 0, res.stderr)
    }
    // the broker kept each codec's batch compressed as produced
    const codecIds = broker.state.partition('kcat', 0)!.batches.map((b) => b.buf.readInt16BE(21) & 7)
    assert.deepEqual([...new Set(codecIds)], [0, 1, 2, 3, 4])

    const res = await run(kcat, ['-C', '-b', broker.address, '-t', 'kcat', '-J', '-o', 'beginning', '-e', '-q'])
    assert.equal(res.code, 0, res.stderr)
    const got = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as KcatMessage)
    assert.deepEqual(
      got.map((m) => [m.offset, m.key, m.payload, m.headers]),
      codecs.flatMap((z, i) => [
        [i * 2, `k-${z}-1`, `${z} one${pad}`, ['codec', z, 'trace', 'abc']],
        [i * 2 + 1, `k-${z}-2`, `${z} two${pad}`, ['codec', z, 'trace', 'abc']],
      ]),
    )
  })

  test('kafkajs reads the snappy/lz4/zstd batches kcat produced, byte for byte', async () => {
    requireTool(kcat, 'kcat')
    // kafkajs is CommonJS: its codec table is only reachable through the default export under ESM
    registerKafkaCodecs(kafkajs.CompressionCodecs)
    const values = ['snappy', 'lz4', 'zstd'].map((z) => `${z}:` + `${z} payload `.repeat(40))
    for (const [i, z] of ['snappy', 'lz4', 'zstd'].entries()) {
      const res = await run(kcat, ['-P', '-b', broker.address, '-t', 'kcat-js', '-z', z, '-K', ':'], values[i]! + '\n')
      assert.equal(res.code, 0, res.stderr)
    }
    assert.deepEqual(
      broker.state.partition('kcat-js', 0)!.batches.map((b) => b.buf.readInt16BE(21) & 7),
      [2, 3, 4],
    )
    const kafka = new Kafka({ clientId: 'kcat-js', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: 'kcat-js', maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic: 'kcat-js', fromBeginning: true })
    const got: string[] = []
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push(`${String(message.key)}:${String(message.value)}`)
          if (got.length === 3) resolve()
        },
      })
    })
    await consumer.disconnect()
    assert.deepEqual(got, values)
  })

  test('librdkafka honours markers and aborted lists: read_committed hides an aborted transaction', async () => {
    requireTool(kcat, 'kcat')
    const kafka = new Kafka({ clientId: 'kcat-tx', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ transactionalId: 'kcat-tx', idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    let t = await producer.transaction()
    await t.send({ topic: 'kcat-tx', messages: [{ value: 'kept-1' }] })
    await t.commit()
    t = await producer.transaction()
    await t.send({ topic: 'kcat-tx', messages: [{ value: 'dropped-1' }, { value: 'dropped-2' }] })
    await t.abort()
    t = await producer.transaction()
    await t.send({ topic: 'kcat-tx', messages: [{ value: 'kept-2' }] })
    await t.commit()
    await producer.disconnect()
    const read = async (isolation: string) => {
      const res = await run(kcat, [
        ...['-C', '-b', broker.address, '-t', 'kcat-tx', '-o', 'beginning', '-e', '-q'],
        ...['-X', `isolation.level=${isolation}`, '-f', '%o=%s\n'],
      ])
      assert.equal(res.code, 0, res.stderr)
      return res.stdout
    }
    // offsets: kept-1 0, COMMIT 1, dropped 2-3, ABORT 4, kept-2 5, COMMIT 6
    assert.equal(await read('read_committed'), '0=kept-1\n5=kept-2\n')
    assert.equal(await read('read_uncommitted'), '0=kept-1\n2=dropped-1\n3=dropped-2\n5=kept-2\n')
  })

  test('-L lists the broker at its real address and the topics with their partitions', async () => {
    requireTool(kcat, 'kcat')
    broker.createTopic('kcat-meta', { partitions: 3 })
    const res = await run(kcat, ['-L', '-b', broker.address, '-J'])
    assert.equal(res.code, 0, res.stderr)
    const md = JSON.parse(res.stdout) as {
      brokers: Array<{ id: number; name: string }>
      topics: Array<{ topic: string; partitions: Array<{ partition: number; leader: number }> }>
    }
    assert.deepEqual(md.brokers, [{ id: 0, name: broker.address }])
    const t = md.topics.find((x) => x.topic === 'kcat-meta')
    assert.deepEqual(
      t?.partitions.map((p) => [p.partition, p.leader]),
      [
        [0, 0],
        [1, 0],
        [2, 0],
      ],
    )
  })

  test('-Q finds offsets by timestamp and consuming from an offset honours it', async () => {
    requireTool(kcat, 'kcat')
    const input = ['a', 'b', 'c', 'd'].join('\n') + '\n'
    assert.equal((await run(kcat, ['-P', '-b', broker.address, '-t', 'kcat-q'], input)).code, 0)
    const log = broker.state.partition('kcat-q', 0)!
    const ts = log.batches[0]!.maxTimestamp
    const q = await run(kcat, ['-Q', '-b', broker.address, '-t', `kcat-q:0:${ts + 60_000}`])
    assert.equal(q.code, 0, q.stderr)
    assert.match(q.stdout, /kcat-q \[0\] +offset -1/)
    const q0 = await run(kcat, ['-Q', '-b', broker.address, '-t', `kcat-q:0:${ts - 60_000}`])
    assert.match(q0.stdout, /kcat-q \[0\] +offset 0/)
    const res = await run(kcat, ['-C', '-b', broker.address, '-t', 'kcat-q', '-o', '2', '-e', '-q', '-f', '%o=%s\n'])
    assert.equal(res.stdout, '2=c\n3=d\n')
  })
})

describe('kafka-python', () => {
  let broker: DevBroker
  before(async () => {
    broker = await startDevBroker({ retentionCheckIntervalMs: 0 })
  })
  after(async () => {
    await broker.close()
  })

  test('produces (gzip, keys, headers, null value) and consumes without a group', async () => {
    requireTool(PYTHON, 'python3-kafka')
    const script = `
import json, sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
b = sys.argv[1]
p = KafkaProducer(bootstrap_servers=b, compression_type='gzip', acks='all')
offsets = []
for i in range(20):
    value = None if i == 7 else ('v%d' % i).encode()
    md = p.send('py', key=('k%d' % i).encode(), value=value, headers=[('i', str(i).encode())]).get(timeout=10)
    offsets.append(md.offset)
p.close()
c = KafkaConsumer(bootstrap_servers=b, auto_offset_reset='earliest', enable_auto_commit=False,
                  consumer_timeout_ms=3000, group_id=None)
tp = TopicPartition('py', 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = []
for m in c:
    got.append([m.offset, m.key.decode(), None if m.value is None else m.value.decode(),
                [[k, v.decode()] for k, v in m.headers]])
    if len(got) == 20:
        break
c.close()
print(json.dumps({'offsets': offsets, 'got': got}))
`
    const res = await run(PYTHON, ['-c', script, broker.address])
    assert.equal(res.code, 0, res.stderr)
    const out = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { offsets: number[]; got: unknown[] }
    assert.deepEqual(
      out.offsets,
      Array.from({ length: 20 }, (_, i) => i),
    )
    assert.deepEqual(
      out.got,
      Array.from({ length: 20 }, (_, i) => [i, `k${i}`, i === 7 ? null : `v${i}`, [['i', String(i)]]]),
    )
    assert.equal(broker.highWatermark('py', 0), 20)
  })

  test('reads from a given offset what kcat wrote (one log, any client)', async () => {
    requireTool(PYTHON, 'python3-kafka')
    const kcat = which('kcat')
    requireTool(kcat, 'kcat')
    assert.equal((await run(kcat, ['-P', '-b', broker.address, '-t', 'mixed', '-K', ':'], 'a:1\nb:2\n')).code, 0)
    const script = `
import sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], auto_offset_reset='earliest', enable_auto_commit=False,
                  consumer_timeout_ms=3000)
tp = TopicPartition('mixed', 0)
c.assign([tp])
c.seek(tp, 1)
for m in c:
    print('%d %s %s' % (m.offset, m.key.decode(), m.value.decode()))
`
    const res = await run(PYTHON, ['-c', script, broker.address])
    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.stdout, '1 b 2\n')
  })
})

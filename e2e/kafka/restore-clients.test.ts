// Clients nobody here wrote judge what `everlog restore` writes into Apache Kafka: Kafka's own Java consumer,
// kafka-python 3.x and confluent-kafka from PyPI, and Debian's kcat each read the restored topic, and each must see
// the archive: per partition, in order, the same keys, values, headers and timestamps, at offsets 0, 1, 2, ...
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { openStore, PartitionWriter, writeTopicMeta } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import {
  javaConsume,
  kafkaMissing,
  missingPythonClient,
  missingTool,
  pythonClientVersion,
  pythonConsume,
  startKafka,
} from '@everlog/testkit'
import type { JavaRecord, KafkaBroker, PythonKafkaClient } from '@everlog/testkit'
import { everlog } from '../../packages/cli/test/support.js'

const TOPIC = 'judged'
const PARTITIONS = 3
const PER_PARTITION = 120
const T0 = 1_700_000_000_000

let kafka: KafkaBroker
let dir: string
let restored: string
/** What every reader must see: the archive renumbered from 0 per partition, in the Java clients' shape. */
const archived: JavaRecord[] = []

/** Records of every shape restore must carry: null and empty keys and values, repeated headers, odd timestamps. */
function record(partition: number, i: number): ArchiveRecord {
  return {
    // Kafka's offsets in the source had holes (compaction); the restored topic numbers them 0, 1, 2, ...
    offset: BigInt(i * 3 + partition),
    // Not monotonic: each record keeps its own CreateTime.
    timestamp: BigInt(T0 + i * 1000 + partition - (i % 7 === 0 ? 500_000 : 0)),
    key: i % 5 === 0 ? null : i % 5 === 1 ? Buffer.alloc(0) : Buffer.from(`key-${partition}-${i % 13}`),
    value:
      i % 11 === 3
        ? null
        : i % 11 === 4
          ? Buffer.alloc(0)
          : Buffer.from(`value-${partition}-${i}-ü-${'x'.repeat(i % 40)}`),
    headers:
      i % 3 === 0
        ? []
        : [
            ['n', Buffer.from(String(i))],
            ['n', Buffer.from('again')],
            ['trace', Buffer.from(`t${i}`)],
            ['empty', Buffer.alloc(0)],
          ],
  }
}

const b64 = (b: Buffer | null): string | null => (b === null ? null : b.toString('base64'))

const byPosition = (a: JavaRecord, b: JavaRecord) => a.partition - b.partition || a.offset - b.offset

function assertSameAsArchive(seen: JavaRecord[], reader: string): void {
  const got = [...seen].sort(byPosition)
  assert.equal(got.length, archived.length, `${reader}: record count`)
  for (let i = 0; i < got.length; i++) {
    assert.deepEqual(got[i], archived[i], `${reader}: record ${i} (partition ${archived[i]!.partition})`)
  }
}

describe('everlog restore into Apache Kafka, read by third-party clients', { skip: kafkaMissing() }, () => {
  before(async () => {
    kafka = await startKafka()
    dir = mkdtempSync(join(tmpdir(), 'everlog-restore-judges-'))
    const url = pathToFileURL(dir).href
    const store = openStore(url)
    await writeTopicMeta(store, { topic: TOPIC, partitions: PARTITIONS, cleanupPolicy: 'delete', configs: {} })
    for (let p = 0; p < PARTITIONS; p++) {
      const records = Array.from({ length: PER_PARTITION }, (_, i) => record(p, i))
      const writer = await PartitionWriter.open(store, { topic: TOPIC, partition: p, writer: 'test' })
      for (let i = 0; i < records.length; i += 50) await writer.appendSegment(records.slice(i, i + 50))
      records.forEach((r, i) =>
        archived.push({
          partition: p,
          offset: i,
          timestamp: Number(r.timestamp),
          key: b64(r.key),
          value: b64(r.value),
          headers: r.headers.map(([k, v]) => [k, b64(v)]),
        }),
      )
    }
    await store.close()
    // The command as a user runs it; zstd batches, so every reader also decompresses what kafkajs wrote.
    restored = 'judged-restored'
    const run = await everlog([
      'restore',
      ...['--store', url, '--brokers', kafka.bootstrap, '--topic', TOPIC, '--to-topic', restored],
      ...['--compression', 'zstd'],
    ])
    assert.equal(run.code, 0, `everlog restore failed:\n${run.stderr}`)
  })
  after(async () => {
    await kafka?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test("Kafka's Java consumer (kafka-clients) reads the archive back", async () => {
    assertSameAsArchive(await javaConsume(kafka.bootstrap, restored, 'read_committed'), 'java')
  })

  for (const client of ['kafka-python', 'confluent-kafka'] as PythonKafkaClient[]) {
    test(`${client} from PyPI reads the archive back`, { skip: missingPythonClient(client) }, async () => {
      const version = pythonClientVersion(client)
      if (client === 'kafka-python') assert.match(version, /^3\./, 'kafka-python 3.x (speaks Kafka 4)')
      assertSameAsArchive(await pythonConsume(client, kafka.bootstrap, restored), `${client} ${version}`)
    })
  }

  test(
    "Debian's kcat (librdkafka) reads the archive back",
    { skip: missingTool('/usr/bin/kcat', 'kcat') },
    async () => {
      // kcat's JSON carries keys, values and header values as text: the records above are valid UTF-8.
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(
          '/usr/bin/kcat',
          [
            '-C',
            '-b',
            kafka.bootstrap,
            '-t',
            restored,
            '-J',
            '-o',
            'beginning',
            '-e',
            '-q',
            '-X',
            'isolation.level=read_committed',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        )
        let stdout = ''
        let stderr = ''
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
        child.on('error', reject)
        child.on('close', (code) =>
          code === 0 ? resolve(stdout) : reject(new Error(`kcat exited ${code}: ${stderr}`)),
        )
      })
      const text = (s: string | null): string | null => (s === null ? null : Buffer.from(s, 'base64').toString('utf8'))
      const seen = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          const m = JSON.parse(l) as {
            partition: number
            offset: number
            ts: number
            key: string | null
            payload: string | null
            headers?: string[]
          }
          const headers: [string, string | null][] = []
          for (let i = 0; i < (m.headers ?? []).length; i += 2) headers.push([m.headers![i]!, m.headers![i + 1]!])
          return { partition: m.partition, offset: m.offset, timestamp: m.ts, key: m.key, value: m.payload, headers }
        })
        .sort(byPosition)
      const want = archived.map((r) => ({
        ...r,
        key: text(r.key),
        value: text(r.value),
        headers: r.headers.map(([k, v]) => [k, text(v)] as [string, string | null]),
      }))
      assert.equal(seen.length, want.length, 'kcat: record count')
      assert.deepEqual(seen, want)
    },
  )
})

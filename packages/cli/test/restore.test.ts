// everlog restore against the dev broker over TCP: identical records, an exact offset map over compaction holes,
// crash and abort mid-way resumed without duplicates or loss, non-empty targets, dry runs and --rate.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  ConditionalWritesUnsupportedError,
  DataLossError,
  openStore,
  PartitionWriter,
  rawRecordBytes,
  writeTopicMeta,
} from '@everlog/core'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import { Kafka, logLevel } from 'kafkajs'
import type { KafkaMessage } from 'kafkajs'
import { startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'
import { OffsetMapReader } from '@everlog/core'
import { RestoreConflictError, TargetNotEmptyError, UnproducibleRecordError } from '../src/restore/errors.js'
import { restoreTopic } from '../src/restore/restore.js'

const T0 = 1_700_000_000_000n

let broker: TestBroker
let kafka: Kafka
let dir: string
let store: ObjectStore

before(async () => {
  broker = await startTestBroker({ autoCreateTopics: false })
  kafka = new Kafka({
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 50 },
  })
  dir = await mkdtemp(join(tmpdir(), 'everlog-restore-'))
  store = openStore(pathToFileURL(dir).href)
})

after(async () => {
  await store.close()
  await broker.close()
  await rm(dir, { recursive: true, force: true })
})

function record(partition: number, offset: number, size = 0): ArchiveRecord {
  return {
    offset: BigInt(offset),
    // Not monotonic on purpose: a restore must keep each record's own CreateTime.
    timestamp: T0 + BigInt(offset * 1000 + partition) - (offset % 7 === 0 ? 500_000n : 0n),
    key: offset % 5 === 0 ? null : Buffer.from(`key-${partition}-${offset % 13}`),
    value: offset % 11 === 3 ? null : Buffer.from(`value-${partition}-${offset}-${'x'.repeat(size || offset % 40)}`),
    headers:
      offset % 3 === 0
        ? []
        : [
            ['n', Buffer.from(String(offset))],
            ['n', Buffer.from('again')],
            ['trace', Buffer.from([offset & 0xff, 0])],
          ],
  }
}

/** Archives records with PartitionWriter, `perSegment` records per segment; returns them by partition. */
async function archive(
  topic: string,
  partitions: number,
  offsets: (p: number) => number[],
  options: { perSegment?: number; size?: number; cleanupPolicy?: string } = {},
): Promise<Map<number, ArchiveRecord[]>> {
  await writeTopicMeta(store, {
    topic,
    partitions,
    cleanupPolicy: options.cleanupPolicy ?? 'delete',
    configs: { 'max.message.bytes': '2000000' },
  })
  const out = new Map<number, ArchiveRecord[]>()
  for (let p = 0; p < partitions; p++) {
    // Kafka refuses keyless records in a compacted topic, so a compacted source never holds one.
    const keyed = options.cleanupPolicy === 'compact'
    const records = offsets(p).map((o) => {
      const r = record(p, o, options.size)
      return keyed && r.key === null ? { ...r, key: Buffer.from(`key-${p}-${o % 13}`) } : r
    })
    const writer = await PartitionWriter.open(store, { topic, partition: p, writer: 'test' })
    const per = options.perSegment ?? 100
    for (let i = 0; i < records.length; i += per) await writer.appendSegment(records.slice(i, i + per))
    out.set(p, records)
  }
  return out
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i)

/** Every record of the topic, read with a kafkajs consumer from the beginning until `counts` are reached. */
async function consume(topic: string, counts: Map<number, number>): Promise<Map<number, KafkaMessage[]>> {
  const out = new Map<number, KafkaMessage[]>([...counts.keys()].map((p) => [p, []]))
  const consumer = kafka.consumer({ groupId: `check-${topic}-${Math.random()}`, maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let resolve!: () => void
  const done = new Promise<void>((r) => (resolve = r))
  const complete = () => [...counts].every(([p, n]) => out.get(p)!.length >= n)
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      out.get(batch.partition)?.push(...batch.messages)
      if (complete()) resolve()
    },
  })
  if (complete()) resolve()
  const timer = setTimeout(resolve, 20_000)
  await done
  clearTimeout(timer)
  // A moment more so that any duplicate beyond the expected count would show up.
  await new Promise((r) => setTimeout(r, 300))
  await consumer.disconnect()
  return out
}

function headersOf(r: ArchiveRecord): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of r.headers) {
    const hex = v!.toString('hex')
    const seen = out[k]
    out[k] = seen === undefined ? hex : Array.isArray(seen) ? [...seen, hex] : [seen, hex]
  }
  return out
}

function messageHeaders(m: KafkaMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    out[k] = Array.isArray(v) ? v.map((x) => Buffer.from(x).toString('hex')) : Buffer.from(v!).toString('hex')
  }
  return out
}

function assertSameRecords(messages: KafkaMessage[], records: ArchiveRecord[], what: string) {
  assert.equal(messages.length, records.length, `${what}: record count`)
  for (let i = 0; i < records.length; i++) {
    const m = messages[i]!
    const r = records[i]!
    const at = `${what} #${i} (source offset ${r.offset})`
    assert.equal(m.timestamp, r.timestamp.toString(), `${at}: timestamp`)
    assert.deepEqual(m.key, r.key, `${at}: key`)
    assert.deepEqual(m.value, r.value, `${at}: value`)
    assert.deepEqual(messageHeaders(m), headersOf(r), `${at}: headers`)
  }
}

async function assertMapExplains(
  target: string,
  source: string,
  p: number,
  messages: KafkaMessage[],
  records: ArchiveRecord[],
) {
  const reader = new OffsetMapReader(store)
  const m = await reader.manifest(target, source, p)
  assert.equal(m.records, records.length)
  const pairs: [bigint, bigint][] = []
  for await (const chunk of reader.entries(target, source, p)) {
    for (let i = 0; i < chunk.source.length; i++) pairs.push([chunk.source[i]!, chunk.target[i]!])
  }
  assert.deepEqual(
    pairs,
    records.map((r, i) => [r.offset, BigInt(messages[i]!.offset)]),
  )
}

describe('restore', () => {
  it('restores records identically into a new topic created like the source, and the map explains the offsets', async () => {
    const records = await archive('orders', 2, (p) => range(p === 0 ? 250 : 180), { perSegment: 60 })
    const notices: string[] = []
    const result = await restoreTopic({
      store,
      kafka,
      topic: 'orders',
      toTopic: 'orders-restored',
      partitions: [1, 0, 1],
      configs: { 'max.message.bytes': '', 'retention.ms': '-1' },
      onNotice: (m) => notices.push(m),
    })
    assert.deepEqual(notices, [
      'creating topic "orders-restored" with 2 partitions and configs cleanup.policy=delete retention.ms=-1',
    ])
    assert.equal(result.createTopic, true)
    assert.equal(result.records, 430)
    assert.deepEqual(
      result.partitions.map((p) => [p.partition, p.produced, p.sourceNext]),
      [
        [0, 250, 250n],
        [1, 180, 180n],
      ],
    )
    const admin = kafka.admin()
    await admin.connect()
    const meta = await admin.fetchTopicMetadata({ topics: ['orders-restored'] })
    assert.equal(meta.topics[0]!.partitions.length, 2)
    const configs = await admin.describeConfigs({
      resources: [{ type: 2, name: 'orders-restored' }],
      includeSynonyms: false,
    })
    const byName = new Map(configs.resources[0]!.configEntries.map((c) => [c.configName, c.configValue]))
    assert.equal(byName.get('cleanup.policy'), 'delete')
    assert.equal(byName.get('retention.ms'), '-1')
    assert.notEqual(byName.get('max.message.bytes'), '2000000', 'an empty --config value drops the archived one')
    await admin.disconnect()

    const got = await consume(
      'orders-restored',
      new Map([
        [0, 250],
        [1, 180],
      ]),
    )
    for (const p of [0, 1]) {
      assertSameRecords(got.get(p)!, records.get(p)!, `partition ${p}`)
      await assertMapExplains('orders-restored', 'orders', p, got.get(p)!, records.get(p)!)
    }
    // Running the same restore again finds nothing left to do and writes nothing.
    const again = await restoreTopic({ store, kafka, topic: 'orders', toTopic: 'orders-restored' })
    assert.equal(again.records, 0)
    assert.equal(await broker.highWatermark('orders-restored', 0), 250)
  })

  it('restores a compacted source (offset holes): the map is exact and holes translate to the next record', async () => {
    const offsets = range(400).filter((o) => o % 4 !== 1 && !(o >= 100 && o < 150))
    const records = (await archive('compacted', 1, () => offsets, { cleanupPolicy: 'compact' })).get(0)!
    await restoreTopic({ store, kafka, topic: 'compacted', toTopic: 'compacted-2', batchRecords: 37 })
    const got = await consume('compacted-2', new Map([[0, offsets.length]]))
    assertSameRecords(got.get(0)!, records, 'compacted')
    // Restored offsets are dense: 0..n-1.
    assert.deepEqual(
      got.get(0)!.map((m) => Number(m.offset)),
      range(offsets.length),
    )
    await assertMapExplains('compacted-2', 'compacted', 0, got.get(0)!, records)
    const reader = new OffsetMapReader(store)
    for (const [source, status] of [
      [0n, 'exact'],
      [1n, 'next'],
      [120n, 'next'],
      [399n, 'exact'],
    ] as const) {
      const t = await reader.translate('compacted-2', 'compacted', 0, source)
      const next = offsets.findIndex((o) => BigInt(o) >= source)
      assert.deepEqual([t.targetOffset, t.status], [BigInt(next), status], `source ${source}`)
    }
    const end = await reader.translate('compacted-2', 'compacted', 0, 400n)
    assert.deepEqual([end.targetOffset, end.status], [BigInt(offsets.length), 'end'])
  })

  it('resumes after a crash between a produce and the map commit: no duplicates, no loss', async () => {
    const records = (await archive('crashy', 1, () => range(3000), { perSegment: 500 })).get(0)!
    // The crash: after ~1700 records the archive stops taking writes and the run dies before committing the map.
    let broken = false
    const failing: ObjectStore = Object.create(store, {
      put: {
        value: (...a: Parameters<ObjectStore['put']>) =>
          broken ? Promise.reject(new Error('crash')) : store.put(...a),
      },
      putIfMatch: {
        value: (...a: Parameters<ObjectStore['putIfMatch']>) =>
          broken ? Promise.reject(new Error('crash')) : store.putIfMatch(...a),
      },
    })
    await assert.rejects(
      restoreTopic({
        store: failing,
        kafka,
        topic: 'crashy',
        toTopic: 'crashy-2',
        batchRecords: 100,
        mapFlushRecords: 500,
        mapFlushMs: 60_000,
        hooks: {
          afterSend: (_p, last) => {
            if (last >= 1699n) {
              broken = true
              throw new Error('crash')
            }
          },
        },
      }),
      /crash/,
    )
    const reader = new OffsetMapReader(store)
    const before = await reader.manifest('crashy-2', 'crashy', 0)
    assert.equal(before.sourceNext, 1500n, 'the map was last committed at 1500 records')
    assert.equal(await broker.highWatermark('crashy-2', 0), 1700, '200 records were produced after it')

    // An abort (Ctrl-C) of the resumed run, then a third run to the end.
    const controller = new AbortController()
    const notices: string[] = []
    await assert.rejects(
      restoreTopic({
        store,
        kafka,
        topic: 'crashy',
        toTopic: 'crashy-2',
        batchRecords: 100,
        signal: controller.signal,
        onNotice: (m) => notices.push(m),
        onProgress: (p) => {
          if (p.records >= 600) controller.abort()
        },
      }),
      { name: 'AbortError' },
    )
    assert.match(notices.join('\n'), /reconciling 200 record\(s\) of partition 0/)
    const mid = await reader.manifest('crashy-2', 'crashy', 0)
    assert.equal(mid.targetNext, BigInt(await broker.highWatermark('crashy-2', 0)), 'an abort commits the map first')
    const last = await restoreTopic({ store, kafka, topic: 'crashy', toTopic: 'crashy-2', batchRecords: 250 })
    assert.equal(last.partitions[0]!.reconciled, 0)
    assert.equal(await broker.highWatermark('crashy-2', 0), 3000)
    const got = await consume('crashy-2', new Map([[0, 3000]]))
    assertSameRecords(got.get(0)!, records, 'crashy')
    await assertMapExplains('crashy-2', 'crashy', 0, got.get(0)!, records)
  })

  it('refuses a non-empty target naming its high watermarks, unless told', async () => {
    const records = (await archive('busy', 1, () => range(50))).get(0)!
    await broker.createTopic('busy-2', { partitions: 1 })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'busy-2', messages: [{ value: 'already here' }, { value: 'me too' }] })
    await producer.disconnect()
    await assert.rejects(restoreTopic({ store, kafka, topic: 'busy', toTopic: 'busy-2' }), (err: Error) => {
      assert.ok(err instanceof TargetNotEmptyError)
      assert.match(err.message, /target topic "busy-2" is not empty \(high watermarks by partition 0:2\)/)
      assert.match(err.message, /--allow-non-empty/)
      return true
    })
    const result = await restoreTopic({ store, kafka, topic: 'busy', toTopic: 'busy-2', allowNonEmpty: true })
    assert.equal(result.records, 50)
    const got = await consume('busy-2', new Map([[0, 52]]))
    assertSameRecords(got.get(0)!.slice(2), records, 'busy')
    const t = await new OffsetMapReader(store).translate('busy-2', 'busy', 0, 0n)
    assert.deepEqual([t.targetOffset, t.status], [2n, 'exact'])
  })

  it('a dry run plans and writes nothing: no topic, no map', async () => {
    await archive('dry', 2, () => range(120), { perSegment: 50 })
    const result = await restoreTopic({ store, kafka, topic: 'dry', toTopic: 'dry-2', dryRun: true, fromOffset: 30n })
    assert.equal(result.dryRun, true)
    assert.equal(result.createTopic, true)
    assert.deepEqual(
      result.partitions.map((p) => [p.partition, p.fromOffset, p.toOffset, p.estimatedRecords]),
      [
        [0, 30n, 119n, 90],
        [1, 30n, 119n, 90],
      ],
    )
    const admin = kafka.admin()
    await admin.connect()
    assert.equal((await admin.listTopics()).includes('dry-2'), false)
    await admin.disconnect()
    const keys: string[] = []
    for await (const o of store.list('dry-2/')) keys.push(o.key)
    assert.deepEqual(keys, [])
  })

  it('restores a time range: --from-time inclusive, --to-time exclusive', async () => {
    const records = (await archive('timed', 1, () => range(100))).get(0)!
    // Timestamps step 1 s, but every 7th record is 500 s older: Kafka's semantics pick the first offset at/after t.
    const fromTs = T0 + 20_000n
    const toTs = T0 + 60_000n
    await restoreTopic({ store, kafka, topic: 'timed', toTopic: 'timed-2', fromTimestamp: fromTs, toTimestamp: toTs })
    const first = records.findIndex((r) => r.timestamp >= fromTs)
    const stop = records.findIndex((r) => r.timestamp >= toTs)
    const want = records.slice(first, stop)
    const got = await consume('timed-2', new Map([[0, want.length]]))
    assertSameRecords(got.get(0)!, want, 'timed')
  })

  it('keeps to --rate', async () => {
    // ~1.2 MB of values at 0.5 MB/s: about 2.4 s.
    const records = (await archive('rated', 1, () => range(600), { size: 2000, perSegment: 200 })).get(0)!
    const bytes = records.reduce((n, r) => n + rawRecordBytes(r), 0)
    const rate = 500_000
    const t0 = performance.now()
    const result = await restoreTopic({ store, kafka, topic: 'rated', toTopic: 'rated-2', rateBytesPerSecond: rate })
    const seconds = (performance.now() - t0) / 1000
    assert.equal(result.bytes, bytes)
    const measured = bytes / seconds
    assert.ok(measured <= rate * 1.5, `restored at ${Math.round(measured)} B/s, limit ${rate}`)
    assert.ok(measured >= rate * 0.3, `restored at ${Math.round(measured)} B/s: far below the limit ${rate}`)
  })

  it('resumes after the restore process is killed (SIGKILL) mid-way', async () => {
    const records = (await archive('killed', 1, () => range(3000), { size: 1000, perSegment: 500 })).get(0)!
    const root = fileURLToPath(new URL('../../../', import.meta.url))
    // The CLI's run() with the restore command, in a child process that gets SIGKILLed: no cleanup runs at all.
    const script = [
      `import { run } from ${JSON.stringify(new URL('../src/run.ts', import.meta.url).href)}`,
      `import { restoreCommand } from ${JSON.stringify(new URL('../src/commands/restore.ts', import.meta.url).href)}`,
      'process.exitCode = await run(process.argv.slice(1), { commands: [restoreCommand] })',
    ].join('\n')
    const args = ['restore', '--store', pathToFileURL(dir).href, '--brokers', broker.address, '--topic', 'killed']
    const child = spawn(
      process.execPath,
      ['--conditions=everlog-source', '--import', 'tsx', '--input-type=module', '-e', script, ...args, '--rate', '1'],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    const hw = async () => {
      try {
        return await broker.highWatermark('killed', 0)
      } catch {
        return 0
      }
    }
    const deadline = Date.now() + 30_000
    while ((await hw()) < 1200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    child.kill('SIGKILL')
    await exited
    const killedAt = await hw()
    assert.ok(killedAt >= 1200 && killedAt < 3000, `killed at high watermark ${killedAt}; child said: ${stderr}`)

    const result = await restoreTopic({ store, kafka, topic: 'killed' })
    const p = result.partitions[0]!
    // The child died between map commits (every 5 s): what it produced since was read back, not produced again.
    assert.ok(p.reconciled > 0, `reconciled ${p.reconciled}`)
    assert.equal(p.reconciled + p.produced + Number(p.manifest!.targetNext), 3000)
    assert.equal(await broker.highWatermark('killed', 0), 3000)
    const got = await consume('killed', new Map([[0, 3000]]))
    assertSameRecords(got.get(0)!, records, 'killed')
    await assertMapExplains('killed', 'killed', 0, got.get(0)!, records)
  })

  it('a deleted target is a conflict until --reset-map starts the map over', async () => {
    const records = (await archive('again', 1, () => range(40))).get(0)!
    await restoreTopic({ store, kafka, topic: 'again', toTopic: 'again-2' })
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({ topics: ['again-2'] })
    await admin.disconnect()
    await assert.rejects(restoreTopic({ store, kafka, topic: 'again', toTopic: 'again-2' }), (err: Error) => {
      assert.ok(err instanceof RestoreConflictError)
      assert.match(err.message, /target "again-2" partition 0 ends at offset 0 but the offset map .* up to 40/)
      return true
    })
    const result = await restoreTopic({ store, kafka, topic: 'again', toTopic: 'again-2', resetMap: true })
    assert.equal(result.records, 40)
    const got = await consume('again-2', new Map([[0, 40]]))
    assertSameRecords(got.get(0)!, records, 'again')
    await assertMapExplains('again-2', 'again', 0, got.get(0)!, records)
  })

  it('null header values stop the restore by default and become empty with nullHeaders empty', async () => {
    await writeTopicMeta(store, { topic: 'nullh', partitions: 1 })
    const writer = await PartitionWriter.open(store, { topic: 'nullh', partition: 0, writer: 'test' })
    const rec = (o: number, h: Buffer | null): ArchiveRecord => ({
      offset: BigInt(o),
      timestamp: T0,
      key: null,
      value: Buffer.from(`v${o}`),
      headers: [['h', h]],
    })
    await writer.appendSegment([rec(0, Buffer.from('x')), rec(1, null), rec(2, Buffer.from('y'))])
    await assert.rejects(restoreTopic({ store, kafka, topic: 'nullh', toTopic: 'nullh-2' }), (err: Error) => {
      assert.ok(err instanceof UnproducibleRecordError)
      assert.match(err.message, /nullh\/0 offset 1 has header "h" with a null value/)
      return true
    })
    // Records are converted before their produce request is sent: nothing of that request reached Kafka.
    assert.equal(await broker.highWatermark('nullh-2', 0), 0)
    await restoreTopic({ store, kafka, topic: 'nullh', toTopic: 'nullh-2', nullHeaders: 'empty' })
    const got = (await consume('nullh-2', new Map([[0, 3]]))).get(0)!
    assert.deepEqual(
      got.map((m) => [m.value!.toString(), m.headers!.h!.toString()]),
      [
        ['v0', 'x'],
        ['v1', ''],
        ['v2', 'y'],
      ],
    )
  })

  it('produce -> archive from Kafka -> delete the topic -> restore under the same name', async () => {
    await broker.createTopic('live', { partitions: 2, configs: { 'cleanup.policy': 'delete' } })
    const producer = kafka.producer()
    await producer.connect()
    for (let i = 0; i < 120; i += 30) {
      await producer.send({
        topic: 'live',
        messages: range(30, i).map((o) => ({
          partition: o % 2,
          key: o % 4 === 0 ? null : `key-${o}`,
          value: o % 9 === 0 ? null : `value-${o}`,
          headers: { a: `${o}`, b: [`x${o}`, `y${o}`] },
          timestamp: String(T0 + BigInt(o)),
        })),
      })
    }
    await producer.disconnect()
    // Archive what a consumer of the topic sees, with core's commit protocol.
    const seen = await consume(
      'live',
      new Map([
        [0, 60],
        [1, 60],
      ]),
    )
    await writeTopicMeta(store, { topic: 'live', partitions: 2, cleanupPolicy: 'delete' })
    const archivedRecords = new Map<number, ArchiveRecord[]>()
    for (const [p, messages] of seen) {
      const records = messages.map((m): ArchiveRecord => ({
        offset: BigInt(m.offset),
        timestamp: BigInt(m.timestamp),
        key: m.key ?? null,
        value: m.value,
        headers: Object.entries(m.headers ?? {}).flatMap(([k, v]) =>
          (Array.isArray(v) ? v : [v]).map((x): [string, Buffer] => [k, Buffer.from(x!)]),
        ),
      }))
      const writer = await PartitionWriter.open(store, { topic: 'live', partition: p, writer: 'test' })
      await writer.appendSegment(records)
      archivedRecords.set(p, records)
    }
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({ topics: ['live'] })
    await admin.disconnect()

    await restoreTopic({ store, kafka, topic: 'live' })
    const back = await consume(
      'live',
      new Map([
        [0, 60],
        [1, 60],
      ]),
    )
    for (const p of [0, 1]) {
      assertSameRecords(back.get(p)!, archivedRecords.get(p)!, `live/${p}`)
      // A fresh topic with nothing else in it: every record lands at its old offset.
      assert.deepEqual(
        back.get(p)!.map((m) => m.offset),
        seen.get(p)!.map((m) => m.offset),
      )
      await assertMapExplains('live', 'live', p, back.get(p)!, archivedRecords.get(p)!)
    }
  })

  it('a record someone else wrote after the last map commit stops the resume as a conflict', async () => {
    await archive('foreign', 1, () => range(300))
    let broken = false
    const failing: ObjectStore = Object.create(store, {
      put: {
        value: (...a: Parameters<ObjectStore['put']>) =>
          broken ? Promise.reject(new Error('crash')) : store.put(...a),
      },
      putIfMatch: {
        value: (...a: Parameters<ObjectStore['putIfMatch']>) =>
          broken ? Promise.reject(new Error('crash')) : store.putIfMatch(...a),
      },
    })
    await assert.rejects(
      restoreTopic({
        store: failing,
        kafka,
        topic: 'foreign',
        toTopic: 'foreign-2',
        batchRecords: 50,
        mapFlushRecords: 100,
        hooks: {
          afterSend: (_p, last) => {
            if (last >= 199n) {
              broken = true
              throw new Error('crash')
            }
          },
        },
      }),
      /crash/,
    )
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'foreign-2', messages: [{ partition: 0, value: 'not from the archive' }] })
    await producer.disconnect()
    await assert.rejects(restoreTopic({ store, kafka, topic: 'foreign', toTopic: 'foreign-2' }), (err: Error) => {
      assert.ok(err instanceof RestoreConflictError, String(err))
      assert.match(
        err.message,
        /target "foreign-2" partition 0 offset 200 is not the next archived record \(source offset 200\)/,
      )
      return true
    })
    assert.equal(await broker.highWatermark('foreign-2', 0), 201, 'nothing more was produced')
    assert.equal((await new OffsetMapReader(store).manifest('foreign-2', 'foreign', 0)).sourceNext, 100n)
  })

  it('a gap stops the restore at the gap unless skipped; the map commits what was restored', async () => {
    await writeTopicMeta(store, { topic: 'gappy', partitions: 1 })
    const writer = await PartitionWriter.open(store, { topic: 'gappy', partition: 0, writer: 'test' })
    const before = range(20).map((o) => record(0, o))
    const afterGap = range(20, 50).map((o) => record(0, o))
    await writer.appendSegment(before)
    await writer.appendGap({ firstOffset: 20n, lastOffset: 49n, reason: 'retention' })
    await writer.appendSegment(afterGap)
    await assert.rejects(restoreTopic({ store, kafka, topic: 'gappy', toTopic: 'gappy-2' }), (err: Error) => {
      assert.ok(err instanceof DataLossError)
      assert.match(err.message, /offsets 20\.\.49 of gappy\/0/)
      return true
    })
    const reader = new OffsetMapReader(store)
    assert.equal((await reader.manifest('gappy-2', 'gappy', 0)).sourceNext, 20n)
    const notices: string[] = []
    await restoreTopic({
      store,
      kafka,
      topic: 'gappy',
      toTopic: 'gappy-2',
      skipGaps: true,
      onNotice: (m) => notices.push(m),
    })
    assert.deepEqual(notices, ['skipped offsets 20..49 of gappy/0: not in the archive (retention)'])
    const got = await consume('gappy-2', new Map([[0, 40]]))
    assertSameRecords(got.get(0)!, [...before, ...afterGap], 'gappy')
    const t = await reader.translate('gappy-2', 'gappy', 0, 30n)
    assert.deepEqual([t.targetOffset, t.status], [20n, 'next'])
  })

  it('a partition that fails stops the others; each keeps a map of what it produced', async () => {
    await writeTopicMeta(store, { topic: 'halt', partitions: 2 })
    const p0 = await PartitionWriter.open(store, { topic: 'halt', partition: 0, writer: 'test' })
    await p0.appendSegment([{ ...record(0, 0), headers: [['h', null]] }])
    const p1 = await PartitionWriter.open(store, { topic: 'halt', partition: 1, writer: 'test' })
    await p1.appendSegment(range(400).map((o) => record(1, o, 2000)))
    await assert.rejects(
      restoreTopic({ store, kafka, topic: 'halt', toTopic: 'halt-2', rateBytesPerSecond: 400_000 }),
      UnproducibleRecordError,
    )
    const hw = await broker.highWatermark('halt-2', 1)
    assert.ok(hw < 400, `partition 1 stopped early (at ${hw})`)
    const m = await new OffsetMapReader(store).manifest('halt-2', 'halt', 1)
    assert.equal(m.targetNext, BigInt(hw))
    assert.equal(m.records, hw)
  })
})

describe('restore on a store that ignores conditional writes', () => {
  /** Delegates to the archive's store, but its conditional writes are plain writes. */
  const unconditional = (inner: ObjectStore): ObjectStore => ({
    url: inner.url,
    get: (k, r) => inner.get(k, r),
    head: (k) => inner.head(k),
    put: (k, b, o) => inner.put(k, b, o),
    putIfAbsent: (k, b, o) => inner.put(k, b, o),
    putIfMatch: (k, b, _e, o) => inner.put(k, b, o),
    list: (p, o) => inner.list(p, o),
    listPrefixes: (p) => inner.listPrefixes(p),
    delete: (k) => inner.delete(k),
    close: async () => {},
  })

  it('refuses before touching Kafka or the offset map, and runs as the single writer only when told', async () => {
    await archive('fence-src', 1, () => range(30))
    const admin = kafka.admin()
    await admin.connect()
    try {
      await assert.rejects(
        restoreTopic({ store: unconditional(store), kafka, topic: 'fence-src', toTopic: 'fence-dst' }),
        (err) => err instanceof ConditionalWritesUnsupportedError && /If-None-Match was not refused/.test(err.message),
      )
      assert.ok(!(await admin.listTopics()).includes('fence-dst'), 'no target topic was created')
      const notices: string[] = []
      const result = await restoreTopic({
        store: unconditional(store),
        kafka,
        topic: 'fence-src',
        toTopic: 'fence-dst',
        conditionalWrites: 'unsafe-single-writer',
        onNotice: (m) => notices.push(m),
      })
      assert.equal(result.records, 30)
      assert.ok(
        notices.some((m) => /^warning: the store .* does not honour If-None-Match and If-Match/.test(m)),
        notices.join('\n'),
      )
    } finally {
      await admin.disconnect()
    }
  })
})

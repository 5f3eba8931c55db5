// The restore commands as a user runs them (in process, through run()): backup-groups on the source cluster,
// restore into another cluster, offsets translate, and restore-groups so a consumer resumes at the right record.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { describeTopic, listTopics, openStore, PartitionWriter, writeTopicMeta } from '@everlog/core'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import { Kafka, logLevel } from 'kafkajs'
import type { KafkaMessage } from 'kafkajs'
import { startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'
import { offsetsCommand } from '../src/commands/offsets.js'
import { restoreCommand } from '../src/commands/restore.js'
import { backupGroupsCommand, restoreGroupsCommand } from '../src/commands/restore-groups.js'
import { defaultContext } from '../src/context.js'
import { run } from '../src/run.js'

const commands = [restoreCommand, offsetsCommand, backupGroupsCommand, restoreGroupsCommand]

let sourceBroker: TestBroker
let targetBroker: TestBroker
let dir: string
let url: string
let store: ObjectStore
const archived = new Map<number, ArchiveRecord[]>()

// Partition 0 was compacted: only every third offset survives. Partition 1 is dense.
const offsetsOf = (p: number) =>
  Array.from({ length: 300 }, (_, i) => i).filter((o) => p === 1 || o % 3 === 0 || o > 250)

function record(p: number, o: number): ArchiveRecord {
  return {
    offset: BigInt(o),
    timestamp: 1_700_000_000_000n + BigInt(o),
    key: Buffer.from(`k${p}-${o}`),
    value: o % 10 === 9 ? null : Buffer.from(`v${p}-${o}`),
    headers: [['src-offset', Buffer.from(String(o))]],
  }
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        append(chunk.toString())
        done()
      },
    })
  const context = {
    ...defaultContext({}),
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
  }
  const code = await run(args, { context, commands })
  return { code, stdout, stderr }
}

before(async () => {
  sourceBroker = await startTestBroker({ autoCreateTopics: false })
  targetBroker = await startTestBroker({ autoCreateTopics: false })
  dir = await mkdtemp(join(tmpdir(), 'everlog-restore-groups-'))
  url = pathToFileURL(dir).href
  store = openStore(url)
  await writeTopicMeta(store, { topic: 'events', partitions: 2, cleanupPolicy: 'compact' })
  for (const p of [0, 1]) {
    const records = offsetsOf(p).map((o) => record(p, o))
    const writer = await PartitionWriter.open(store, { topic: 'events', partition: p, writer: 'test' })
    for (let i = 0; i < records.length; i += 64) await writer.appendSegment(records.slice(i, i + 64))
    archived.set(p, records)
  }
})

after(async () => {
  await store.close()
  await sourceBroker.close()
  await targetBroker.close()
  await rm(dir, { recursive: true, force: true })
})

const kafkaOf = (b: TestBroker) =>
  new Kafka({ brokers: b.brokers, logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 50 } })

/** The first message a consumer of `group` gets on each partition of `topic`. */
async function firstMessages(kafka: Kafka, group: string, topic: string): Promise<Map<number, KafkaMessage>> {
  const got = new Map<number, KafkaMessage>()
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic] })
  let resolve!: () => void
  const done = new Promise<void>((r) => (resolve = r))
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (!got.has(batch.partition) && batch.messages.length > 0) got.set(batch.partition, batch.messages[0]!)
      if (got.size === 2) resolve()
    },
  })
  const timer = setTimeout(resolve, 20_000)
  await done
  clearTimeout(timer)
  await consumer.disconnect()
  return got
}

describe('restore commands', () => {
  it('moves a consumer group across a restore so it resumes at the record it had reached', async () => {
    const source = kafkaOf(sourceBroker)
    await sourceBroker.createTopic('events', { partitions: 2 })
    const admin = source.admin()
    await admin.connect()
    // p0: 100 was compacted away (100 % 3 === 1): the group resumes at 102, the next surviving record.
    await admin.setOffsets({
      groupId: 'app',
      topic: 'events',
      partitions: [
        { partition: 0, offset: '100' },
        { partition: 1, offset: '37' },
      ],
    })
    await admin.disconnect()

    const backup = await cli(['backup-groups', '--store', url, '--brokers', sourceBroker.address, '--groups', 'app'])
    assert.equal(backup.code, 0, backup.stderr)
    assert.match(backup.stdout, /app\s+events\s+2\s+events\/groups\/group=app\/\d{8}T\d{6}\.\d{3}Z\.json/)

    const dry = await cli([
      'restore',
      '--store',
      url,
      '--brokers',
      targetBroker.address,
      '--topic',
      'events',
      '--dry-run',
    ])
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, /would create topic "events" with 2 partitions and configs cleanup\.policy=compact/)
    assert.match(dry.stdout, /dry run: nothing was written/)

    const restored = await cli(['restore', '--store', url, '--brokers', targetBroker.address, '--topic', 'events'])
    assert.equal(restored.code, 0, restored.stderr)
    const total = offsetsOf(0).length + offsetsOf(1).length
    assert.match(restored.stdout, new RegExp(`restored ${total} records .* of "events" into "events"`))
    assert.equal(await targetBroker.highWatermark('events', 0), offsetsOf(0).length)

    const exact = offsetsOf(0).indexOf(99)
    const t = await cli([
      'offsets',
      'translate',
      '--store',
      url,
      '--topic',
      'events',
      '--partition',
      '0',
      '--offset',
      '99',
    ])
    assert.equal(t.code, 0, t.stderr)
    assert.equal(t.stdout, `events/0@99 -> events/0@${exact} (exact)\n`)
    const hole = await cli([
      'offsets',
      'translate',
      '--store',
      url,
      '--topic',
      'events',
      '--partition',
      '0',
      '--offset',
      '100',
      '--json',
    ])
    assert.deepEqual(JSON.parse(hole.stdout), {
      sourceTopic: 'events',
      targetTopic: 'events',
      partition: 0,
      sourceOffset: '100',
      targetOffset: String(exact + 1),
      status: 'next',
    })

    const groups = await cli(['restore-groups', '--store', url, '--brokers', targetBroker.address, '--groups', 'app'])
    assert.equal(groups.code, 0, groups.stderr)
    assert.match(groups.stdout, new RegExp(`app\\s+events/0\\s+100\\s+events/0\\s+${exact + 1}\\s+next`))
    assert.match(groups.stdout, /app\s+events\/1\s+37\s+events\/1\s+37\s+exact/)

    const first = await firstMessages(kafkaOf(targetBroker), 'app', 'events')
    assert.equal(first.get(0)?.key?.toString(), 'k0-102')
    assert.equal(first.get(1)?.key?.toString(), 'k1-37')
    assert.equal(first.get(0)?.headers?.['src-offset']?.toString(), '102')
  })

  it('refuses to set offsets of a group with running consumers, and explains bad input in one line', async () => {
    const target = kafkaOf(targetBroker)
    const consumer = target.consumer({ groupId: 'app', maxWaitTimeInMs: 50 })
    await consumer.connect()
    await consumer.subscribe({ topics: ['events'] })
    let joined!: () => void
    const ready = new Promise<void>((r) => (joined = r))
    consumer.on(consumer.events.GROUP_JOIN, () => joined())
    await consumer.run({ autoCommit: false, eachBatch: async () => {} })
    await ready
    try {
      const busy = await cli(['restore-groups', '--store', url, '--brokers', targetBroker.address, '--groups', 'app'])
      assert.equal(busy.code, 2)
      assert.match(busy.stderr, /consumer group\(s\) "app" \(Stable, 1 member\(s\)\) have running consumers/)
    } finally {
      await consumer.disconnect()
    }
    const missing = await cli([
      'restore-groups',
      '--store',
      url,
      '--brokers',
      targetBroker.address,
      '--groups',
      'nobody',
      '--topic',
      'events',
    ])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /no offset snapshot of consumer group "nobody" on topic "events"/)
    const nonEmpty = await cli([
      'restore',
      '--store',
      url,
      '--brokers',
      targetBroker.address,
      '--topic',
      'events',
      '--to-topic',
      'events',
      '--reset-map',
    ])
    assert.equal(nonEmpty.code, 2)
    assert.match(
      nonEmpty.stderr,
      /^everlog: target topic "events" is not empty \(high watermarks by partition 0:\d+ 1:300\)/,
    )
    const noBrokers = await cli(['restore', '--store', url, '--topic', 'events'])
    assert.equal(noBrokers.code, 2)
    assert.match(noBrokers.stderr, /--brokers host:port\[,host:port\] is required/)
  })

  it('after a restore under another name: ls still lists, restore-groups finds it without --topic', async () => {
    const copy = await cli([
      'restore',
      '--store',
      url,
      '--brokers',
      targetBroker.address,
      '--topic',
      'events',
      '--to-topic',
      'events-copy',
    ])
    assert.equal(copy.code, 0, copy.stderr)
    // The archive now holds events-copy/offset-map/ (no topic.json): not an archived topic, and no reason to fail.
    assert.deepEqual(await listTopics(store), ['events'])
    assert.equal((await describeTopic(store, 'events')).partitions.length, 2)
    const groups = await cli([
      'restore-groups',
      '--store',
      url,
      '--brokers',
      targetBroker.address,
      '--groups',
      'app',
      '--dry-run',
    ])
    assert.equal(groups.code, 0, groups.stderr)
    assert.match(groups.stdout, /app\s+events\/1\s+37\s+events-copy\/1\s+37\s+exact/)
    const nope = await cli([
      'backup-groups',
      '--store',
      url,
      '--brokers',
      sourceBroker.address,
      '--groups',
      'app',
      '--topics',
      'events,nope',
    ])
    assert.equal(nope.code, 2)
    assert.equal(nope.stderr, 'everlog: --topics: "nope" is not a topic of the cluster\n')
  })
})

// `everlog gc` and verify's unreferenced count on an archive on disk with a crash leftover (a segment uploaded by a
// commit that never reached HEAD), aged past the grace period. Commands run in process (the CLI's `run`), except one
// real process for the whole path a user takes.
import assert from 'node:assert/strict'
import { mkdtemp, rm, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { FileStore, PartitionWriter, writeTopicMeta } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { Writable } from 'node:stream'
import { defaultContext } from '../src/context.js'
import { run } from '../src/run.js'
import { everlog } from './support.js'
import type { EverlogRun } from './support.js'

async function inProcess(args: string[]): Promise<EverlogRun> {
  let stdout = ''
  let stderr = ''
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        add(chunk.toString())
        done()
      },
    })
  const context = { ...defaultContext({}), stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) }
  return { code: await run(args, { context }), stdout, stderr }
}

let dir: string
let url: string
let leftover: string

const records = (from: number, n: number): ArchiveRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    offset: BigInt(from + i),
    timestamp: 1_700_000_000_000n + BigInt(from + i),
    key: null,
    value: Buffer.from(`v${from + i}`),
    headers: [],
  }))

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'everlog-cli-gc-'))
  url = pathToFileURL(dir).href
  const store = new FileStore(dir, { fsync: false })
  await writeTopicMeta(store, { topic: 'orders', partitions: 1 })
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'test' })
  await w.appendSegment(records(0, 10))
  // The process dies after uploading the next segment, before its HEAD write.
  const crashing = await PartitionWriter.open(store, {
    topic: 'orders',
    partition: 0,
    writer: 'test',
    hooks: {
      beforeHeadWrite: () => {
        throw new Error('crash')
      },
    },
  })
  await assert.rejects(crashing.appendSegment(records(10, 5)), /crash/)
  const restarted = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'test' })
  await restarted.appendSegment(records(10, 7))
  const keys: string[] = []
  for await (const info of store.list('orders/data/')) keys.push(info.key)
  leftover = keys.find((k) => k.includes('00000000000000000010-'))!
  assert.equal(keys.filter((k) => k.includes('00000000000000000010-')).length, 2, 'two segments start at 10')
})
after(() => rm(dir, { recursive: true, force: true }))

test('verify counts unreferenced objects without failing; gc keeps young ones, then lists and deletes old ones', async () => {
  const verify = await inProcess(['verify', '--store', url])
  assert.equal(verify.code, 0, verify.stderr)
  assert.match(verify.stdout, /^unreferenced: [1-9]\d* objects, .* that no HEAD reaches/m)

  const young = await inProcess(['gc', '--store', url, '--apply'])
  assert.equal(young.code, 0, young.stderr)
  assert.equal(young.stdout, '')
  assert.match(young.stderr, /gc deleted 0 unreferenced objects, 0 B; [1-9]\d* younger than --grace kept/)

  // Age every leftover (the crashed segment and its index nodes) past the grace period.
  const store = new FileStore(dir, { fsync: false })
  const referenced = new Set<string>()
  for await (const info of store.list('orders/')) referenced.add(info.key)
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
  for (const key of referenced) await utimes(join(dir, ...key.split('/')), twoHoursAgo, twoHoursAgo)

  const dry = await inProcess(['gc', '--store', url])
  assert.equal(dry.code, 0, dry.stderr)
  assert.match(dry.stdout, new RegExp(`^would delete ${leftover} \\(segment, `, 'm'))
  assert.match(dry.stderr, /gc dry run: [1-9]\d* unreferenced objects, .* would be deleted \(run again with --apply\)/)
  assert.ok(await store.head(leftover), 'a dry run deletes nothing')

  const json = JSON.parse((await inProcess(['gc', '--store', url, '--json'])).stdout) as {
    collectable: { objects: number; bytes: number }
    applied: boolean
  }
  assert.equal(json.applied, false)

  const applied = await everlog(['gc', '--store', url, '--apply', '--grace', '90m'])
  assert.equal(applied.code, 0, applied.stderr)
  assert.match(applied.stdout, new RegExp(`^deleted ${leftover} `, 'm'))
  assert.match(applied.stderr, new RegExp(`gc deleted ${json.collectable.objects} unreferenced objects`))
  assert.equal(await store.head(leftover), undefined)

  const after = await inProcess(['verify', '--store', url])
  assert.equal(after.code, 0, after.stderr)
  assert.doesNotMatch(after.stdout, /unreferenced/)
  assert.match(after.stdout, /17 records/)

  const bad = await inProcess(['gc', '--store', url, '--grace', '10s'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /shorter than a minute/)
})

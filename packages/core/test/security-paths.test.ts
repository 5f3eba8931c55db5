// Object keys are built only from validated topic names and partitions: "../", absolute paths, NUL, backslashes and
// "."/".." topic names are refused at every entry point of core, and nothing is ever written outside the store root.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { describeTopic, listPartitions, readTopicMeta, writeTopicMeta } from '../src/catalog.js'
import { InvalidArgumentError, InvalidStoreUrlError, InvalidTopicNameError } from '../src/errors.js'
import { readHead } from '../src/head.js'
import { headKey, nodeKey, parseSegmentKey, segmentKey, topicDataPrefix, topicMetaKey } from '../src/layout.js'
import { PartitionWriter } from '../src/partition-writer.js'
import { ArchiveReader } from '../src/reader.js'
import { FileStore } from '../src/store/file.js'
import { MemoryStore } from '../src/store/memory.js'
import { openStore, parseStoreUrl } from '../src/store/open.js'
import { S3Store } from '../src/store/s3.js'
import type { ObjectStore } from '../src/store/types.js'
import { startS3Server } from '../src/testing/s3-server.js'
import { verifyArchive } from '../src/verify.js'

const HOSTILE_TOPICS = [
  '..',
  '.',
  '../etc',
  '../../outside',
  'a/../../b',
  '/etc/passwd',
  '/tmp',
  'a\0b',
  '\0',
  'a\\..\\b',
  '..\\..\\x',
  'C:\\Windows',
  'a/b',
  '',
  ' ',
  'orders\n',
  '%2e%2e',
  'ä',
  'x'.repeat(250),
]

const HOSTILE_KEYS = [
  '../outside',
  '../../outside',
  'a/../../outside',
  'a/./b',
  '/etc/passwd',
  '//x',
  'a//b',
  'a\\..\\..\\outside',
  'a\0b',
  '.',
  '..',
  'a/..',
  '',
]

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** A store root inside a parent holding a sentinel sibling: anything escaping the root shows up in the parent. */
async function sandbox(): Promise<{ parent: string; root: string; store: FileStore }> {
  const parent = await mkdtemp(join(tmpdir(), 'everlog-traversal-'))
  dirs.push(parent)
  const root = join(parent, 'root')
  await mkdir(root)
  await mkdir(join(parent, 'sentinel'))
  return { parent, root, store: new FileStore(root, { fsync: false }) }
}

const record = { offset: 0n, timestamp: 1n, key: null, value: Buffer.from('v'), headers: [] }

test('layout builds no key from a hostile topic name', () => {
  for (const topic of HOSTILE_TOPICS) {
    for (const build of [
      () => topicMetaKey(topic),
      () => topicDataPrefix(topic),
      () => headKey(topic, 0),
      () => nodeKey(topic, 0, 'a'.repeat(64)),
      () => segmentKey(topic, 0, 0n, 'a'.repeat(64)),
    ]) {
      assert.throws(build, InvalidTopicNameError, JSON.stringify(topic))
    }
  }
  for (const partition of [-1, 1.5, Number.NaN, 2 ** 31, Number.POSITIVE_INFINITY]) {
    assert.throws(() => headKey('orders', partition), InvalidArgumentError)
  }
})

test('parseSegmentKey accepts no "." or ".." topic (a hostile index entry must not name a path outside)', () => {
  const h = 'a'.repeat(64)
  const pad = '0'.repeat(20)
  assert.ok(parseSegmentKey(`orders/data/partition=0/${pad}-${h}.parquet`))
  for (const topic of ['..', '.']) {
    assert.equal(parseSegmentKey(`${topic}/data/partition=0/${pad}-${h}.parquet`), undefined, topic)
  }
  assert.equal(parseSegmentKey(`a/../data/partition=0/${pad}-${h}.parquet`), undefined)
})

test('every store refuses hostile keys and prefixes before touching anything', async (t) => {
  const { parent, store: file } = await sandbox()
  const server = await startS3Server()
  t.after(() => server.close())
  const s3 = new S3Store({ bucket: server.bucket!, prefix: 'p/' }, server.clientConfig())
  t.after(() => s3.close())
  const stores: ObjectStore[] = [file, new MemoryStore(), s3]
  for (const store of stores) {
    for (const key of HOSTILE_KEYS) {
      const ops: [string, () => Promise<unknown>][] = [
        ['get', () => store.get(key)],
        ['head', () => store.head(key)],
        ['put', () => store.put(key, Buffer.from('x'))],
        ['putIfAbsent', () => store.putIfAbsent(key, Buffer.from('x'))],
        ['putIfMatch', () => store.putIfMatch(key, Buffer.from('x'), '"e"')],
        ['delete', () => store.delete(key)],
      ]
      for (const [op, run] of ops) {
        await assert.rejects(run(), InvalidArgumentError, `${store.url} ${op} ${JSON.stringify(key)}`)
      }
    }
    for (const prefix of ['../', '/abs', 'a/../', 'a\0', 'a\\b']) {
      await assert.rejects(store.listPrefixes(prefix), InvalidArgumentError)
      await assert.rejects(
        (async () => {
          for await (const _ of store.list(prefix)) void _
        })(),
        InvalidArgumentError,
      )
    }
  }
  // Nothing reached the S3 endpoint, and nothing appeared next to the file store's root.
  assert.deepEqual(
    server.requests.filter((r) => r.key !== undefined && r.key !== ''),
    [],
  )
  assert.deepEqual((await readdir(parent)).sort(), ['root', 'sentinel'])
})

test('PartitionWriter, ArchiveReader, catalog and verify refuse hostile topic names; nothing escapes the root', async () => {
  const { parent, root, store } = await sandbox()
  const reader = new ArchiveReader(store)
  for (const topic of HOSTILE_TOPICS) {
    const name = JSON.stringify(topic)
    await assert.rejects(PartitionWriter.open(store, { topic, partition: 0, writer: 'w' }), InvalidTopicNameError, name)
    await assert.rejects(writeTopicMeta(store, { topic, partitions: 1 }), InvalidTopicNameError, name)
    await assert.rejects(readTopicMeta(store, topic), InvalidTopicNameError, name)
    await assert.rejects(readHead(store, topic, 0), InvalidTopicNameError, name)
    await assert.rejects(describeTopic(store, topic), InvalidTopicNameError, name)
    await assert.rejects(listPartitions(store, topic), InvalidTopicNameError, name)
    await assert.rejects(verifyArchive(store, { topic }), InvalidTopicNameError, name)
    await assert.rejects(reader.head(topic, 0), InvalidTopicNameError, name)
    await assert.rejects(
      (async () => {
        for await (const _ of reader.read({ topic, partition: 0 })) void _
      })(),
      InvalidTopicNameError,
      name,
    )
  }
  // A legitimate write still works, and only inside the root.
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'w' })
  await w.appendSegment([record])
  assert.deepEqual((await readdir(parent)).sort(), ['root', 'sentinel'])
  assert.deepEqual((await readdir(root)).filter((n) => !n.startsWith('.')).sort(), ['everlog.json', 'orders'])
})

test('store URLs: relative paths, hosts, credentials and traversal in S3 prefixes are refused', () => {
  for (const url of [
    'file://../x',
    'file:relative',
    'file://host/abs',
    'relative/path',
    's3://user:secret@bucket/p',
    's3://bucket/../x',
    's3://bucket/a/%2e%2e/b',
    's3://bucket/a%00b',
    's3://bucket/a\\b',
    's3://Bad_Bucket/x',
    's3://bucket/p?x=1',
    'ftp://x',
    '',
  ]) {
    assert.throws(() => parseStoreUrl(url), InvalidStoreUrlError, url)
  }
  // The message never echoes credentials pasted into a URL.
  assert.throws(
    () => openStore('s3://AKIAEXAMPLE:wJalrXUtnFEMIsecret@bucket/p'),
    (err: unknown) => err instanceof InvalidStoreUrlError && !/wJalrXUtnFEMIsecret/.test(err.message),
  )
  assert.equal(parseStoreUrl(pathToFileURL('/tmp/a/../b').href).scheme, 'file')
})

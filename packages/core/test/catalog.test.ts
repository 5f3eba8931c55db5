import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  describeTopic,
  ensureArchive,
  listPartitions,
  listTopics,
  readDescriptor,
  readTopicMeta,
  writeTopicMeta,
} from '../src/catalog.js'
import { FormatError, UnknownTopicError, UnsupportedFormatVersionError } from '../src/errors.js'
import { emptyHead, encodeHead } from '../src/head.js'
import { DESCRIPTOR_KEY, headKey, nodeKey } from '../src/layout.js'
import { MemoryStore } from '../src/store/memory.js'

test('ensureArchive creates everlog.json once and accepts its own format', async () => {
  const store = new MemoryStore()
  assert.equal(await readDescriptor(store), undefined)
  const results = await Promise.all([ensureArchive(store), ensureArchive(store), ensureArchive(store)])
  for (const r of results) assert.deepEqual(r, { format: 1 })
  assert.deepEqual(JSON.parse((await store.get(DESCRIPTOR_KEY)).body.toString()), { format: 1 })
})

test('ensureArchive refuses a store whose descriptor has an unknown format or is not JSON', async () => {
  const store = new MemoryStore()
  await store.put(DESCRIPTOR_KEY, Buffer.from('{"format":7}'))
  await assert.rejects(ensureArchive(store), UnsupportedFormatVersionError)
  await store.put(DESCRIPTOR_KEY, Buffer.from('not json'))
  await assert.rejects(
    ensureArchive(store),
    (err: unknown) => err instanceof FormatError && /everlog.json/.test(err.message),
  )
})

test('topic.json round-trips; listTopics and describeTopic show partitions with their HEADs', async () => {
  const store = new MemoryStore()
  assert.deepEqual(await listTopics(store), [])
  await writeTopicMeta(store, {
    topic: 'orders',
    partitions: 3,
    cleanupPolicy: 'compact',
    topicId: 'o0B89_NfTB6VpgTHnWAvlg',
    configs: { 'retention.ms': '1' },
  })
  assert.deepEqual(await readTopicMeta(store, 'orders'), {
    format: 1,
    topic: 'orders',
    partitions: 3,
    cleanupPolicy: 'compact',
    topicId: 'o0B89_NfTB6VpgTHnWAvlg',
    configs: { 'retention.ms': '1' },
  })
  assert.equal(await readTopicMeta(store, 'other'), undefined)
  // A topic that only has index objects (no topic.json) is listed too; a partition beyond topic.json's count as well.
  const head = { ...emptyHead('w'), nextOffset: 10n }
  await store.put(headKey('clicks', 4), encodeHead(head))
  await store.put(nodeKey('orders', 5, 'ab'.repeat(32)), Buffer.from('x'))
  assert.deepEqual(await listTopics(store), ['clicks', 'orders'])
  assert.deepEqual(await listPartitions(store, 'orders'), [5])
  const clicks = await describeTopic(store, 'clicks')
  assert.equal(clicks.meta, undefined)
  assert.deepEqual(clicks.partitions, [{ partition: 4, head }])
  const orders = await describeTopic(store, 'orders')
  assert.deepEqual(
    orders.partitions.map((p) => [p.partition, p.head]),
    [
      [0, undefined],
      [1, undefined],
      [2, undefined],
      [5, undefined],
    ],
  )
  await assert.rejects(describeTopic(store, 'nope'), (err: unknown) => {
    assert.ok(err instanceof UnknownTopicError)
    assert.match(err.message, /"nope" is not in the archive/)
    return true
  })
})

test('a folder holding only a restore offset map is not listed as an archived topic', async () => {
  const store = new MemoryStore()
  await writeTopicMeta(store, { topic: 'orders', partitions: 1, cleanupPolicy: 'delete', configs: {} })
  await store.put('orders-restored/offset-map/source=orders/partition=0/chunk', Buffer.from('x'))
  assert.deepEqual(await listTopics(store), ['orders'])
  // Once the restored topic is archived itself, it is listed.
  await store.put(headKey('orders-restored', 0), encodeHead({ ...emptyHead('w'), nextOffset: 1n }))
  assert.deepEqual(await listTopics(store), ['orders', 'orders-restored'])
})

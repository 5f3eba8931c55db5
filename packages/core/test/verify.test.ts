import assert from 'node:assert/strict'
import { test } from 'node:test'
import { UnknownTopicError } from '../src/errors.js'
import { encodeHead, readHead } from '../src/head.js'
import { decodeNode, encodeNode } from '../src/index/index.js'
import { headKey, nodeKey } from '../src/layout.js'
import { PartitionWriter } from '../src/partition-writer.js'
import type { ArchiveRecord } from '../src/record.js'
import { MemoryStore } from '../src/store/memory.js'
import { verifyArchive } from '../src/verify.js'
import { readFileSync } from 'node:fs'
import { sha256Hex } from '../src/hash.js'
import { rawRecordBytes } from '../src/record.js'
import { assembleSegment, decodeSegment, encodePackedRowGroup } from '../src/segment/index.js'
import type { VerifyProgress } from '../src/verify.js'

const T0 = 1_700_000_000_000n

function records(from: number, count: number): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: BigInt(from + i),
    timestamp: T0 + BigInt((from + i) % 13) * 1000n,
    key: Buffer.from(`k${from + i}`),
    value: Buffer.from(`v${from + i}`),
    headers: [],
  }))
}

async function archive(): Promise<MemoryStore> {
  const store = new MemoryStore()
  for (const partition of [0, 1]) {
    const w = await PartitionWriter.open(store, { topic: 'orders', partition, writer: 't', fanout: 2 })
    for (let s = 0; s < 5; s++) await w.appendSegment(records(s * 10, 10))
    await w.appendGap({ firstOffset: 50n, lastOffset: 59n, reason: 'retention' })
    await w.appendSegment(records(60, 10))
  }
  const w = await PartitionWriter.open(store, { topic: 'clicks', partition: 0, writer: 't' })
  await w.appendSegment(records(0, 3))
  return store
}

async function segmentKeys(store: MemoryStore, topic: string, partition: number): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list(`${topic}/data/partition=${partition}/`)) keys.push(o.key)
  return keys
}

test('a sound archive verifies with every object counted', async () => {
  const store = await archive()
  const progress: VerifyProgress[] = []
  const r = await verifyArchive(store, { onProgress: (p) => progress.push(p) })
  assert.deepEqual(r.problems, [])
  assert.equal(r.ok, true)
  assert.equal(r.checked.topics, 2)
  assert.equal(r.checked.partitions, 3)
  assert.equal(r.checked.segments, 13)
  assert.equal(r.checked.gaps, 2)
  assert.equal(r.checked.records, 123)
  assert.ok(r.checked.nodes >= 7)
  assert.ok(progress.length >= 13)
  assert.equal(progress.at(-1)!.records, 123)
  const only = await verifyArchive(store, { topic: 'clicks' })
  assert.deepEqual([only.ok, only.checked.partitions, only.checked.records], [true, 1, 3])
  await assert.rejects(verifyArchive(store, { topic: 'nope' }), UnknownTopicError)
})

test('a flipped byte in a segment is reported against that segment', async () => {
  const store = await archive()
  const key = (await segmentKeys(store, 'orders', 1))[2]!
  const body = (await store.get(key)).body
  body[body.length >> 1]! ^= 0x01
  await store.put(key, body)
  const r = await verifyArchive(store)
  assert.equal(r.ok, false)
  assert.equal(r.problems.length, 1)
  assert.equal(r.problems[0]!.key, key)
  assert.match(r.problems[0]!.message, /segment .* is unreadable/)
})

test('a missing segment and a corrupt index node are named', async () => {
  const store = await archive()
  const missing = (await segmentKeys(store, 'orders', 0))[0]!
  await store.delete(missing)
  const head = (await readHead(store, 'orders', 1))!.head
  const rootKey = nodeKey('orders', 1, head.root!)
  const body = (await store.get(rootKey)).body
  body[body.length - 1]! ^= 0x80
  await store.put(rootKey, body)
  const r = await verifyArchive(store)
  assert.deepEqual(
    r.problems.map((p) => p.key),
    [missing, rootKey],
  )
  assert.match(r.problems[1]!.message, /corrupt/)
})

test('aggregates that disagree with the data are caught in a node and in HEAD', async () => {
  const store = await archive()
  const { head, etag } = (await readHead(store, 'orders', 0))!
  // A validly hashed root whose claim about its first child is wrong.
  const root = decodeNode((await store.get(nodeKey('orders', 0, head.root!))).body)
  assert.ok('children' in root)
  root.children[0]!.records += 1
  const forged = encodeNode(root)
  await store.put(nodeKey('orders', 0, forged.hash), forged.bytes)
  await store.putIfMatch(headKey('orders', 0), encodeHead({ ...head, root: forged.hash }), etag)
  let r = await verifyArchive(store, { topic: 'orders' })
  assert.equal(r.problems.length, 1)
  assert.equal(r.problems[0]!.key, nodeKey('orders', 0, forged.hash))
  assert.match(r.problems[0]!.message, /records is \d+ but the data says \d+/)

  // Put the true root back but lie in HEAD.
  const cur = (await readHead(store, 'orders', 0))!
  await store.putIfMatch(
    headKey('orders', 0),
    encodeHead({ ...head, records: head.records + 5, maxTimestamp: T0 }),
    cur.etag,
  )
  r = await verifyArchive(store, { topic: 'orders' })
  assert.equal(r.problems[0]!.key, headKey('orders', 0))
  assert.match(
    r.problems[0]!.message,
    /HEAD of orders\/0 disagrees with its index: records is 65 but the data says 60; maxTimestamp/,
  )
})

test('an unparsable HEAD is a problem, not a crash', async () => {
  const store = await archive()
  await store.put(headKey('clicks', 0), Buffer.from('{"format":1}'))
  const r = await verifyArchive(store)
  assert.deepEqual(
    r.problems.map((p) => p.key),
    [headKey('clicks', 0)],
  )
})

test('--deep: a segment with an LZ4 page other engines reject fails, naming the object, row group and column', async () => {
  // Written by Everlog's writer before its LZ4 encoder was replaced: some of its LZ4 blocks start a match 10 or 11
  // bytes before the block's end, which the block format forbids; pyarrow and DuckDB refuse the file.
  const bytes = readFileSync(new URL('./fixtures/lz4js-segment.parquet', import.meta.url))
  const decoded = decodeSegment(bytes)
  assert.equal(decoded.length, 3)
  const store = new MemoryStore()
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 't' })
  await w.appendSegment(records(0, 10))
  const timestamps = decoded.map((r) => r.timestamp)
  await w.commitSegment({
    bytes,
    sha256: sha256Hex(bytes),
    firstOffset: decoded[0]!.offset,
    lastOffset: decoded.at(-1)!.offset,
    records: decoded.length,
    rawBytes: decoded.reduce((n, r) => n + rawRecordBytes(r), 0),
    minTimestamp: timestamps.reduce((a, b) => (a < b ? a : b)),
    maxTimestamp: timestamps.reduce((a, b) => (a > b ? a : b)),
  })
  await w.appendSegment(records(200, 5))
  // Everlog itself reads it, so the plain walk finds nothing wrong.
  const plain = await verifyArchive(store)
  assert.deepEqual(plain.problems, [])
  const deep = await verifyArchive(store, { deep: true })
  assert.equal(deep.ok, false)
  assert.equal(deep.checked.segments, 3)
  assert.equal(deep.problems.length, 1)
  const [p] = deep.problems
  const key = (await segmentKeys(store, 'orders', 0)).find((k) => k.includes('00000000000000000100-'))!
  assert.equal(p!.key, key)
  assert.match(p!.message, new RegExp(`^segment ${key} is unreadable: ${key}: row group 0, column \\S+, is corrupt: `))
  assert.match(p!.message, /a match starts 1[01] bytes before the end of the block; the format requires at least 12/)
})

test('--deep: a header key that is not UTF-8 (a STRING column DuckDB and polars refuse) fails, naming the column', async () => {
  // The archiver copies header keys from the wire as they are: a client may send any bytes there.
  const chunk = Buffer.concat([Buffer.from('kv'), Buffer.from([0x68, 0xff, 0xfe]), Buffer.from('x')])
  const packed = {
    count: 1,
    numbers: new BigInt64Array([7n, T0]),
    lengths: new Int32Array([1, 1, 1, 3, 1]),
    chunks: [chunk],
  }
  const segment = assembleSegment([encodePackedRowGroup(packed)], { topic: 'orders', partition: 0 })
  const store = new MemoryStore()
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 't' })
  await w.commitSegment(segment)
  assert.deepEqual((await verifyArchive(store)).problems, [])
  const deep = await verifyArchive(store, { deep: true })
  assert.equal(deep.problems.length, 1)
  assert.match(
    deep.problems[0]!.message,
    /row group 0, column headers\.list\.element\.key, is corrupt: a value is not UTF-8 \(0x68fffe\)/,
  )
})

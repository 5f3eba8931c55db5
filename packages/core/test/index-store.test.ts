// StoreNodeSource over the real MemoryStore: verified reads, GET counting, caching, and corrupt or missing nodes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendEntries, appendEntry } from '../src/index/append.js'
import { encodeNode } from '../src/index/codec.js'
import { iterateEntries, seekOffset, seekTimestamp, treeSummary } from '../src/index/read.js'
import { MemoryNodeSource, putNodes, StoreNodeSource } from '../src/index/source.js'
import type { LeafEntry } from '../src/index/types.js'
import { FormatError, IntegrityError, InvalidArgumentError, ObjectNotFoundError } from '../src/errors.js'
import { sha256Hex } from '../src/hash.js'
import { indexPrefix, nodeKey } from '../src/layout.js'
import { MemoryStore } from '../src/store/memory.js'

const TOPIC = 'orders'
const PARTITION = 3

function segment(i: number): LeafEntry {
  const firstOffset = BigInt(i) * 100n
  return {
    kind: 'segment',
    firstOffset,
    lastOffset: firstOffset + 99n,
    records: 100,
    bytes: 4096,
    minTimestamp: 1_700_000_000_000n + BigInt(i) * 1000n,
    maxTimestamp: 1_700_000_000_000n + BigInt(i) * 1000n + 999n,
    key: `${TOPIC}/data/partition=${PARTITION}/${String(firstOffset).padStart(20, '0')}-${sha256Hex(Buffer.from([i]))}.parquet`,
  }
}

/** A 4-level tree (fan-out 4, 100 segments) uploaded to a fresh MemoryStore. */
async function uploadedTree() {
  const store = new MemoryStore()
  const entries = Array.from({ length: 100 }, (_, i) => segment(i))
  const built = await appendEntries(new MemoryNodeSource(), null, entries, { fanout: 4 })
  await putNodes(store, TOPIC, PARTITION, built.nodes)
  return { store, entries, root: built.root.hash, nodes: built.nodes }
}

test('a cold seek costs one GET per level, a warm one none, and nodes land under nodeKey', async () => {
  const { store, entries, root, nodes } = await uploadedTree()
  const keys: string[] = []
  for await (const o of store.list(indexPrefix(TOPIC, PARTITION))) keys.push(o.key)
  assert.deepEqual(keys.sort(), nodes.map((n) => nodeKey(TOPIC, PARTITION, n.hash)).sort())

  const src = new StoreNodeSource(store, TOPIC, PARTITION)
  const { height } = await treeSummary(src, root)
  assert.equal(height, 4)
  const cold = new StoreNodeSource(store, TOPIC, PARTITION)
  assert.deepEqual(await seekOffset(cold, root, 4321n), entries[43])
  assert.equal(cold.gets, 4)
  assert.deepEqual(await seekOffset(cold, root, 4399n), entries[43])
  assert.equal(cold.gets, 4)
  assert.deepEqual(await seekTimestamp(cold, root, 1_700_000_077_500n), entries[77])
  assert.equal(cold.gets, 4 + 3, 'a different leaf under the same root costs only the nodes not yet cached')

  // Concurrent readers of one node share a single GET.
  const fresh = new StoreNodeSource(store, TOPIC, PARTITION)
  await Promise.all(Array.from({ length: 10 }, () => seekOffset(fresh, root, 0n)))
  assert.equal(fresh.gets, 4)

  const all: LeafEntry[] = []
  for await (const e of iterateEntries(new StoreNodeSource(store, TOPIC, PARTITION), root)) all.push(e)
  assert.deepEqual(all, entries)
})

test('appends continue from nodes read back from the store and keep the same root hash', async () => {
  const { store, entries, root } = await uploadedTree()
  const src = new StoreNodeSource(store, TOPIC, PARTITION)
  const more = Array.from({ length: 30 }, (_, i) => segment(100 + i))
  let current = root
  for (const e of more) {
    const r = await appendEntry(src, current, e, { fanout: 4 })
    await putNodes(store, TOPIC, PARTITION, r.nodes)
    current = r.root.hash
  }
  const all = [...entries, ...more]
  const expected = await appendEntries(new MemoryNodeSource(), null, all, { fanout: 4 })
  assert.equal(current, expected.root.hash)
  const read: LeafEntry[] = []
  for await (const e of iterateEntries(new StoreNodeSource(store, TOPIC, PARTITION), current)) read.push(e)
  assert.deepEqual(read, all)
})

test('a tampered node fails with IntegrityError naming its key; an unreadable one with FormatError', async () => {
  const { store, root, nodes } = await uploadedTree()
  const leaf = nodes.find((n) => n.node.level === 0 && 'entries' in n.node && n.node.entries[0]!.firstOffset === 0n)!
  const key = nodeKey(TOPIC, PARTITION, leaf.hash)
  // Change one record count inside an otherwise well-formed node: only the hash can tell.
  const tampered = encodeNode({
    ...leaf.node,
    entries: ('entries' in leaf.node ? leaf.node.entries : []).map((e, i) => (i === 0 ? { ...e, records: 99 } : e)),
  } as typeof leaf.node)
  await store.put(key, tampered.bytes)
  const src = new StoreNodeSource(store, TOPIC, PARTITION)
  await assert.rejects(seekOffset(src, root, 0n), (err: unknown) => {
    assert.ok(err instanceof IntegrityError)
    assert.equal(err.key, key)
    assert.ok(err.message.includes(key), err.message)
    return true
  })
  // Other leaves are still readable.
  assert.equal((await seekOffset(src, root, 9950n))?.firstOffset, 9900n)

  // Bytes that match their key but are no node at all: the writer was broken, say which object.
  const garbage = Buffer.from('definitely not an index node')
  const garbageHash = sha256Hex(garbage)
  await store.put(nodeKey(TOPIC, PARTITION, garbageHash), garbage)
  await assert.rejects(src.getNode(garbageHash), (err: unknown) => {
    assert.ok(err instanceof FormatError)
    assert.ok(err.message.includes(nodeKey(TOPIC, PARTITION, garbageHash)), err.message)
    return true
  })
})

test('a missing node is ObjectNotFoundError, a malformed hash InvalidArgumentError', async () => {
  const { store, root, nodes } = await uploadedTree()
  const src = new StoreNodeSource(store, TOPIC, PARTITION)
  await store.delete(nodeKey(TOPIC, PARTITION, nodes[0]!.hash))
  await assert.rejects(seekOffset(src, root, 0n), ObjectNotFoundError)
  await assert.rejects(src.getNode('../../HEAD'), InvalidArgumentError)
  await assert.rejects(src.getNode('A'.repeat(64)), InvalidArgumentError)
  assert.throws(() => new StoreNodeSource(store, 'bad/topic', 0), Error)
  assert.throws(() => new StoreNodeSource(store, TOPIC, 0, { cacheNodes: -1 }), InvalidArgumentError)
})

test('the node cache keeps the most recently used nodes up to cacheNodes', async () => {
  const { store, root } = await uploadedTree()
  const src = new StoreNodeSource(store, TOPIC, PARTITION, { cacheNodes: 4 })
  await seekOffset(src, root, 0n) // root, two internals, first leaf
  assert.equal(src.gets, 4)
  await seekOffset(src, root, 50n) // same path: all cached
  assert.equal(src.gets, 4)
  await seekOffset(src, root, 9999n) // 3 new nodes evict the 3 least recently used; the root stays
  assert.equal(src.gets, 7)
  await seekOffset(src, root, 9999n)
  assert.equal(src.gets, 7)
  await seekOffset(src, root, 0n) // its path below the root was evicted
  assert.equal(src.gets, 10)

  const uncached = new StoreNodeSource(store, TOPIC, PARTITION, { cacheNodes: 0 })
  await seekOffset(uncached, root, 0n)
  await seekOffset(uncached, root, 0n)
  assert.equal(uncached.gets, 8)
})

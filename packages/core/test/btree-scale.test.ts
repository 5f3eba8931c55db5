// The index at archive scale with the default fan-out: a partition of many segments is 3 levels deep, so a cold
// seek costs 3 node GETs (plus HEAD), and nodes stay small. 1M segments with EVERLOG_LONG_TESTS=1, else 100k
// (still 3 levels: 256^2 < 100k).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendEntries, appendEntry, DEFAULT_FANOUT } from '../src/index/append.js'
import type { EncodedNode } from '../src/index/codec.js'
import { iterateEntries, seekOffset, seekTimestamp, treeSummary } from '../src/index/read.js'
import { putNodes, StoreNodeSource } from '../src/index/source.js'
import type { NodeSource } from '../src/index/source.js'
import type { IndexNode, LeafEntry, SegmentEntry } from '../src/index/types.js'
import { segmentKey } from '../src/layout.js'
import { sha256Hex } from '../src/hash.js'
import { MemoryStore } from '../src/store/memory.js'

const SEGMENTS = process.env.EVERLOG_LONG_TESTS === '1' ? 1_000_000 : 100_000
const TOPIC = 'orders.v1'
const PARTITION = 7
const RECORDS_PER_SEGMENT = 5000n
const HOLE = 3n // compaction leaves a few offsets between segments

// Segment i covers offsets [i*(R+HOLE), i*(R+HOLE)+R-1] with timestamps of roughly one segment a minute.
function segment(i: number): LeafEntry {
  const firstOffset = BigInt(i) * (RECORDS_PER_SEGMENT + HOLE)
  const t = 1_600_000_000_000n + BigInt(i) * 60_000n
  return {
    kind: 'segment',
    firstOffset,
    lastOffset: firstOffset + RECORDS_PER_SEGMENT - 1n,
    records: Number(RECORDS_PER_SEGMENT),
    bytes: 8_000_000 + (i % 1000),
    minTimestamp: t - 5_000n,
    maxTimestamp: t + 59_999n,
    key: segmentKey(TOPIC, PARTITION, firstOffset, sha256Hex(Buffer.from(String(i)))),
  }
}

/** Serves the rightmost path written by the previous batch: all the next append reads. */
class LastBatch implements NodeSource {
  nodes = new Map<string, IndexNode>()
  remember(written: readonly EncodedNode[]): void {
    this.nodes = new Map(written.map((n) => [n.hash, n.node]))
  }
  async getNode(hash: string): Promise<IndexNode> {
    const node = this.nodes.get(hash)
    if (!node) throw new Error(`node ${hash} is not on the last rightmost path`)
    return node
  }
}

test(`${SEGMENTS} segments at fan-out ${DEFAULT_FANOUT}: 3 levels, 3 cold node GETs per seek, small nodes`, async () => {
  const store = new MemoryStore()
  const recent = new LastBatch()
  let root: string | null = null
  const sizes = new Map<number, number[]>()
  let written = 0
  const started = performance.now()
  const batch = 20_000
  for (let i = 0; i < SEGMENTS; i += batch) {
    const entries = Array.from({ length: Math.min(batch, SEGMENTS - i) }, (_, j) => segment(i + j))
    const r: Awaited<ReturnType<typeof appendEntries>> = await appendEntries(recent, root, entries)
    await putNodes(store, TOPIC, PARTITION, r.nodes)
    for (const n of r.nodes) {
      let list = sizes.get(n.node.level)
      if (!list) sizes.set(n.node.level, (list = []))
      list.push(n.bytes.length)
    }
    written += r.nodes.length
    recent.remember(r.nodes)
    root = r.root.hash
  }
  const buildMs = performance.now() - started

  const summary = await treeSummary(new StoreNodeSource(store, TOPIC, PARTITION), root!)
  assert.equal(summary.height, 3)
  assert.equal(summary.segments, SEGMENTS)
  assert.equal(summary.records, SEGMENTS * Number(RECORDS_PER_SEGMENT))

  // Cold seeks: a new reader each time, as a consumer starting on a fresh machine.
  const probes = [0, 1, 255, 256, 65_535, 65_536, Math.floor(SEGMENTS / 2), SEGMENTS - 1]
  for (const i of probes) {
    const e = segment(i)
    const cold = new StoreNodeSource(store, TOPIC, PARTITION)
    assert.deepEqual(await seekOffset(cold, root, e.firstOffset + 1234n), e)
    assert.equal(cold.gets, 3, `cold seekOffset to segment ${i} took ${cold.gets} node GETs`)
    const coldTime = new StoreNodeSource(store, TOPIC, PARTITION)
    assert.deepEqual(await seekTimestamp(coldTime, root, (e as SegmentEntry).minTimestamp + 10_000n), e)
    assert.equal(coldTime.gets, 3)
  }
  // An offset in a compaction hole lands on the next segment.
  const inHole = segment(1000).firstOffset - 1n
  assert.deepEqual(await seekOffset(new StoreNodeSource(store, TOPIC, PARTITION), root, inHole), segment(1000))

  // Warm seeks on one reader: the upper levels are cached.
  const warm = new StoreNodeSource(store, TOPIC, PARTITION)
  const warmStarted = performance.now()
  for (let k = 0; k < 2000; k++) {
    const i = (k * 7919) % SEGMENTS
    assert.equal((await seekOffset(warm, root, segment(i).firstOffset))?.firstOffset, segment(i).firstOffset)
  }
  const warmUs = ((performance.now() - warmStarted) * 1000) / 2000

  // One more segment rewrites the rightmost path only: 3 nodes.
  const next = await appendEntry(new StoreNodeSource(store, TOPIC, PARTITION), root, segment(SEGMENTS))
  assert.equal(next.nodes.length, 3)
  const appendBytes = next.nodes.reduce((n, x) => n + x.bytes.length, 0)

  // A range read opens only the leaves it needs.
  const ranged = new StoreNodeSource(store, TOPIC, PARTITION)
  let n = 0
  for await (const _e of iterateEntries(ranged, root, {
    fromOffset: segment(300).firstOffset,
    toOffset: segment(800).lastOffset,
  })) {
    n++
  }
  assert.equal(n, 501)
  assert.ok(ranged.gets <= 1 + 2 + 3, `range over 3 leaves took ${ranged.gets} GETs`)

  const leafSizes = sizes.get(0)!
  const fullLeaf = Math.max(...leafSizes)
  const internal = Math.max(...(sizes.get(1) ?? [0]), ...(sizes.get(2) ?? [0]))
  assert.ok(fullLeaf < 64 * 1024, `a full leaf is ${fullLeaf} bytes`)
  assert.ok(internal < 32 * 1024, `a full internal node is ${internal} bytes`)
  console.log(
    JSON.stringify({
      segments: SEGMENTS,
      fanout: DEFAULT_FANOUT,
      height: summary.height,
      coldSeekNodeGets: 3,
      buildMs: Math.round(buildMs),
      nodesWritten: written,
      fullLeafBytes: fullLeaf,
      segmentKeyChars: (segment(0) as SegmentEntry).key.length,
      largestInternalBytes: internal,
      warmSeekMicros: Math.round(warmUs),
      appendOneSegment: { nodes: next.nodes.length, bytes: appendBytes },
    }),
  )
})

// Property tests of the copy-on-write B+tree against the simplest possible model: the array of appended entries.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { appendEntries, appendEntry } from '../src/index/append.js'
import type { AppendResult } from '../src/index/append.js'
import { decodeNode, encodeNode } from '../src/index/codec.js'
import type { EncodedNode } from '../src/index/codec.js'
import { iterateEntries, seekOffset, seekTimestamp, treeSummary } from '../src/index/read.js'
import { MemoryNodeSource } from '../src/index/source.js'
import type { NodeSource } from '../src/index/source.js'
import { summarize } from '../src/index/summary.js'
import type { ChildEntry, IndexNode, LeafEntry, SegmentEntry } from '../src/index/types.js'
import { InvalidArgumentError, ObjectNotFoundError, OffsetOrderError } from '../src/errors.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const runs = (bounded: number) => (LONG ? bounded * 20 : bounded)

/** Keeps encoded bytes and decodes on every read, so every tree test also runs the codec; counts reads. */
class BytesNodeSource implements NodeSource {
  readonly bytes = new Map<string, Uint8Array>()
  reads = 0
  add(nodes: readonly EncodedNode[]): void {
    for (const n of nodes) this.bytes.set(n.hash, n.bytes)
  }
  async getNode(hash: string): Promise<IndexNode> {
    this.reads++
    const b = this.bytes.get(hash)
    if (!b) throw new ObjectNotFoundError(hash)
    return decodeNode(b)
  }
}

interface Step {
  gap: boolean
  hole: number
  span: number
  records: number
  tsBase: number
  tsWidth: number
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  gap: fc.boolean().chain((g) => (g ? fc.boolean() : fc.constant(false))), // ~25% gaps
  hole: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 })),
  span: fc.integer({ min: 1, max: 6 }),
  records: fc.integer({ min: 0, max: 6 }),
  tsBase: fc.integer({ min: -20, max: 60 }), // not monotonic, sometimes negative like Kafka's -1
  tsWidth: fc.integer({ min: 0, max: 8 }),
})

/** Turns steps into entries with increasing, not necessarily contiguous offsets, starting at `start`. */
function buildEntries(steps: readonly Step[], start = 0n): LeafEntry[] {
  let next = start
  return steps.map((s, i) => {
    const firstOffset = next + BigInt(s.hole)
    const lastOffset = firstOffset + BigInt(s.span - 1)
    next = lastOffset + 1n
    if (s.gap) return { kind: 'gap', firstOffset, lastOffset, reason: `retention ${i}` }
    return {
      kind: 'segment',
      firstOffset,
      lastOffset,
      records: Math.min(s.records, s.span),
      bytes: 100 + s.records * 37,
      minTimestamp: BigInt(s.tsBase),
      maxTimestamp: BigInt(s.tsBase + s.tsWidth),
      key: `orders/data/partition=0/${String(firstOffset).padStart(20, '0')}-${'ab'.repeat(32)}.parquet`,
    }
  })
}

async function build(entries: readonly LeafEntry[], fanout: number, src = new BytesNodeSource()) {
  let root: string | null = null
  if (entries.length > 0) {
    const r = await appendEntries(src, null, entries, { fanout })
    src.add(r.nodes)
    root = r.root.hash
  }
  return { src, root }
}

function modelSummary(entries: readonly LeafEntry[]) {
  const segs = entries.filter((e): e is SegmentEntry => e.kind === 'segment')
  const min = (xs: bigint[]) => (xs.length ? xs.reduce((a, b) => (b < a ? b : a)) : null)
  const max = (xs: bigint[]) => (xs.length ? xs.reduce((a, b) => (b > a ? b : a)) : null)
  return {
    firstOffset: entries[0]!.firstOffset,
    lastOffset: entries[entries.length - 1]!.lastOffset,
    records: segs.reduce((n, e) => n + e.records, 0),
    bytes: segs.reduce((n, e) => n + e.bytes, 0),
    segments: segs.length,
    gaps: entries.length - segs.length,
    minTimestamp: min(segs.map((e) => e.minTimestamp)),
    maxTimestamp: max(segs.map((e) => e.maxTimestamp)),
  }
}

/** Height of the shallowest tree that holds n entries with this fan-out. */
function minimalHeight(n: number, fanout: number): number {
  let h = 1
  for (let cap = fanout; cap < n; cap *= fanout) h++
  return h
}

async function collect(it: AsyncIterable<LeafEntry>): Promise<LeafEntry[]> {
  const out: LeafEntry[] = []
  for await (const e of it) out.push(e)
  return out
}

const treeArb = fc.record({
  fanout: fc.integer({ min: 2, max: 5 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 150 }),
})

/** Deterministic trees of height >= 3 for every fan-out, with holes, gaps and unordered timestamps. */
function tallExamples(): [{ fanout: number; steps: Step[] }, number[], number[], [number, number][]][] {
  const out: ReturnType<typeof tallExamples> = []
  for (let fanout = 2; fanout <= 5; fanout++) {
    for (const n of [fanout * fanout + 1, 2 * fanout * fanout + 3, 150]) {
      const steps: Step[] = Array.from({ length: n }, (_, i) => ({
        gap: i % 7 === 3,
        hole: i % 5 === 0 ? 2 : 0,
        span: 1 + (i % 6),
        records: i % 7,
        tsBase: ((i * 37) % 81) - 20,
        tsWidth: i % 9,
      }))
      out.push([
        { fanout, steps },
        [0, 7, 41, 333, 999],
        [-25, -1, 0, 30, 75],
        [
          [0, 10],
          [17, 300],
          [-2, 0],
        ],
      ])
    }
  }
  return out
}

test('seeks, ranges and summaries match an array model (small fan-outs, holes, gaps, unordered timestamps)', async () => {
  let tallTrees = 0
  await fc.assert(
    fc.asyncProperty(
      treeArb,
      fc.array(fc.integer({ min: -2, max: 1000 }), { minLength: 5, maxLength: 5 }),
      fc.array(fc.integer({ min: -25, max: 75 }), { minLength: 5, maxLength: 5 }),
      fc.array(fc.tuple(fc.integer({ min: -2, max: 1000 }), fc.integer({ min: 0, max: 300 })), {
        minLength: 3,
        maxLength: 3,
      }),
      async ({ fanout, steps }, offsets, timestamps, ranges) => {
        const model = buildEntries(steps)
        const { src, root } = await build(model, fanout)
        const summary = await treeSummary(src, root!)
        const height = minimalHeight(model.length, fanout)
        assert.deepEqual(summary, { ...modelSummary(model), height })
        if (height >= 3) tallTrees++

        const end = model[model.length - 1]!.lastOffset
        for (const o of [...offsets.map(BigInt), 0n, end, end + 1n]) {
          if (o < 0n) continue
          src.reads = 0
          assert.deepEqual(
            await seekOffset(src, root, o),
            model.find((e) => e.lastOffset >= o),
            `seekOffset(${o})`,
          )
          assert.ok(src.reads <= height, `seekOffset read ${src.reads} nodes in a tree of height ${height}`)
        }
        for (const t of timestamps.map(BigInt)) {
          const want = model.find((e) => e.kind === 'segment' && e.maxTimestamp >= t)
          src.reads = 0
          assert.deepEqual(await seekTimestamp(src, root, t), want, `seekTimestamp(${t})`)
          assert.ok(src.reads <= height, `seekTimestamp read ${src.reads} nodes in a tree of height ${height}`)
        }
        for (const [from, len] of ranges) {
          const fromOffset = BigInt(Math.max(0, from))
          const toOffset = fromOffset + BigInt(len)
          const want = model.filter((e) => e.lastOffset >= fromOffset && e.firstOffset <= toOffset)
          assert.deepEqual(await collect(iterateEntries(src, root, { fromOffset, toOffset })), want)
        }
        assert.deepEqual(await collect(iterateEntries(src, root)), model)
        assert.deepEqual(await collect(iterateEntries(src, root, { fromOffset: end + 1n })), [])
      },
    ),
    // fast-check favours short arrays, so how many random trees reach height 3 varies from seed to seed: these
    // fixed tall trees (every fan-out, just past and well past fanout^2 entries) always run besides the random ones.
    { numRuns: runs(80), examples: tallExamples() },
  )
  assert.ok(tallTrees > 10, `only ${tallTrees} generated trees had height >= 3`)
})

test('shape: leaves at one depth, every node left of the rightmost path full, parents summarize children', async () => {
  await fc.assert(
    fc.asyncProperty(treeArb, async ({ fanout, steps }) => {
      const model = buildEntries(steps)
      const { src, root } = await build(model, fanout)
      const rootNode = await src.getNode(root!)
      const leaves: LeafEntry[][] = []
      const visit = async (node: IndexNode, depth: number, rightmost: boolean): Promise<void> => {
        assert.equal(node.level, rootNode.level - depth)
        const size = 'entries' in node ? node.entries.length : node.children.length
        assert.ok(size >= 1 && size <= fanout, `node of ${size} items with fan-out ${fanout}`)
        if (!rightmost) assert.equal(size, fanout, 'a node left of the rightmost path is not full')
        if ('entries' in node) {
          leaves.push(node.entries)
          return
        }
        for (let i = 0; i < node.children.length; i++) {
          const c: ChildEntry = node.children[i]!
          const child = await src.getNode(c.hash)
          assert.equal(encodeNode(child).hash, c.hash)
          const { hash: _hash, ...agg } = c
          assert.deepEqual(agg, summarize(child))
          await visit(child, depth + 1, rightmost && i === node.children.length - 1)
        }
      }
      await visit(rootNode, 0, true)
      assert.deepEqual(leaves.flat(), model)
    }),
    { numRuns: runs(60) },
  )
})

test('appendEntries gives the root hash of appendEntry one by one; each append writes at most height+1 nodes', async () => {
  await fc.assert(
    fc.asyncProperty(
      treeArb,
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 30 }),
      async ({ fanout, steps }, batchSizes) => {
        const model = buildEntries(steps)
        const one = new BytesNodeSource()
        const oldRoots: { root: string; count: number }[] = []
        let root: string | null = null
        for (let i = 0; i < model.length; i++) {
          const before = root === null ? 0 : (await treeSummary(one, root)).height
          const r: AppendResult = await appendEntry(one, root, model[i]!, { fanout })
          assert.ok(
            r.nodes.length <= before + 1,
            `append wrote ${r.nodes.length} nodes into a tree of height ${before}`,
          )
          assert.equal(r.nodes[r.nodes.length - 1], r.root)
          // Children before parents: every child a new node references is already stored or written earlier.
          const seen = new Set(one.bytes.keys())
          for (const n of r.nodes) {
            if ('children' in n.node)
              for (const c of n.node.children) assert.ok(seen.has(c.hash), 'parent before child')
            seen.add(n.hash)
          }
          one.add(r.nodes)
          root = r.root.hash
          oldRoots.push({ root, count: i + 1 })
        }

        // Batches of random sizes, each continuing from the last root.
        const batched = new BytesNodeSource()
        let broot: string | null = null
        let written = 0
        for (let i = 0, b = 0; i < model.length; b++) {
          const size = batchSizes[b % batchSizes.length]!
          const r: AppendResult = await appendEntries(batched, broot, model.slice(i, i + size), { fanout })
          assert.equal(new Set(r.nodes.map((n) => n.hash)).size, r.nodes.length, 'a batch wrote a node twice')
          batched.add(r.nodes)
          written += r.nodes.length
          broot = r.root.hash
          i += size
        }
        assert.equal(broot, root)
        const allAtOnce = await appendEntries(new BytesNodeSource(), null, model, { fanout })
        assert.equal(allAtOnce.root.hash, root)
        assert.ok(allAtOnce.nodes.length <= written)

        // Copy-on-write: every older root still reads exactly the prefix it was committed with.
        for (const { root: old, count } of oldRoots.filter((_, i) => i % 7 === 0)) {
          assert.deepEqual(await collect(iterateEntries(one, old)), model.slice(0, count))
        }
      },
    ),
    { numRuns: runs(40) },
  )
})

test('appends out of offset order fail with OffsetOrderError and leave the tree as it was', async () => {
  const model = buildEntries(
    Array.from({ length: 30 }, (_, i) => ({
      gap: i % 5 === 0,
      hole: i % 3,
      span: 3,
      records: 2,
      tsBase: i,
      tsWidth: 1,
    })),
  )
  const { src, root } = await build(model, 3)
  const last = model[model.length - 1]!
  const seg = (firstOffset: bigint, lastOffset: bigint): LeafEntry => ({
    kind: 'segment',
    firstOffset,
    lastOffset,
    records: 1,
    bytes: 10,
    minTimestamp: 0n,
    maxTimestamp: 0n,
    key: 'k',
  })
  await assert.rejects(appendEntry(src, root, seg(last.lastOffset, last.lastOffset + 5n), { fanout: 3 }), (err) => {
    assert.ok(err instanceof OffsetOrderError)
    assert.match(err.message, new RegExp(`offsets ${last.lastOffset}\\.\\.`))
    return true
  })
  await assert.rejects(appendEntry(src, root, seg(3n, 4n), { fanout: 3 }), OffsetOrderError)
  // Within one batch too, and nothing of the batch is kept.
  const next = last.lastOffset + 1n
  await assert.rejects(
    appendEntries(src, root, [seg(next, next + 9n), seg(next + 5n, next + 20n)], { fanout: 3 }),
    OffsetOrderError,
  )
  assert.deepEqual(await collect(iterateEntries(src, root)), model)
  // The first offset right after the tree is fine, and so is a hole.
  const ok = await appendEntry(src, root, seg(next + 2n, next + 2n), { fanout: 3 })
  src.add(ok.nodes)
  assert.deepEqual(await collect(iterateEntries(src, ok.root.hash)), [...model, seg(next + 2n, next + 2n)])
})

test('bad entries and options are rejected with InvalidArgumentError', async () => {
  const src = new BytesNodeSource()
  const good: LeafEntry = {
    kind: 'segment',
    firstOffset: 5n,
    lastOffset: 9n,
    records: 5,
    bytes: 1,
    minTimestamp: 1n,
    maxTimestamp: 2n,
    key: 'k',
  }
  for (const fanout of [0, 1, 2.5, 1e9]) {
    await assert.rejects(appendEntry(src, null, good, { fanout }), InvalidArgumentError)
  }
  const bad: LeafEntry[] = [
    { ...good, firstOffset: 10n },
    { ...good, firstOffset: -1n },
    { ...good, minTimestamp: 3n },
    { ...good, key: '' },
    { ...good, records: 6 },
    { ...good, records: -1 },
  ]
  for (const e of bad)
    await assert.rejects(
      appendEntry(src, null, e),
      InvalidArgumentError,
      JSON.stringify(e, (_k, v) => String(v)),
    )
  await assert.rejects(appendEntries(src, null, []), InvalidArgumentError)
})

test('an empty partition (root null) has no entries, no seeks and no summary', async () => {
  const src = new MemoryNodeSource()
  assert.equal(await seekOffset(src, null, 0n), undefined)
  assert.equal(await seekTimestamp(src, null, 0n), undefined)
  assert.deepEqual(await collect(iterateEntries(src, null)), [])
  assert.equal(await treeSummary(src, null), undefined)
})

test('offsets and timestamps at the limits of a 64-bit long stay exact', async () => {
  const max = (1n << 63n) - 1n
  const min = -(1n << 63n)
  const entries: LeafEntry[] = [
    { kind: 'gap', firstOffset: 0n, lastOffset: 2n ** 53n + 1n, reason: 'retention' },
    {
      kind: 'segment',
      firstOffset: 2n ** 53n + 3n,
      lastOffset: max - 10n,
      records: Number.MAX_SAFE_INTEGER,
      bytes: Number.MAX_SAFE_INTEGER,
      minTimestamp: min,
      maxTimestamp: max,
      key: 'topic/data/partition=0/x.parquet',
    },
    {
      kind: 'segment',
      firstOffset: max,
      lastOffset: max,
      records: 1,
      bytes: 0,
      minTimestamp: -1n,
      maxTimestamp: -1n,
      key: 'z',
    },
  ]
  for (const fanout of [2, 256]) {
    const { src, root } = await build(entries, fanout)
    assert.deepEqual(await collect(iterateEntries(src, root)), entries)
    assert.deepEqual(await seekOffset(src, root, 2n ** 53n + 2n), entries[1])
    assert.deepEqual(await seekOffset(src, root, max), entries[2])
    assert.deepEqual(await seekTimestamp(src, root, max), entries[1])
    assert.deepEqual(await seekTimestamp(src, root, 0n), entries[1])
    const s = await treeSummary(src, root!)
    assert.equal(s.minTimestamp, min)
    assert.equal(s.lastOffset, max)
    await assert.rejects(
      appendEntry(src, root, { ...entries[2]!, firstOffset: max, lastOffset: max }),
      OffsetOrderError,
    )
  }
})

test('the nodes an append returns are exactly what a reader decodes from their bytes', async () => {
  const entry = {
    kind: 'segment' as const,
    firstOffset: 0n,
    lastOffset: 9n,
    records: 10,
    bytes: 1,
    minTimestamp: 1n,
    maxTimestamp: 2n,
    key: 'k',
    writerNote: 'not part of the format',
  }
  const r = await appendEntry(new MemoryNodeSource(), null, entry)
  assert.deepEqual(r.root.node, decodeNode(r.root.bytes))
})

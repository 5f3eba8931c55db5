// Reading the B+tree: seeks descend one node per level using the aggregates parents keep about their children,
// so a seek costs `height` node reads; iteration opens only subtrees that overlap the requested offsets.
import { FormatError, InvalidArgumentError } from '../errors.js'
import type { NodeSource } from './source.js'
import { summarize } from './summary.js'
import type { NodeSummary } from './summary.js'
import type { ChildEntry, IndexNode, LeafEntry, SegmentEntry } from './types.js'

export interface TreeSummary extends NodeSummary {
  /** Nodes on every root-to-leaf path: 1 for a lone leaf. */
  height: number
}

async function getChild(src: NodeSource, parent: IndexNode, child: ChildEntry): Promise<IndexNode> {
  const node = await src.getNode(child.hash)
  if (node.level !== parent.level - 1) {
    throw new FormatError(`index node ${child.hash} is level ${node.level} under a level-${parent.level} node`)
  }
  return node
}

/** First index in `items` (sorted by offset, disjoint) whose lastOffset >= offset, or items.length. */
function firstEndingAtOrAfter(items: readonly { lastOffset: bigint }[], offset: bigint): number {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (items[mid]!.lastOffset < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}

function checkBigint(value: unknown, what: string): void {
  if (typeof value !== 'bigint') throw new InvalidArgumentError(`${what} must be a bigint, got ${typeof value}`)
}

/**
 * The first entry (segment or gap) whose lastOffset >= offset: the one holding `offset`, or the next one after a
 * hole. undefined when the tree ends before `offset`.
 */
export async function seekOffset(src: NodeSource, root: string | null, offset: bigint): Promise<LeafEntry | undefined> {
  checkBigint(offset, 'offset')
  if (root === null) return undefined
  let node = await src.getNode(root)
  for (;;) {
    if ('entries' in node) return node.entries[firstEndingAtOrAfter(node.entries, offset)]
    const i = firstEndingAtOrAfter(node.children, offset)
    if (i === node.children.length) return undefined
    node = await getChild(src, node, node.children[i]!)
  }
}

/**
 * The leftmost segment whose maxTimestamp >= timestamp. Kafka's "first offset with timestamp >= t" lies in it even
 * when timestamps are not monotonic, because every earlier segment holds only older records. Gaps are skipped.
 */
export async function seekTimestamp(
  src: NodeSource,
  root: string | null,
  timestamp: bigint,
): Promise<SegmentEntry | undefined> {
  checkBigint(timestamp, 'timestamp')
  if (root === null) return undefined
  let node = await src.getNode(root)
  for (;;) {
    if ('entries' in node) {
      for (const e of node.entries) if (e.kind === 'segment' && e.maxTimestamp >= timestamp) return e
      // Only reachable at the root: a parent descends only into a subtree whose maxTimestamp qualifies.
      return undefined
    }
    const child = node.children.find((c) => c.maxTimestamp !== null && c.maxTimestamp >= timestamp)
    if (!child) return undefined
    node = await getChild(src, node, child)
  }
}

export interface OffsetRange {
  /** Inclusive; default: the start of the tree. */
  fromOffset?: bigint
  /** Inclusive; default: the end of the tree. */
  toOffset?: bigint
}

/** Entries overlapping [fromOffset, toOffset] in offset order. Reads the next leaf while the caller works on one. */
export async function* iterateEntries(
  src: NodeSource,
  root: string | null,
  range: OffsetRange = {},
): AsyncGenerator<LeafEntry> {
  const from = range.fromOffset ?? 0n
  const to = range.toOffset ?? (1n << 63n) - 1n
  checkBigint(from, 'fromOffset')
  checkBigint(to, 'toOffset')
  if (root === null || from > to) return
  yield* walk(src, await src.getNode(root), from, to)
}

async function* walk(src: NodeSource, node: IndexNode, from: bigint, to: bigint): AsyncGenerator<LeafEntry> {
  if ('entries' in node) {
    const entries = node.entries
    for (let i = firstEndingAtOrAfter(entries, from); i < entries.length && entries[i]!.firstOffset <= to; i++) {
      yield entries[i]!
    }
    return
  }
  const children = node.children
  const start = firstEndingAtOrAfter(children, from)
  let end = start
  while (end < children.length && children[end]!.firstOffset <= to) end++
  let next: Promise<IndexNode> | undefined = start < end ? getChild(src, node, children[start]!) : undefined
  for (let i = start; i < end; i++) {
    const current = next!
    next = i + 1 < end ? getChild(src, node, children[i + 1]!) : undefined
    // If the caller stops early the read-ahead is never awaited; keep its failure from going unhandled.
    next?.catch(() => {})
    yield* walk(src, await current, from, to)
  }
}

/** Aggregates of the whole tree plus its height; undefined for an empty partition (root null). */
export async function treeSummary(src: NodeSource, root: string): Promise<TreeSummary>
export async function treeSummary(src: NodeSource, root: string | null): Promise<TreeSummary | undefined>
export async function treeSummary(src: NodeSource, root: string | null): Promise<TreeSummary | undefined> {
  if (root === null) return undefined
  const node = await src.getNode(root)
  return { ...summarize(node), height: node.level + 1 }
}

// Copy-on-write appends: only the rightmost path of the tree is rewritten. Nodes fill left to right; a full node
// is left as it is and a new sibling starts beside it, and a full root gets a new root above it, so every leaf
// sits at the same depth and the tree is as shallow as the fan-out allows.
import { FormatError, InvalidArgumentError, OffsetOrderError } from '../errors.js'
import { FORMAT_VERSION } from '../layout.js'
import { encodeNode, MAX_NODE_ENTRIES } from './codec.js'
import type { EncodedNode } from './codec.js'
import type { NodeSource } from './source.js'
import { summarize } from './summary.js'
import type { ChildEntry, IndexNode, LeafEntry } from './types.js'

export const DEFAULT_FANOUT = 256

export interface AppendOptions {
  /** Most entries (leaf) or children (internal) per node. Default 256. */
  fanout?: number
}

export interface AppendResult {
  root: EncodedNode
  /** Every node the append created, children before parents, the root last. Upload them before HEAD. */
  nodes: EncodedNode[]
}

// One node of the rightmost path while appending. `items` is a private copy; `original` is the node's entry in
// its parent as loaded (hash and aggregates) while the node is untouched, null once it changed.
interface PathNode {
  level: number
  items: (LeafEntry | ChildEntry)[]
  original: ChildEntry | null
}

// The last item of every internal path node stands for the path node below it until the path is sealed.
const PENDING: ChildEntry = Object.freeze({
  firstOffset: -1n,
  lastOffset: -1n,
  records: 0,
  bytes: 0,
  segments: 0,
  gaps: 0,
  minTimestamp: null,
  maxTimestamp: null,
  hash: '',
})

function checkFanout(fanout: number): number {
  if (!Number.isInteger(fanout) || fanout < 2 || fanout > MAX_NODE_ENTRIES) {
    throw new InvalidArgumentError(`index fanout must be an integer 2..${MAX_NODE_ENTRIES}, got ${fanout}`)
  }
  return fanout
}

function describe(e: LeafEntry): string {
  return e.kind === 'segment' ? `segment ${e.key}` : `gap (${e.reason})`
}

const INT64_MAX = (1n << 63n) - 1n

/** Validates an entry and copies exactly its fields, so the node kept in memory is what a reader decodes. */
function cleanEntry(e: LeafEntry): LeafEntry {
  const what = e && typeof e === 'object' ? describe(e) : String(e)
  if (!e || (e.kind !== 'segment' && e.kind !== 'gap')) {
    throw new InvalidArgumentError(`index entry ${what} must have kind "segment" or "gap"`)
  }
  if (typeof e.firstOffset !== 'bigint' || typeof e.lastOffset !== 'bigint') {
    throw new InvalidArgumentError(`index entry ${what}: firstOffset and lastOffset must be bigint`)
  }
  if (e.firstOffset < 0n || e.firstOffset > e.lastOffset || e.lastOffset > INT64_MAX) {
    throw new InvalidArgumentError(
      `index entry ${what} covers offsets ${e.firstOffset}..${e.lastOffset}; expected 0 <= firstOffset <= lastOffset < 2^63`,
    )
  }
  if (e.kind === 'gap') {
    if (typeof e.reason !== 'string') {
      throw new InvalidArgumentError(`gap entry for offsets ${e.firstOffset}..${e.lastOffset} has no reason`)
    }
    return { kind: 'gap', firstOffset: e.firstOffset, lastOffset: e.lastOffset, reason: e.reason }
  }
  if (typeof e.key !== 'string' || e.key === '') {
    throw new InvalidArgumentError(`index entry for offsets ${e.firstOffset}..${e.lastOffset} has no segment key`)
  }
  if (typeof e.minTimestamp !== 'bigint' || typeof e.maxTimestamp !== 'bigint') {
    throw new InvalidArgumentError(`index entry ${what}: minTimestamp and maxTimestamp must be bigint`)
  }
  if (e.minTimestamp > e.maxTimestamp) {
    throw new InvalidArgumentError(
      `index entry ${what}: minTimestamp ${e.minTimestamp} is after maxTimestamp ${e.maxTimestamp}`,
    )
  }
  for (const [field, n] of [
    ['records', e.records],
    ['bytes', e.bytes],
  ] as const) {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new InvalidArgumentError(`index entry ${what}: ${field} is ${n}; expected an integer >= 0`)
    }
  }
  if (BigInt(e.records) > e.lastOffset - e.firstOffset + 1n) {
    throw new InvalidArgumentError(
      `index entry ${what} claims ${e.records} records in the ${e.lastOffset - e.firstOffset + 1n} offsets ${e.firstOffset}..${e.lastOffset}`,
    )
  }
  return {
    kind: 'segment',
    firstOffset: e.firstOffset,
    lastOffset: e.lastOffset,
    records: e.records,
    bytes: e.bytes,
    minTimestamp: e.minTimestamp,
    maxTimestamp: e.maxTimestamp,
    key: e.key,
  }
}

/** Loads the rightmost path, root first, as private copies. */
async function loadPath(src: NodeSource, root: string): Promise<PathNode[]> {
  const path: PathNode[] = []
  let node: IndexNode = await src.getNode(root)
  let original: ChildEntry = { ...summarize(node), hash: root }
  for (;;) {
    if ('entries' in node) {
      path.push({ level: 0, items: node.entries.slice(), original })
      return path.reverse()
    }
    const last: ChildEntry = node.children[node.children.length - 1]!
    const items: (LeafEntry | ChildEntry)[] = node.children.slice()
    items[items.length - 1] = PENDING
    path.push({ level: node.level, items, original })
    const child: IndexNode = await src.getNode(last.hash)
    if (child.level !== node.level - 1) {
      throw new FormatError(`index node ${last.hash} is level ${child.level} under a level-${node.level} node`)
    }
    node = child
    original = last
  }
}

class PathBuilder {
  readonly created: EncodedNode[] = []
  constructor(
    readonly path: PathNode[],
    readonly fanout: number,
  ) {}

  /** Turns a path node into its final form: the stored node if untouched, else a newly encoded one. */
  private seal(p: PathNode): ChildEntry {
    if (p.original) return p.original
    const node: IndexNode =
      p.level === 0
        ? { format: FORMAT_VERSION, level: 0, entries: p.items as LeafEntry[] }
        : { format: FORMAT_VERSION, level: p.level, children: p.items as ChildEntry[] }
    const encoded = encodeNode(node)
    this.created.push(encoded)
    return { ...summarize(node), hash: encoded.hash }
  }

  // Any change to a path node changes the hash of every node above it.
  private touch(level: number): void {
    for (let l = level; l < this.path.length; l++) this.path[l]!.original = null
  }

  push(level: number, item: LeafEntry | ChildEntry): void {
    const p = this.path[level]!
    if (p.items.length < this.fanout) {
      p.items.push(item)
      this.touch(level)
      return
    }
    // Full: freeze it and start a new sibling, which its parent (grown if need be) adopts.
    const sealed = this.seal(p)
    if (level === this.path.length - 1) {
      this.path.push({ level: level + 1, items: [sealed, PENDING], original: null })
    } else {
      const parent = this.path[level + 1]!
      parent.items[parent.items.length - 1] = sealed
      this.push(level + 1, PENDING)
    }
    this.path[level] = { level, items: [item], original: null }
  }

  finish(): AppendResult {
    let below: ChildEntry | null = null
    for (const p of this.path) {
      if (below) p.items[p.items.length - 1] = below
      below = this.seal(p)
    }
    return { root: this.created[this.created.length - 1]!, nodes: this.created }
  }
}

/**
 * Appends entries after everything in the tree; same tree (and root hash) as appending them one at a time, but
 * each node is written once. @throws OffsetOrderError when an entry does not start after the previous one ends
 */
export async function appendEntries(
  src: NodeSource,
  root: string | null,
  entries: readonly LeafEntry[],
  options: AppendOptions = {},
): Promise<AppendResult> {
  const fanout = checkFanout(options.fanout ?? DEFAULT_FANOUT)
  if (entries.length === 0) throw new InvalidArgumentError('appendEntries needs at least one entry')
  let lastOffset = -1n
  let path: PathNode[]
  if (root === null) {
    path = [{ level: 0, items: [], original: null }]
  } else {
    path = await loadPath(src, root)
    const leaf = path[0]!.items
    lastOffset = leaf[leaf.length - 1]!.lastOffset
  }
  const builder = new PathBuilder(path, fanout)
  for (const raw of entries) {
    const e = cleanEntry(raw)
    if (e.firstOffset <= lastOffset) {
      throw new OffsetOrderError(
        `cannot append ${describe(e)} at offsets ${e.firstOffset}..${e.lastOffset}: the index already covers up to offset ${lastOffset}`,
      )
    }
    lastOffset = e.lastOffset
    builder.push(0, e)
  }
  return builder.finish()
}

/** Appends one entry; rewrites at most height+1 nodes. @throws OffsetOrderError */
export function appendEntry(
  src: NodeSource,
  root: string | null,
  entry: LeafEntry,
  options: AppendOptions = {},
): Promise<AppendResult> {
  return appendEntries(src, root, [entry], options)
}

// Full integrity check of an archive: HEAD -> every index node -> every segment, recomputing hashes and aggregates
// from the bytes instead of trusting what a parent says about its children.
import { listPartitions, listTopics, readDescriptor, readTopicMeta } from './catalog.js'
import { EverlogError, UnknownTopicError } from './errors.js'
import { sha256Hex } from './hash.js'
import { readHead } from './head.js'
import { decodeNode } from './index/index.js'
import type { ChildEntry, Head, IndexNode } from './index/types.js'
import { DESCRIPTOR_KEY, headKey, nodeKey, parseSegmentKey, topicDataPrefix, validateTopicName } from './layout.js'
import { decodeSegment, readSegmentLayout } from './segment/index.js'
import type { ObjectInfo, ObjectStore } from './store/types.js'

export interface VerifyProblem {
  /** The object that is broken (or that references a broken one). */
  key: string
  message: string
}

export interface VerifyChecked {
  topics: number
  partitions: number
  nodes: number
  segments: number
  gaps: number
  records: number
  /** Segment bytes read and hashed. */
  bytes: number
}

export interface VerifyResult {
  ok: boolean
  checked: VerifyChecked
  /** In the order found: the first one is the first broken object of the walk. */
  problems: VerifyProblem[]
  /**
   * Segments and index nodes that no HEAD reaches (crash leftovers, a fenced writer's segments, superseded nodes):
   * not a problem, `everlog gc` removes them. Only counted when the walk found no problem (a broken subtree would
   * make what it references look unreferenced).
   */
  unreferenced?: { objects: number; bytes: number }
}

export interface VerifyProgress extends VerifyChecked {
  topic: string
  partition: number
}

export interface VerifyOptions {
  /** Only this topic (UnknownTopicError when the archive does not have it). */
  topic?: string
  /** Called after every segment and partition. */
  onProgress?: (progress: VerifyProgress) => void
  /** Stop after this many problems (default 100): a badly broken archive should not flood the report. */
  maxProblems?: number
  /**
   * Also decode every page with strict decoders (decodeSegment's `strict`): a segment that some engine cannot read
   * (an LZ4 block breaking the block format's end-of-block rules) is a problem naming its row group and column.
   */
  deep?: boolean
}

type Summary = Omit<ChildEntry, 'hash'>

/** Thrown inside the walk to abandon a subtree; its problem is already recorded. */
class Abandon extends Error {}

/** How far the walk goes: `check` reads and checks every segment; `reference` only collects what HEADs reach. */
interface Walk {
  segments: 'check' | 'reference'
  /** Keys of every index node and segment reached from a HEAD. */
  reached: Set<string>
}

export async function verifyArchive(store: ObjectStore, options: VerifyOptions = {}): Promise<VerifyResult> {
  const walk: Walk = { segments: 'check', reached: new Set() }
  const { result, topics } = await walkArchive(store, options, walk)
  if (result.ok) {
    const unreferenced = { objects: 0, bytes: 0 }
    for await (const info of listUnreferenced(store, topics, walk.reached)) {
      unreferenced.objects++
      unreferenced.bytes += info.size
    }
    result.unreferenced = unreferenced
  }
  return result
}

export interface ReachableObjects {
  /** Keys of every index node and segment reachable from the HEADs read. */
  keys: Set<string>
  topics: string[]
  /** Anything broken on the way: what lies below it could not be followed. */
  problems: VerifyProblem[]
}

/** The objects the archive's HEADs reach, by the same walk as verify but without reading segments. */
export async function reachableObjects(
  store: ObjectStore,
  options: Pick<VerifyOptions, 'topic' | 'maxProblems'> = {},
): Promise<ReachableObjects> {
  const walk: Walk = { segments: 'reference', reached: new Set() }
  const { result, topics } = await walkArchive(store, options, walk)
  return { keys: walk.reached, topics, problems: result.problems }
}

const NODE_KEY = /^[a-zA-Z0-9._-]{1,249}\/index\/partition=\d{1,10}\/nodes\/[0-9a-f]{64}$/

/**
 * Segments (`<topic>/data/`) and index nodes (`<topic>/index/partition=<p>/nodes/`) of these topics that are not in
 * `reached`. Nothing else is ever listed: HEAD, topic.json, offset maps and other tables' metadata are not garbage.
 */
export async function* listUnreferenced(
  store: ObjectStore,
  topics: readonly string[],
  reached: ReadonlySet<string>,
): AsyncIterable<ObjectInfo & { kind: 'segment' | 'node' }> {
  for (const topic of topics) {
    for await (const info of store.list(topicDataPrefix(topic))) {
      if (reached.has(info.key) || parseSegmentKey(info.key)?.topic !== topic) continue
      yield { ...info, kind: 'segment' }
    }
    for await (const info of store.list(`${validateTopicName(topic)}/index/`)) {
      if (reached.has(info.key) || !NODE_KEY.test(info.key) || !info.key.startsWith(`${topic}/`)) continue
      yield { ...info, kind: 'node' }
    }
  }
}

async function walkArchive(
  store: ObjectStore,
  options: VerifyOptions,
  walk: Walk,
): Promise<{ result: VerifyResult; topics: string[] }> {
  const checked: VerifyChecked = { topics: 0, partitions: 0, nodes: 0, segments: 0, gaps: 0, records: 0, bytes: 0 }
  const problems: VerifyProblem[] = []
  const maxProblems = options.maxProblems ?? 100
  const problem = (key: string, message: string) => {
    if (problems.length < maxProblems) problems.push({ key, message })
  }
  const describe = (err: unknown) => (err instanceof Error ? err.message : String(err))

  let topics: string[]
  if (options.topic !== undefined) {
    validateTopicName(options.topic)
    const all = await listTopics(store)
    if (!all.includes(options.topic)) {
      throw new UnknownTopicError(options.topic, `topic "${options.topic}" is not in the archive ${store.url}`)
    }
    topics = [options.topic]
  } else {
    topics = await listTopics(store)
  }

  try {
    const descriptor = await readDescriptor(store)
    if (!descriptor && topics.length > 0) problem(DESCRIPTOR_KEY, 'the archive descriptor is missing')
  } catch (err) {
    problem(DESCRIPTOR_KEY, describe(err))
  }

  for (const topic of topics) {
    checked.topics++
    let declared = 0
    try {
      declared = (await readTopicMeta(store, topic))?.partitions ?? 0
    } catch (err) {
      problem(`${topic}/topic.json`, describe(err))
    }
    const partitions = new Set(await listPartitions(store, topic))
    for (let p = 0; p < declared; p++) partitions.add(p)
    for (const partition of [...partitions].sort((a, b) => a - b)) {
      if (problems.length >= maxProblems) break
      checked.partitions++
      await verifyPartition(store, topic, partition, checked, problem, describe, options, walk)
      options.onProgress?.({ ...checked, topic, partition })
    }
  }
  return { result: { ok: problems.length === 0, checked, problems }, topics }
}

async function verifyPartition(
  store: ObjectStore,
  topic: string,
  partition: number,
  checked: VerifyChecked,
  problem: (key: string, message: string) => void,
  describe: (err: unknown) => string,
  { onProgress, deep = false }: VerifyOptions,
  walk: Walk,
): Promise<void> {
  const hKey = headKey(topic, partition)
  let head: Head
  try {
    const read = await readHead(store, topic, partition)
    if (!read) return // nothing committed yet (index objects without HEAD are unreferenced leftovers of a crash)
    head = read.head
  } catch (err) {
    problem(hKey, describe(err))
    return
  }
  if (head.root === null) return

  // Offsets must strictly increase across the whole partition, leaf after leaf.
  let lastOffset: bigint | null = null

  const walkNode = async (hash: string, expectedLevel: number | undefined, parentKey: string): Promise<Summary> => {
    const key = nodeKey(topic, partition, hash)
    let node: IndexNode
    try {
      const { body } = await store.get(key)
      const actual = sha256Hex(body)
      if (actual !== hash) {
        problem(key, `index node ${key} is corrupt: its bytes hash to ${actual}`)
        throw new Abandon()
      }
      node = decodeNode(body)
    } catch (err) {
      if (err instanceof Abandon) throw err
      problem(key, `index node ${key} (referenced by ${parentKey}) cannot be read: ${describe(err)}`)
      throw new Abandon()
    }
    checked.nodes++
    walk.reached.add(key)
    if (expectedLevel !== undefined && node.level !== expectedLevel) {
      problem(key, `index node ${key} is at level ${node.level} but its parent ${parentKey} is at ${expectedLevel + 1}`)
      throw new Abandon()
    }
    const acc = new Accumulator()
    if (node.level === 0 && 'entries' in node) {
      if (node.entries.length === 0 && parentKey !== hKey) problem(key, `leaf ${key} is empty`)
      for (const entry of node.entries) {
        if (entry.lastOffset < entry.firstOffset) {
          problem(key, `leaf ${key} has an entry ${entry.firstOffset}..${entry.lastOffset} that ends before it starts`)
        }
        if (lastOffset !== null && entry.firstOffset <= lastOffset) {
          problem(key, `leaf ${key}: entry at offset ${entry.firstOffset} overlaps offset ${lastOffset} before it`)
        }
        lastOffset = entry.lastOffset
        if (entry.kind === 'gap') {
          checked.gaps++
          acc.add({ ...gapSummary, firstOffset: entry.firstOffset, lastOffset: entry.lastOffset })
          continue
        }
        walk.reached.add(entry.key)
        if (walk.segments === 'check') {
          await verifySegment(store, topic, partition, entry, key, checked, problem, describe, deep)
        } else if (parseSegmentKey(entry.key)?.topic !== topic) {
          problem(key, `leaf ${key} references ${entry.key}, which is not a segment key of ${topic}/${partition}`)
        }
        acc.add({
          firstOffset: entry.firstOffset,
          lastOffset: entry.lastOffset,
          records: entry.records,
          bytes: entry.bytes,
          segments: 1,
          gaps: 0,
          minTimestamp: entry.minTimestamp,
          maxTimestamp: entry.maxTimestamp,
        })
        onProgress?.({ ...checked, topic, partition })
      }
    } else if ('children' in node) {
      if (node.children.length === 0) problem(key, `internal node ${key} has no children`)
      for (const child of node.children) {
        let actual: Summary
        try {
          actual = await walkNode(child.hash, node.level - 1, key)
        } catch (err) {
          if (err instanceof Abandon) continue
          throw err
        }
        const diff = compareSummary(child, actual)
        if (diff) problem(key, `index node ${key}: child ${child.hash} ${diff}`)
        acc.add(actual)
      }
    }
    const s = acc.summary()
    if (!s) {
      problem(key, `index node ${key} is empty`)
      throw new Abandon()
    }
    return s
  }

  let total: Summary
  try {
    total = await walkNode(head.root, undefined, hKey)
  } catch (err) {
    if (err instanceof Abandon) return
    throw err
  }
  const diff = compareSummary(
    {
      firstOffset: head.firstOffset ?? -1n,
      lastOffset: head.nextOffset - 1n,
      records: head.records,
      bytes: head.bytes,
      segments: head.segments,
      gaps: head.gaps,
      minTimestamp: head.minTimestamp,
      maxTimestamp: head.maxTimestamp,
    },
    total,
  )
  if (diff) problem(hKey, `HEAD of ${topic}/${partition} disagrees with its index: ${diff}`)
}

async function verifySegment(
  store: ObjectStore,
  topic: string,
  partition: number,
  entry: {
    key: string
    firstOffset: bigint
    lastOffset: bigint
    records: number
    bytes: number
    minTimestamp: bigint
    maxTimestamp: bigint
  },
  leafKey: string,
  checked: VerifyChecked,
  problem: (key: string, message: string) => void,
  describe: (err: unknown) => string,
  deep: boolean,
): Promise<void> {
  const key = entry.key
  const parsed = parseSegmentKey(key)
  if (!parsed || parsed.topic !== topic || parsed.partition !== partition || parsed.firstOffset !== entry.firstOffset) {
    problem(
      leafKey,
      `leaf ${leafKey} references ${key}, which is not a segment key of ${topic}/${partition} at offset ${entry.firstOffset}`,
    )
    return
  }
  checked.segments++
  let records
  try {
    const { body } = await store.get(key)
    checked.bytes += body.length
    if (body.length !== entry.bytes) {
      problem(key, `segment ${key} is ${body.length} bytes but the index says ${entry.bytes}`)
      return
    }
    // decodeSegment checks the sha256 against the key's hash before decoding.
    records = decodeSegment(body, { expectedSha256: parsed.sha256, key, strict: deep })
  } catch (err) {
    problem(key, `segment ${key} is unreadable: ${describe(err)}`)
    return
  }
  checked.records += records.length
  let min: bigint | null = null
  let max: bigint | null = null
  let prev: bigint | null = null
  for (const r of records) {
    if (prev !== null && r.offset <= prev) {
      problem(key, `segment ${key}: offset ${r.offset} follows ${prev} (offsets must strictly increase)`)
      return
    }
    prev = r.offset
    if (min === null || r.timestamp < min) min = r.timestamp
    if (max === null || r.timestamp > max) max = r.timestamp
  }
  const first = records[0]?.offset
  if (
    records.length !== entry.records ||
    first !== entry.firstOffset ||
    prev !== entry.lastOffset ||
    min !== entry.minTimestamp ||
    max !== entry.maxTimestamp
  ) {
    problem(
      key,
      `segment ${key} holds ${records.length} records, offsets ${first}..${prev}, timestamps ${min}..${max}; ` +
        `the index says ${entry.records}, ${entry.firstOffset}..${entry.lastOffset}, ${entry.minTimestamp}..${entry.maxTimestamp}`,
    )
    return
  }
  // The file's own metadata must tell the same story (Athena/DuckDB users see it).
  try {
    const { metadata } = await readSegmentLayout(store, key)
    const expect: Record<string, string> = {
      'everlog.topic': topic,
      'everlog.partition': String(partition),
      'everlog.firstOffset': String(entry.firstOffset),
      'everlog.lastOffset': String(entry.lastOffset),
      'everlog.records': String(entry.records),
    }
    for (const [k, v] of Object.entries(expect)) {
      if (metadata[k] !== undefined && metadata[k] !== v) {
        problem(key, `segment ${key}: file metadata ${k}=${metadata[k]} but expected ${v}`)
        return
      }
    }
  } catch (err) {
    if (err instanceof EverlogError) problem(key, `segment ${key}: footer unreadable: ${describe(err)}`)
    else throw err
  }
}

const gapSummary: Summary = {
  firstOffset: 0n,
  lastOffset: 0n,
  records: 0,
  bytes: 0,
  segments: 0,
  gaps: 1,
  minTimestamp: null,
  maxTimestamp: null,
}

class Accumulator {
  private s: Summary | undefined
  add(x: Summary): void {
    if (!this.s) {
      this.s = { ...x }
      return
    }
    const s = this.s
    s.lastOffset = x.lastOffset
    s.records += x.records
    s.bytes += x.bytes
    s.segments += x.segments
    s.gaps += x.gaps
    if (x.minTimestamp !== null && (s.minTimestamp === null || x.minTimestamp < s.minTimestamp)) {
      s.minTimestamp = x.minTimestamp
    }
    if (x.maxTimestamp !== null && (s.maxTimestamp === null || x.maxTimestamp > s.maxTimestamp)) {
      s.maxTimestamp = x.maxTimestamp
    }
  }
  summary(): Summary | undefined {
    return this.s
  }
}

function compareSummary(claimed: Summary, actual: Summary): string | undefined {
  const fields = [
    'firstOffset',
    'lastOffset',
    'records',
    'bytes',
    'segments',
    'gaps',
    'minTimestamp',
    'maxTimestamp',
  ] as const
  const wrong = fields.filter((f) => claimed[f] !== actual[f])
  if (wrong.length === 0) return undefined
  return wrong.map((f) => `${f} is ${claimed[f]} but the data says ${actual[f]}`).join('; ')
}

// The commit protocol of one partition (DESIGN.md "Commit protocol"): segment, then index nodes, then a conditional
// HEAD write. HEAD is the only mutable object, so a crash between steps leaves unreferenced objects and never a
// lost or duplicated record, and a failed conditional write means another writer owns the partition (fenced).
import { ensureArchive } from './catalog.js'
import { FencedError, InvalidArgumentError, OffsetOrderError } from './errors.js'
import { emptyHead, encodeHead, readHead } from './head.js'
import { appendEntry, StoreNodeSource } from './index/index.js'
import type { EncodedNode, NodeSource } from './index/index.js'
import type { GapEntry, Head, IndexNode, LeafEntry, SegmentEntry } from './index/types.js'
import { FORMAT_VERSION, headKey, nodeKey, segmentKey, validatePartition, validateTopicName } from './layout.js'
import type { ArchiveRecord } from './record.js'
import { encodeSegment } from './segment/index.js'
import type { EncodedSegment, SegmentCompression } from './segment/index.js'
import type { ObjectStore } from './store/types.js'

/** Called between the steps of a commit; a hook that throws aborts the commit right there (crash tests). */
export interface CommitHooks {
  afterSegmentPut?: () => Promise<void> | void
  afterNodePut?: (index: number) => Promise<void> | void
  beforeHeadWrite?: () => Promise<void> | void
  afterHeadWrite?: () => Promise<void> | void
}

export interface PartitionWriterOptions {
  topic: string
  partition: number
  /** Who commits, written into HEAD for operators, e.g. "archiver@host:pid". */
  writer: string
  /** B+tree fan-out; default is the index's (256). */
  fanout?: number
  compression?: SegmentCompression
  rowGroupBytes?: number
  /** Index nodes kept decoded in memory (immutable, so never stale). */
  cacheNodes?: number
  hooks?: CommitHooks
}

export interface CommitResult {
  /** The leaf entry that was committed. */
  entry: LeafEntry
  head: Head
}

const HEAD_TYPE = { contentType: 'application/json' }

/**
 * The rightmost path of the last append, served from memory: the next append reads exactly these nodes, so a
 * writer that committed them needs no GETs to continue.
 */
class RecentNodes implements NodeSource {
  private recent = new Map<string, IndexNode>()
  constructor(private readonly backing: NodeSource) {}
  remember(nodes: readonly EncodedNode[]): void {
    this.recent = new Map(nodes.map((n) => [n.hash, n.node]))
  }
  async getNode(hash: string): Promise<IndexNode> {
    return this.recent.get(hash) ?? this.backing.getNode(hash)
  }
}

export class PartitionWriter {
  readonly topic: string
  readonly partition: number
  private current: Head
  private etag: string | undefined
  private fencedBy: FencedError | undefined
  // After an ambiguous HEAD write (error without an answer) the store's HEAD must be re-read before the next commit.
  private uncertain = false
  private pending: PendingHead | undefined
  // The last entry this writer committed (or confirmed), so that retrying the very same commit is a no-op.
  private last: CommitResult | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private readonly nodes: RecentNodes

  private constructor(
    private readonly store: ObjectStore,
    private readonly options: PartitionWriterOptions,
    head: Head,
    etag: string | undefined,
  ) {
    this.topic = options.topic
    this.partition = options.partition
    this.current = head
    this.etag = etag
    this.nodes = new RecentNodes(
      new StoreNodeSource(store, options.topic, options.partition, { cacheNodes: options.cacheNodes ?? 64 }),
    )
  }

  /** Opens a writer that resumes where the partition's HEAD says (offset 0 for a new partition). */
  static async open(store: ObjectStore, options: PartitionWriterOptions): Promise<PartitionWriter> {
    validateTopicName(options.topic)
    validatePartition(options.partition)
    if (typeof options.writer !== 'string' || options.writer === '') {
      throw new InvalidArgumentError('PartitionWriter needs a non-empty "writer" identity (e.g. "archiver@host:pid")')
    }
    if (options.fanout !== undefined && (!Number.isInteger(options.fanout) || options.fanout < 2)) {
      throw new InvalidArgumentError(`invalid fanout ${options.fanout}: expected an integer >= 2`)
    }
    await ensureArchive(store)
    const read = await readHead(store, options.topic, options.partition)
    return new PartitionWriter(store, options, read?.head ?? emptyHead(options.writer), read?.etag)
  }

  /** The last committed HEAD (an empty HEAD with root null before the first commit). */
  get head(): Head {
    return this.current
  }

  /** The first offset the next segment or gap may start at. */
  get nextOffset(): bigint {
    return this.current.nextOffset
  }

  /** True once another writer took over the partition; every later call throws FencedError. */
  get fenced(): boolean {
    return this.fencedBy !== undefined
  }

  /** Encodes records (strictly increasing offsets, the first >= nextOffset) into a segment and commits it. */
  appendSegment(records: readonly ArchiveRecord[]): Promise<CommitResult> {
    return this.serialize(async () => {
      if (records.length === 0) throw new InvalidArgumentError('appendSegment needs at least one record')
      if (records[0]!.offset !== this.last?.entry.firstOffset) this.checkStart(records[0]!.offset, 'segment')
      const encoded = encodeSegment(records, {
        topic: this.topic,
        partition: this.partition,
        compression: this.options.compression,
        rowGroupBytes: this.options.rowGroupBytes,
      })
      return this.commitEncoded(encoded)
    })
  }

  /** Commits a segment encoded elsewhere (e.g. off the commit path, in parallel with the previous commit). */
  commitSegment(encoded: EncodedSegment): Promise<CommitResult> {
    return this.serialize(() => this.commitEncoded(encoded))
  }

  /** Records that Kafka deleted offsets firstOffset..lastOffset before they could be archived. */
  appendGap(gap: { firstOffset: bigint; lastOffset: bigint; reason: string }): Promise<CommitResult> {
    return this.serialize(async () => {
      if (gap.lastOffset < gap.firstOffset) {
        throw new InvalidArgumentError(
          `gap ${gap.firstOffset}..${gap.lastOffset} of ${this.topic}/${this.partition} ends before it starts`,
        )
      }
      if (typeof gap.reason !== 'string' || gap.reason === '') {
        throw new InvalidArgumentError(`gap of ${this.topic}/${this.partition} needs a reason (e.g. "retention")`)
      }
      const last = this.last?.entry
      if (
        last?.kind === 'gap' &&
        last.firstOffset === gap.firstOffset &&
        last.lastOffset === gap.lastOffset &&
        last.reason === gap.reason
      ) {
        return this.last!
      }
      this.checkStart(gap.firstOffset, 'gap')
      const entry: GapEntry = {
        kind: 'gap',
        firstOffset: gap.firstOffset,
        lastOffset: gap.lastOffset,
        reason: gap.reason,
      }
      return this.commitEntry(entry)
    })
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.fencedBy) throw this.fencedBy
      if (this.uncertain) await this.reconcile()
      return fn()
    })
    this.queue = run.catch(() => {})
    return run
  }

  private checkStart(firstOffset: bigint, what: string): void {
    if (firstOffset < this.current.nextOffset) {
      throw new OffsetOrderError(
        `${what} of ${this.topic}/${this.partition} starts at offset ${firstOffset}, but the archive already covers ` +
          `offsets below ${this.current.nextOffset}; resume at ${this.current.nextOffset}`,
      )
    }
  }

  private async commitEncoded(encoded: EncodedSegment): Promise<CommitResult> {
    const key = segmentKey(this.topic, this.partition, encoded.firstOffset, encoded.sha256)
    // Retrying a commit whose answer was lost but which did land: the same segment is already the last entry.
    if (this.last?.entry.kind === 'segment' && this.last.entry.key === key) return this.last
    this.checkStart(encoded.firstOffset, 'segment')
    // Content-addressed: a retry after a crash rewrites identical bytes under the identical key.
    await this.store.put(key, encoded.bytes, { contentType: 'application/vnd.apache.parquet' })
    await this.options.hooks?.afterSegmentPut?.()
    const entry: SegmentEntry = {
      kind: 'segment',
      firstOffset: encoded.firstOffset,
      lastOffset: encoded.lastOffset,
      records: encoded.records,
      bytes: encoded.bytes.length,
      minTimestamp: encoded.minTimestamp,
      maxTimestamp: encoded.maxTimestamp,
      key,
    }
    return this.commitEntry(entry)
  }

  private async commitEntry(entry: LeafEntry): Promise<CommitResult> {
    const hooks = this.options.hooks
    const fanout = this.options.fanout === undefined ? undefined : { fanout: this.options.fanout }
    const appended = await appendEntry(this.nodes, this.current.root, entry, fanout)
    // Children before parents: a reader that finds a node can always find what it references.
    for (let i = 0; i < appended.nodes.length; i++) {
      const node = appended.nodes[i]!
      await this.store.put(nodeKey(this.topic, this.partition, node.hash), node.bytes)
      await hooks?.afterNodePut?.(i)
    }
    await hooks?.beforeHeadWrite?.()
    const next = this.nextHead(entry, appended.root.hash)
    await this.writeHead(next, entry)
    this.nodes.remember(appended.nodes)
    await hooks?.afterHeadWrite?.()
    return { entry, head: next }
  }

  private nextHead(entry: LeafEntry, root: string): Head {
    const h = this.current
    const seg = entry.kind === 'segment' ? entry : undefined
    const min = (a: bigint | null, b: bigint) => (a === null || b < a ? b : a)
    const max = (a: bigint | null, b: bigint) => (a === null || b > a ? b : a)
    return {
      format: FORMAT_VERSION,
      root,
      nextOffset: entry.lastOffset + 1n,
      firstOffset: h.firstOffset ?? entry.firstOffset,
      records: h.records + (seg?.records ?? 0),
      bytes: h.bytes + (seg?.bytes ?? 0),
      segments: h.segments + (seg ? 1 : 0),
      gaps: h.gaps + (seg ? 0 : 1),
      minTimestamp: seg ? min(h.minTimestamp, seg.minTimestamp) : h.minTimestamp,
      maxTimestamp: seg ? max(h.maxTimestamp, seg.maxTimestamp) : h.maxTimestamp,
      writer: this.options.writer,
    }
  }

  private async writeHead(next: Head, entry: LeafEntry): Promise<void> {
    const key = headKey(this.topic, this.partition)
    const pending: PendingHead = { bytes: encodeHead(next), head: next, entry }
    try {
      const { etag } =
        this.etag === undefined
          ? await this.store.putIfAbsent(key, pending.bytes, HEAD_TYPE)
          : await this.store.putIfMatch(key, pending.bytes, this.etag, HEAD_TYPE)
      this.adopt(pending, etag)
      return
    } catch (err) {
      // A retried request whose first attempt landed also reports a failed precondition, and a request without an
      // answer may or may not have landed: either way only the store can tell whether the partition is still ours.
      this.pending = pending
      this.uncertain = true
      try {
        await this.reconcile(err)
      } catch (settleErr) {
        if (settleErr instanceof FencedError) throw settleErr
        throw err // the store could not be asked either; the next call asks again before doing anything
      }
      if (this.current !== next) throw err // settled: our HEAD did not land and the partition is still ours
    }
  }

  private adopt(pending: PendingHead, etag: string): void {
    this.current = pending.head
    this.etag = etag
    this.last = { entry: pending.entry, head: pending.head }
  }

  /** Decides from the store's HEAD whether an unconfirmed HEAD write landed, did not land, or lost to a writer. */
  private async reconcile(cause?: unknown): Promise<void> {
    const now = await readHead(this.store, this.topic, this.partition)
    const pending = this.pending
    if (now && pending && Buffer.from(encodeHead(now.head)).equals(Buffer.from(pending.bytes))) {
      this.adopt(pending, now.etag)
    } else if (now?.etag !== this.etag) {
      this.fencedBy = new FencedError(this.topic, this.partition, cause === undefined ? undefined : { cause })
      throw this.fencedBy
    }
    this.uncertain = false
    this.pending = undefined
  }
}

interface PendingHead {
  bytes: Uint8Array
  head: Head
  entry: LeafEntry
}

// ArchiveReader: reads a partition's offset range straight from object storage (no Kafka), following HEAD to the
// B+tree to the segments, fetching only the row groups a range needs and reading the next chunk ahead.
import { readTopicMeta } from './catalog.js'
import {
  DataLossError,
  IntegrityError,
  InvalidArgumentError,
  UnknownPartitionError,
  UnknownTopicError,
} from './errors.js'
import { emptyHead, readHead } from './head.js'
import { iterateEntries, seekTimestamp, StoreNodeSource } from './index/index.js'
import type { GapEntry, Head, SegmentEntry } from './index/types.js'
import { validatePartition, validateTopicName } from './layout.js'
import { ReadBudget } from './read-budget.js'
import type { BudgetRequest } from './read-budget.js'
import type { ArchiveRecord } from './record.js'
import {
  columnsToRecords,
  decodeRowGroupColumnsAsync,
  fetchRowGroup,
  DEFAULT_ROW_GROUP_BYTES,
  fetchSegment,
  lowerBound,
  readRowGroup,
  readSegmentLayout,
  sliceColumns,
} from './segment/index.js'
import type { RecordColumns, RowGroupInfo } from './segment/index.js'
import type { ObjectStore } from './store/types.js'

export interface ArchiveReaderOptions {
  /** Decoded index nodes kept per partition (immutable, so a cache never goes stale). Default 256. */
  cacheNodes?: number
  /** Chunks (segments or row groups) fetched ahead of the one being consumed. Default 1; 0 disables read-ahead. */
  prefetchSegments?: number
  /**
   * Bytes that fetched segments and their decoded row groups may take, shared by every partition this reader
   * reads at once (default 32 MiB). A partition's next chunk waits for room, read-ahead after the first chunk of
   * every partition; one chunk larger than the budget is read alone. Iterators left open keep what they hold:
   * close (return) one that is abandoned.
   */
  readBufferBytes?: number
}

export const DEFAULT_READ_BUFFER_BYTES = 32 * 1024 * 1024

export interface ReadOptions {
  topic: string
  partition: number
  /** First offset to read (default: the start of the archive). */
  fromOffset?: bigint
  /** Kafka's semantics: start at the first offset whose timestamp is >= this (epoch ms); then read onward. */
  fromTimestamp?: bigint
  /** Last offset to read, inclusive (default: the end of the archive as of the HEAD read when reading starts). */
  toOffset?: bigint
  /** A gap (offsets Kafka deleted before they were archived) in the range: throw DataLossError or skip it. */
  onGap?: 'error' | 'skip'
  /** Told about every gap skipped with onGap 'skip', before the records after it. */
  onGapSkipped?: (gap: GapEntry) => void
  /** The partition's HEAD as the caller just read it (`head()`): read from it instead of reading HEAD again. */
  head?: Head
}

/** A chunk of consecutive records of one segment (one row group of it, or the part of one a range wants). */
export interface RecordBatch {
  /** The records column by column, for readers that build their own objects. */
  columns: RecordColumns
  /** The records as ArchiveRecords, made on first use. */
  readonly records: ArchiveRecord[]
  segment: SegmentEntry
}

class ColumnBatch implements RecordBatch {
  private made: ArchiveRecord[] | undefined

  constructor(
    readonly columns: RecordColumns,
    readonly segment: SegmentEntry,
  ) {}

  get records(): ArchiveRecord[] {
    return (this.made ??= columnsToRecords(this.columns))
  }
}

/** Fetched bytes whose row groups decode one at a time, each on demand and at most once. */
interface Loaded {
  groups: number
  decode(group: number): Promise<RecordColumns>
}

type Step =
  | {
      kind: 'load'
      segment: SegmentEntry
      /** What the load takes in memory, as far as is known before it runs (it may resize its reservation). */
      bytes: number
      load: (reservation: BudgetRequest) => Promise<Loaded>
    }
  | { kind: 'gap'; gap: GapEntry }

/** Decoded row groups a load holds at once: the one handed out and the next one decoding. */
function decodeReserve(groups: readonly RowGroupInfo[]): number {
  let first = 0
  let second = 0
  for (const rg of groups) {
    if (rg.uncompressedBytes > first) [first, second] = [rg.uncompressedBytes, first]
    else if (rg.uncompressedBytes > second) second = rg.uncompressedBytes
  }
  return first + second
}

/** Row groups decoded on demand, each at most once; the first starts at once, so read-ahead covers it too. */
function decodingAhead(groups: number, decode: (group: number) => Promise<RecordColumns>): Loaded {
  const started: Promise<RecordColumns>[] = []
  const loaded: Loaded = {
    groups,
    decode(g) {
      let p = started[g]
      if (!p) {
        p = started[g] = decode(g)
        p.catch(() => {})
      }
      // Handed out once: a decoded row group is not kept here after its chunk was taken.
      if (g > 0) delete started[g - 1]
      return p
    },
  }
  if (groups > 0) loaded.decode(0)
  return loaded
}

export class ArchiveReader {
  private readonly sources = new Map<string, StoreNodeSource>()
  private readonly cacheNodes: number
  private readonly prefetch: number
  /** The bytes shared by every read of this reader (readable for accounting: heldBytes, peakBytes). */
  readonly budget: ReadBudget
  /** Decoded row-group bytes a segment load holds per fetched byte, as last seen (a first guess until then). */
  private decodeRatio = 8

  constructor(
    readonly store: ObjectStore,
    options: ArchiveReaderOptions = {},
  ) {
    this.cacheNodes = options.cacheNodes ?? 256
    this.prefetch = options.prefetchSegments ?? 1
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0) {
      throw new InvalidArgumentError(`invalid prefetchSegments ${options.prefetchSegments}: expected an integer >= 0`)
    }
    const bytes = options.readBufferBytes ?? DEFAULT_READ_BUFFER_BYTES
    if (!Number.isSafeInteger(bytes) || bytes < 1) {
      throw new InvalidArgumentError(`invalid readBufferBytes ${options.readBufferBytes}: expected an integer >= 1`)
    }
    this.budget = new ReadBudget(bytes)
  }

  /** The partition's HEAD, or undefined when nothing of it is archived yet. */
  async head(topic: string, partition: number): Promise<Head | undefined> {
    return (await readHead(this.store, topic, partition))?.head
  }

  /**
   * The first offset whose timestamp is >= t (Kafka's ListOffsets semantics, correct with non-monotonic
   * timestamps), or undefined when every archived record is older.
   */
  async offsetForTimestamp(topic: string, partition: number, timestamp: bigint): Promise<bigint | undefined> {
    const head = await this.requireHead(topic, partition)
    if (head.root === null) return undefined
    const segment = await seekTimestamp(this.source(topic, partition), head.root, timestamp)
    if (!segment) return undefined
    const layout = await readSegmentLayout(this.store, segment.key)
    for (const rg of layout.rowGroups) {
      if (rg.maxTimestamp < timestamp) continue
      for (const r of await readRowGroup(this.store, segment.key, layout, rg.index)) {
        if (r.timestamp >= timestamp) return r.offset
      }
    }
    throw new IntegrityError(
      segment.key,
      `segment ${segment.key} of ${topic}/${partition} is indexed with max timestamp ${segment.maxTimestamp} but holds no record at or after ${timestamp}`,
    )
  }

  /** Records of the range in offset order. */
  async *read(options: ReadOptions): AsyncGenerator<ArchiveRecord> {
    for await (const batch of this.readBatches(options)) yield* batch.records
  }

  /**
   * Records of the range in chunks of one row group, the next one decoding (in the decode worker) while this one is
   * used, and the next segment's bytes fetched ahead.
   */
  async *readBatches(options: ReadOptions): AsyncGenerator<RecordBatch> {
    const { topic, partition } = options
    if (options.fromOffset !== undefined && options.fromTimestamp !== undefined) {
      throw new InvalidArgumentError('read: give fromOffset or fromTimestamp, not both')
    }
    const onGap = options.onGap ?? 'error'
    if (onGap !== 'error' && onGap !== 'skip') {
      throw new InvalidArgumentError(`read: invalid onGap ${JSON.stringify(onGap)}: expected 'error' or 'skip'`)
    }
    let head = options.head
    if (head) {
      validateTopicName(topic)
      validatePartition(partition)
    } else {
      head = await this.requireHead(topic, partition)
    }
    if (head.root === null || head.firstOffset === null) return
    let from = options.fromOffset ?? head.firstOffset
    if (options.fromTimestamp !== undefined) {
      const found = await this.offsetForTimestamp(topic, partition, options.fromTimestamp)
      if (found === undefined) return
      from = found
    }
    const to = options.toOffset ?? head.nextOffset - 1n
    if (from < 0n) throw new InvalidArgumentError(`read: fromOffset ${from} is negative`)
    if (to < from) return

    const steps = this.steps(topic, partition, head.root, from, to)
    // Up to `prefetch` loads run ahead of the consumer, each once the budget has room for it; memory is bounded by
    // those plus the chunk in use. Gaps and errors travel through the same queue so they surface in offset order,
    // after the records before them.
    type Pending =
      | { kind: 'chunk'; segment: SegmentEntry; loaded: Promise<Loaded>; reservation: BudgetRequest }
      | { kind: 'gap'; gap: GapEntry }
      | { kind: 'error'; error: unknown }
    const ahead: Pending[] = []
    const reserved = new Set<BudgetRequest>()
    let loads = 0
    let exhausted = false
    const fill = async () => {
      while (!exhausted && loads <= this.prefetch) {
        let next: IteratorResult<Step>
        try {
          next = await steps.next()
        } catch (error) {
          ahead.push({ kind: 'error', error })
          exhausted = true
          return
        }
        if (next.done) {
          exhausted = true
          return
        }
        const step = next.value
        if (step.kind === 'gap') {
          ahead.push(step)
          // Nothing after a gap is worth fetching when the gap is going to stop the read.
          if (onGap === 'error') exhausted = true
          continue
        }
        // The first chunk of a read that holds nothing goes ahead of other reads' read-ahead.
        const reservation = this.budget.request(step.bytes, { first: reserved.size === 0 })
        reserved.add(reservation)
        const loaded = reservation.granted.then(() => step.load(reservation))
        loaded.catch(() => {}) // awaited in order below; a consumer that stops early must not leave it unhandled
        ahead.push({ kind: 'chunk', segment: step.segment, loaded, reservation })
        loads++
      }
    }
    try {
      for (;;) {
        await fill()
        const item = ahead.shift()
        if (!item) return
        if (item.kind === 'error') throw item.error
        if (item.kind === 'gap') {
          if (onGap === 'error') {
            throw new DataLossError(topic, partition, item.gap.firstOffset, item.gap.lastOffset, item.gap.reason)
          }
          options.onGapSkipped?.(item.gap)
          continue
        }
        loads--
        const loaded = await item.loaded
        for (let g = 0; g < loaded.groups; g++) {
          const columns = await loaded.decode(g)
          // Started before this chunk is handed out: it decodes while the caller works on this one.
          if (g + 1 < loaded.groups) loaded.decode(g + 1).catch(() => {})
          if (columns.length > 0) yield new ColumnBatch(columns, item.segment)
        }
        // The caller asked for more, so it is done with this chunk's records.
        item.reservation.release()
        reserved.delete(item.reservation)
      }
    } finally {
      for (const r of reserved) r.release()
      await steps.return(undefined)
    }
  }

  /** What reading [from, to] takes, in offset order: gaps, and loads of whole segments or single row groups. */
  private async *steps(topic: string, partition: number, root: string, from: bigint, to: bigint): AsyncGenerator<Step> {
    for await (const entry of iterateEntries(this.source(topic, partition), root, { fromOffset: from, toOffset: to })) {
      if (entry.lastOffset < from || entry.firstOffset > to) continue
      if (entry.kind === 'gap') {
        yield { kind: 'gap', gap: entry }
        continue
      }
      if (entry.firstOffset >= from && entry.lastOffset <= to) {
        // The whole segment is wanted: one GET, checked against the sha256 in its key.
        // Its row groups' decoded size is known once its footer is: until then, a guess from the segments before.
        yield {
          kind: 'load',
          segment: entry,
          bytes: entry.bytes + Math.min(2 * DEFAULT_ROW_GROUP_BYTES, Math.ceil(entry.bytes * this.decodeRatio)),
          load: (reservation) => this.loadSegment(topic, partition, entry, reservation),
        }
        continue
      }
      // Part of a segment: its footer, then only the row groups overlapping the range (ranged GETs).
      const layout = await readSegmentLayout(this.store, entry.key)
      if (layout.size !== entry.bytes) {
        throw new IntegrityError(
          entry.key,
          `segment ${entry.key} of ${topic}/${partition} is ${layout.size} bytes but the index says ${entry.bytes}`,
        )
      }
      for (const rg of layout.rowGroups) {
        if (rg.lastOffset < from || rg.firstOffset > to) continue
        yield {
          kind: 'load',
          segment: entry,
          bytes: rg.byteEnd - rg.byteStart + rg.uncompressedBytes,
          load: async () => {
            const bytes = await fetchRowGroup(this.store, entry.key, layout, rg.index)
            return decodingAhead(1, async () => {
              const columns = await decodeRowGroupColumnsAsync(layout, rg.index, bytes, entry.key)
              return sliceColumns(columns, lowerBound(columns.offsets, from), lowerBound(columns.offsets, to + 1n))
            })
          },
        }
      }
    }
  }

  private async loadSegment(
    topic: string,
    partition: number,
    entry: SegmentEntry,
    reservation: BudgetRequest,
  ): Promise<Loaded> {
    const { bytes, layout } = await fetchSegment(this.store, entry.key)
    const groups = layout.rowGroups
    const reserve = decodeReserve(groups)
    this.decodeRatio = reserve / bytes.length
    reservation.resize(bytes.length + reserve)
    const records = groups.reduce((n, rg) => n + rg.records, 0)
    const first = groups[0]!.firstOffset
    const last = groups[groups.length - 1]!.lastOffset
    // Each row group's records are checked against its footer bounds as it decodes; the footer against the index.
    if (records !== entry.records || first !== entry.firstOffset || last !== entry.lastOffset) {
      throw new IntegrityError(
        entry.key,
        `segment ${entry.key} of ${topic}/${partition} holds ${records} records (offsets ` +
          `${first}..${last}) but the index says ${entry.records} (${entry.firstOffset}..${entry.lastOffset})`,
      )
    }
    return decodingAhead(groups.length, (g) => {
      const rg = groups[g]!
      return decodeRowGroupColumnsAsync(layout, g, bytes.subarray(rg.byteStart, rg.byteEnd), entry.key)
    })
  }

  private async requireHead(topic: string, partition: number): Promise<Head> {
    validateTopicName(topic)
    validatePartition(partition)
    const read = await readHead(this.store, topic, partition)
    if (read) return read.head
    // Tell "no such topic" from "this partition has nothing archived yet": users act differently on each.
    const meta = await readTopicMeta(this.store, topic)
    if (meta && partition < meta.partitions) return emptyHead('')
    if (!meta && (await this.store.listPrefixes(`${topic}/`)).length === 0) {
      throw new UnknownTopicError(topic, `topic "${topic}" is not in the archive ${this.store.url}`)
    }
    throw new UnknownPartitionError(topic, partition)
  }

  private source(topic: string, partition: number): StoreNodeSource {
    const id = `${topic}/${partition}`
    let src = this.sources.get(id)
    if (!src) {
      src = new StoreNodeSource(this.store, topic, partition, { cacheNodes: this.cacheNodes })
      this.sources.set(id, src)
    }
    return src
  }
}

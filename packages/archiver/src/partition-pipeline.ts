// One partition's way from Kafka records to committed segments: buffer, encode each row group as soon as it is full,
// roll on size/count/age, and commit through the partition's writer strictly in offset order while fetching goes on.
// Encoding row groups as they fill spreads the CPU work over the segment's lifetime instead of a burst at roll time.
// Memory is charged to the shared budget until a segment is committed (or dropped); uploads share the limiter.
import { FencedError, fitsRowGroup, OffsetOrderError } from '@everlog/core'
import type { ArchiveRecord, EncodedRowGroup, EncodedSegment, Head, PackedRecords } from '@everlog/core'
import type { ByteBudget, Limiter } from './budget.js'
import { BatchRecords, forEachArchivableBatch } from './fetch/record-batches.js'
import type { AbortedTransaction } from './fetch/record-batches.js'
import { PackedRecordsBuilder } from './packed-records.js'
import { withRetry } from './retry.js'
import type { RetryPolicy } from './retry.js'

/** What the pipeline needs of core's PartitionWriter (a fake in unit tests). */
// Offsets of up to 15 digits are safe integers as numbers.
const MAX_SAFE = 10n ** 15n

export interface SegmentSink {
  readonly head: Head
  readonly nextOffset: bigint
  readonly fenced: boolean
  commitSegment(encoded: EncodedSegment): Promise<{ head: Head }>
  appendGap(gap: { firstOffset: bigint; lastOffset: bigint; reason: string }): Promise<{ head: Head }>
}

export interface RollLimits {
  maxBytes: number
  maxRecords: number
  maxAgeMs: number
}

/** What one commit achieved, for the Kafka offset commit, metrics and logs. */
export type Committed =
  | {
      kind: 'segment'
      head: Head
      firstOffset: bigint
      lastOffset: bigint
      records: number
      rawBytes: number
      objectBytes: number
      maxTimestamp: bigint
      uploadSeconds: number
      reason: RollReason
    }
  | { kind: 'gap'; head: Head; firstOffset: bigint; lastOffset: bigint; reason: string }

export type RollReason = 'size' | 'records' | 'age' | 'flush' | 'gap'

export interface PartitionPipelineOptions {
  topic: string
  partition: number
  sink: SegmentSink
  /** Encodes one full row group; may do it elsewhere (a worker thread, which takes the packed buffers). */
  encodeRowGroup: (records: PackedRecords) => EncodedRowGroup | Promise<EncodedRowGroup>
  /** Places a segment's encoded row groups, in order, into the segment file. */
  assemble: (groups: EncodedRowGroup[]) => EncodedSegment
  /** A row group is sealed (and sent for encoding) once its raw record bytes reach this. */
  rowGroupBytes: number
  limits: RollLimits
  budget: ByteBudget
  limiter: Limiter
  retry: RetryPolicy
  /** Called in commit order after HEAD moved; a rejection is logged by the caller's onError, not retried. */
  onCommitted?: (c: Committed) => Promise<void> | void
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** The partition stopped: fenced (another writer owns it) or a non-retriable error. Called once. */
  onStopped?: (err: unknown) => void
  now?: () => number
}

/** Per-record memory beyond key/value/header bytes charged to the budget (packed numbers and lengths, chunk slack). */
export const RECORD_OVERHEAD_BYTES = 96

export type PipelineState = 'running' | 'fenced' | 'failed' | 'closed'

export class PartitionPipeline {
  readonly topic: string
  readonly partition: number
  /** The open row group of the open segment. */
  private buffer = new PackedRecordsBuilder()
  private readonly cursor = new BatchRecords()
  /** Budget bytes held by the open segment: its encoded row groups at their compressed size, the rest raw. */
  private charge: SegmentCharge = newCharge()
  /** Budget bytes of the open row group (raw records not yet sent for encoding). */
  private groupBytes = 0
  private encoding = 0
  /** The open segment: row groups already sent for encoding, and its totals. */
  private groups: Promise<EncodedRowGroup>[] = []
  private segmentRecords = 0
  private segmentRawBytes = 0
  private segmentMinTimestamp: bigint | undefined
  private openedAt = 0
  /** Budget charges of rolled segments not yet committed, in commit order. */
  private inflight: SegmentCharge[] = []
  /** Oldest record timestamp of each sealed segment not yet committed, in commit order. */
  private inflightOldest: bigint[] = []
  private tail: Promise<void> = Promise.resolve()
  private stopError: unknown
  private _state: PipelineState = 'running'
  /** The next offset expected from Kafka: one past the last offset seen (records or control/aborted ones). */
  position: bigint
  private readonly now: () => number

  constructor(private readonly options: PartitionPipelineOptions) {
    this.topic = options.topic
    this.partition = options.partition
    this.position = options.sink.nextOffset
    this.now = options.now ?? Date.now
  }

  get state(): PipelineState {
    return this._state
  }

  get head(): Head {
    return this.options.sink.head
  }

  /** Offsets below this are in the archive (HEAD.nextOffset). */
  get committedOffset(): bigint {
    return this.options.sink.nextOffset
  }

  get bufferedRecords(): number {
    return this.segmentRecords
  }

  /** Budget bytes this partition holds (open buffer plus segments uploading). */
  get heldBytes(): number {
    return this.inflight.reduce((n, c) => n + c.bytes, this.charge.bytes)
  }

  /** Budget bytes of the open segment (row groups encoded count at their compressed size). */
  get openBufferBytes(): number {
    return this.charge.bytes
  }

  /** Row groups sent for encoding whose result has not come back yet (their budget shrinks when it does). */
  get encodingRowGroups(): number {
    return this.encoding
  }

  /** Budget bytes of the open row group: raw records that sealing it would turn into compressed bytes. */
  get openRowGroupBytes(): number {
    return this.groupBytes
  }

  /** Nothing buffered and nothing uploading. */
  get idle(): boolean {
    return this.segmentRecords === 0 && this.inflight.length === 0
  }

  /** Timestamp of the oldest record not yet committed, for the retention headroom. */
  get oldestUnarchivedTimestamp(): bigint | undefined {
    return this.inflightOldest[0] ?? minOf(this.segmentMinTimestamp, this.buffer.minTimestamp)
  }

  get error(): unknown {
    return this.stopError
  }

  /**
   * Buffers records (strictly increasing offsets, all >= position) and rolls a segment whenever a limit is reached.
   * `upTo` moves the position past trailing offsets that carried no record (control records, aborted data).
   */
  append(records: readonly ArchiveRecord[], upTo?: bigint): void {
    if (this._state !== 'running') return
    if (records.length > 0 && records[0]!.offset < this.position) {
      throw new OffsetOrderError(
        `records of ${this.topic}/${this.partition} start at ${records[0]!.offset}, below the next expected offset ${this.position}`,
      )
    }
    for (const r of records) {
      if (this.segmentRecords === 0) this.openedAt = this.now()
      this.added(this.buffer.addRecord(r, this.cutRowGroup))
      this.position = r.offset + 1n
    }
    if (upTo !== undefined && upTo > this.position) this.position = upTo
  }

  /**
   * Buffers one partition's fetched record batches (a read_committed Fetch response's `records`), copying each
   * record's bytes once, straight from the response into the packed buffer. Records below the position are skipped;
   * the position then moves past the last whole batch, control batches and aborted data included.
   */
  appendFetched(records: Buffer, aborted: readonly AbortedTransaction[] | null): void {
    if (this._state !== 'running') return
    if (this.position > MAX_SAFE) throw new OffsetOrderError(`offsets of ${this.topic}/${this.partition} exceed 10^15`)
    const from = Number(this.position)
    const cursor = this.cursor
    let last = -1
    try {
      const next = forEachArchivableBatch(records, aborted, (batch) => {
        if (batch.lastOffset < from) return
        cursor.start(batch)
        while (cursor.next()) {
          if (cursor.offset < from || cursor.offset <= last) continue
          if (this.segmentRecords === 0) this.openedAt = this.now()
          this.added(this.buffer.addWireRecord(cursor, this.cutRowGroup))
          last = cursor.offset
        }
      })
      if (next > 0 && BigInt(next) > this.position) this.position = BigInt(next)
    } finally {
      cursor.release()
      // Records buffered before a malformed batch stay, and the next fetch starts after them.
      if (last >= 0 && BigInt(last) + 1n > this.position) this.position = BigInt(last) + 1n
    }
  }

  /**
   * Row groups are cut by core's rule (fitsRowGroup), as encodeSegment cuts them: the open group is sealed before a
   * record that would take it past rowGroupBytes, so a segment's bytes are those encodeSegment gives for its records.
   * The one exception is memory: under budget pressure the archiver seals a group early (relieveBudget).
   */
  private readonly cutRowGroup = (rawBytes: number): void => {
    if (!fitsRowGroup(this.buffer.rawBytes, rawBytes, this.options.rowGroupBytes)) this.sealRowGroup()
  }

  /** Charges a buffered record; limits are checked record by record, so one large fetch still rolls on size. */
  private added(raw: number): void {
    const charged = raw + RECORD_OVERHEAD_BYTES
    this.charge.bytes += charged
    this.groupBytes += charged
    this.segmentRecords++
    this.segmentRawBytes += raw
    this.options.budget.add(charged)
    const { maxBytes, maxRecords } = this.options.limits
    if (this.segmentRawBytes >= maxBytes) this.roll('size')
    else if (this.segmentRecords >= maxRecords) this.roll('records')
    // Past the bound only when its one record is larger than the bound: nothing can join it, so it is sealed now.
    else if (this.buffer.rawBytes > this.options.rowGroupBytes) this.sealRowGroup()
  }

  /**
   * Sends the open row group for encoding; the segment keeps its place in the order. Once encoded, the group is
   * charged at its compressed size: memory pressure is relieved by encoding, not only by uploading.
   */
  sealRowGroup(): void {
    if (this.buffer.count === 0 || this._state !== 'running') return
    this.segmentMinTimestamp = minOf(this.segmentMinTimestamp, this.buffer.minTimestamp)
    const records = this.buffer.finish()
    const charge = this.charge
    const raw = this.groupBytes
    this.groupBytes = 0
    const encoding = Promise.resolve().then(() => this.options.encodeRowGroup(records))
    this.groups.push(encoding)
    this.encoding++
    encoding.finally(() => this.encoding--).catch(() => {})
    encoding.then(
      (g) => {
        const freed = raw - g.bytes.length
        if (charge.released || freed <= 0) return
        charge.bytes -= freed
        this.options.budget.release(freed)
      },
      () => {}, // awaited when the segment rolls; a dropped segment must not leave it unhandled
    )
  }

  /** Moves the position over offsets that hold no records for us (e.g. a batch of only control records). */
  skipTo(offset: bigint): void {
    if (offset > this.position) this.position = offset
  }

  /** Rolls the open buffer when it is older than the age limit; returns true when it did. */
  rollIfOlderThan(now = this.now()): boolean {
    if (this.segmentRecords > 0 && now - this.openedAt >= this.options.limits.maxAgeMs) {
      this.roll('age')
      return true
    }
    return false
  }

  /** Seals the open segment (its last row group goes for encoding) and queues it for commit after the ones before. */
  roll(reason: RollReason): void {
    if (this.segmentRecords === 0 || this._state !== 'running') return
    this.sealRowGroup()
    const charge = this.charge
    const raw = this.segmentRawBytes
    this.inflightOldest.push(this.segmentMinTimestamp!)
    const groups = this.groups
    this.resetSegment()
    this.inflight.push(charge)
    // The last row group encodes now, overlapping the upload of the segment before; the commit waits for its turn.
    const encoding = Promise.all(groups).then((gs) => this.options.assemble(gs))
    encoding.catch(() => {})
    this.enqueue(async () => {
      let committed: Committed | undefined
      try {
        if (this._state !== 'running') return
        const encoded = await encoding
        committed = await this.options.limiter.run(async () => {
          if (this._state !== 'running') return undefined
          const started = this.now()
          const head = await this.commitSegment(encoded)
          return {
            kind: 'segment' as const,
            head,
            firstOffset: encoded.firstOffset,
            lastOffset: encoded.lastOffset,
            records: encoded.records,
            rawBytes: raw,
            objectBytes: encoded.bytes.length,
            maxTimestamp: encoded.maxTimestamp,
            uploadSeconds: (this.now() - started) / 1000,
            reason,
          }
        })
      } finally {
        this.inflight.shift()
        this.inflightOldest.shift()
        releaseCharge(charge, this.options.budget)
      }
      // After the budget and in-flight figures dropped the segment, so observers see the partition as it now is.
      if (committed) await this.options.onCommitted?.(committed)
    })
  }

  /**
   * Kafka no longer has offsets first..last: whatever is buffered is committed first, then the gap entry, so the
   * index stays in offset order. The position moves past the gap.
   */
  gap(firstOffset: bigint, lastOffset: bigint, reason: string): void {
    if (this._state !== 'running') return
    this.roll('gap')
    if (lastOffset + 1n > this.position) this.position = lastOffset + 1n
    this.enqueue(async () => {
      if (this._state !== 'running') return
      const head = await withRetry(
        async () => {
          if (this.options.sink.nextOffset > lastOffset) return this.options.sink.head
          return (await this.options.sink.appendGap({ firstOffset, lastOffset, reason })).head
        },
        { policy: this.options.retry, onRetry: this.options.onRetry },
      )
      await this.options.onCommitted?.({ kind: 'gap', head, firstOffset, lastOffset, reason })
    })
  }

  /** Commits everything buffered and waits until it is committed (or the partition stopped). */
  async flush(): Promise<void> {
    this.roll('flush')
    await this.tail
  }

  /** Waits for queued commits without rolling the open buffer. */
  async settled(): Promise<void> {
    await this.tail
  }

  /**
   * The partition was revoked: records not yet sealed are dropped (the next owner re-reads them from Kafka), and
   * queued segments are not started; one already uploading finishes.
   */
  close(): void {
    if (this._state === 'running') this._state = 'closed'
    this.dropBuffer()
  }

  private dropBuffer(): void {
    releaseCharge(this.charge, this.options.budget)
    this.buffer.clear()
    this.resetSegment()
  }

  private resetSegment(): void {
    this.charge = newCharge()
    this.groupBytes = 0
    this.groups = []
    this.segmentRecords = 0
    this.segmentRawBytes = 0
    this.segmentMinTimestamp = undefined
  }

  private async commitSegment(encoded: EncodedSegment): Promise<Head> {
    const sink = this.options.sink
    return withRetry(
      async () => {
        // An earlier attempt whose answer was lost may have landed: the writer learns it when it reconciles.
        if (sink.nextOffset > encoded.lastOffset) return sink.head
        try {
          return (await sink.commitSegment(encoded)).head
        } catch (err) {
          if (err instanceof OffsetOrderError && sink.nextOffset > encoded.lastOffset) return sink.head
          throw err
        }
      },
      { policy: this.options.retry, onRetry: this.options.onRetry },
    )
  }

  private enqueue(task: () => Promise<void>): void {
    this.tail = this.tail.then(task).catch((err: unknown) => this.stop(err))
  }

  private stop(err: unknown): void {
    if (this._state === 'fenced' || this._state === 'failed') return
    this._state = err instanceof FencedError || this.options.sink.fenced ? 'fenced' : 'failed'
    this.stopError = err
    this.dropBuffer()
    this.options.onStopped?.(err)
  }
}

/** Budget bytes one segment holds; shrinks as its row groups are encoded, released once (commit or drop). */
interface SegmentCharge {
  bytes: number
  released: boolean
}

function newCharge(): SegmentCharge {
  return { bytes: 0, released: false }
}

function releaseCharge(charge: SegmentCharge, budget: ByteBudget): void {
  if (charge.released) return
  charge.released = true
  budget.release(charge.bytes)
}

function minOf(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  return a === undefined ? b : b === undefined || a <= b ? a : b
}

// Builds one partition's offset map while a restore runs: entries gather in memory and each flush writes them as
// a content-addressed chunk, then moves the manifest forward with a conditional write (its etag fences others).
import { OffsetOrderError, PreconditionFailedError } from '../errors.js'
import { validatePartition, validateTopicName } from '../layout.js'
import type { ObjectStore } from '../store/types.js'
import { encodeOffsetMapChunk } from './chunk.js'
import { OffsetMapFencedError } from './errors.js'
import { offsetMapChunkKey, offsetMapManifestKey, offsetMapPartitionPrefix } from './layout.js'
import { encodeOffsetMapManifest, newOffsetMapManifest, readOffsetMapManifest } from './manifest.js'
import type { OffsetMapManifest } from './manifest.js'

export interface OffsetMapWriterOptions {
  sourceTopic: string
  targetTopic: string
  partition: number
  writer: string
  /** For a new map only: the first source offset the restore covers. */
  sourceStart: bigint
  /** For a new map only: the target partition's end offset before the restore produced anything. */
  targetNext: bigint
}

const JSON_TYPE = { contentType: 'application/json' }
const PARQUET_TYPE = { contentType: 'application/vnd.apache.parquet' }

export class OffsetMapWriter {
  private committed: OffsetMapManifest
  private etag: string
  private source = new BigInt64Array(1024)
  private target = new BigInt64Array(1024)
  private count = 0
  private nextSource: bigint
  private nextTarget: bigint
  private fenced = false

  private constructor(
    private readonly store: ObjectStore,
    manifest: OffsetMapManifest,
    etag: string,
  ) {
    this.committed = manifest
    this.etag = etag
    this.nextSource = manifest.sourceNext
    this.nextTarget = manifest.targetNext
  }

  /** Opens the partition's map, creating its manifest (race-free) when no restore wrote one yet. */
  static async open(store: ObjectStore, options: OffsetMapWriterOptions): Promise<OffsetMapWriter> {
    const { targetTopic, sourceTopic } = options
    validateTopicName(targetTopic)
    validateTopicName(sourceTopic)
    validatePartition(options.partition)
    const existing = await readOffsetMapManifest(store, targetTopic, sourceTopic, options.partition)
    if (existing) return new OffsetMapWriter(store, existing.manifest, existing.etag)
    const manifest = newOffsetMapManifest(options)
    const key = offsetMapManifestKey(targetTopic, sourceTopic, options.partition)
    try {
      const { etag } = await store.putIfAbsent(key, encodeOffsetMapManifest(manifest), JSON_TYPE)
      return new OffsetMapWriter(store, manifest, etag)
    } catch (err) {
      if (err instanceof PreconditionFailedError) {
        throw new OffsetMapFencedError(targetTopic, sourceTopic, options.partition, { cause: err })
      }
      throw err
    }
  }

  /** The manifest as last committed. */
  get manifest(): OffsetMapManifest {
    return this.committed
  }

  /** Next source offset to restore, counting entries not flushed yet. */
  get sourceNext(): bigint {
    return this.nextSource
  }

  /** Target offset right after the last entry, flushed or not. */
  get targetNext(): bigint {
    return this.nextTarget
  }

  /** Entries appended since the last flush. */
  get pending(): number {
    return this.count
  }

  /** Records that source offset `source` was produced at target offset `target`. */
  append(source: bigint, target: bigint): void {
    if (source < this.nextSource || target < this.nextTarget) {
      throw new OffsetOrderError(
        `offset map ${this.describe()}: ${source} -> ${target} does not follow the map's end (${this.nextSource} -> ${this.nextTarget})`,
      )
    }
    if (this.count === this.source.length) {
      const grow = (a: BigInt64Array) => {
        const b = new BigInt64Array(a.length * 2)
        b.set(a)
        return b
      }
      this.source = grow(this.source)
      this.target = grow(this.target)
    }
    this.source[this.count] = source
    this.target[this.count] = target
    this.count++
    this.nextSource = source + 1n
    this.nextTarget = target + 1n
  }

  /** Marks every source offset below `sourceNext` handled, e.g. offsets compacted away after the last record. */
  advance(sourceNext: bigint): void {
    if (sourceNext > this.nextSource) this.nextSource = sourceNext
  }

  /** True when a flush would change the manifest. */
  get dirty(): boolean {
    return this.count > 0 || this.nextSource !== this.committed.sourceNext
  }

  /** Writes pending entries as a chunk and commits the manifest; the committed state is the restore's resume point. */
  async flush(writer = this.committed.writer): Promise<OffsetMapManifest> {
    if (this.fenced)
      throw new OffsetMapFencedError(this.committed.targetTopic, this.committed.sourceTopic, this.committed.partition)
    if (!this.dirty) return this.committed
    const m = this.committed
    const chunks = [...m.chunks]
    const n = this.count
    if (n > 0) {
      const encoded = encodeOffsetMapChunk(
        { source: this.source.subarray(0, n), target: this.target.subarray(0, n) },
        { sourceTopic: m.sourceTopic, targetTopic: m.targetTopic, partition: m.partition },
      )
      const key = offsetMapChunkKey(
        m.targetTopic,
        m.sourceTopic,
        m.partition,
        encoded.firstSourceOffset,
        encoded.sha256,
      )
      // Content addressed: a retry after a lost answer writes the same bytes to the same key.
      await this.store.put(key, encoded.bytes, PARQUET_TYPE)
      chunks.push({
        key,
        sha256: encoded.sha256,
        bytes: encoded.bytes.length,
        records: n,
        firstSourceOffset: encoded.firstSourceOffset,
        lastSourceOffset: encoded.lastSourceOffset,
        firstTargetOffset: encoded.firstTargetOffset,
        lastTargetOffset: encoded.lastTargetOffset,
      })
    }
    const next: OffsetMapManifest = {
      ...m,
      sourceNext: this.nextSource,
      targetNext: this.nextTarget,
      records: m.records + n,
      chunks,
      writer,
      updatedAt: new Date().toISOString(),
    }
    const key = offsetMapManifestKey(m.targetTopic, m.sourceTopic, m.partition)
    try {
      const { etag } = await this.store.putIfMatch(key, encodeOffsetMapManifest(next), this.etag, JSON_TYPE)
      this.etag = etag
    } catch (err) {
      if (err instanceof PreconditionFailedError) {
        this.fenced = true
        throw new OffsetMapFencedError(m.targetTopic, m.sourceTopic, m.partition, { cause: err })
      }
      throw err
    }
    this.committed = next
    this.count = 0
    return next
  }

  /**
   * Deletes chunk objects of this partition that the committed manifest does not reference: left by a restore that
   * crashed between writing a chunk and its manifest, or by a fenced one. SQL engines read every Parquet file of
   * the map, so these would show up as extra rows. Does nothing when the manifest changed since this writer's
   * last commit (another restore is writing: its chunks are not ours to judge). Returns the keys deleted.
   */
  async removeUnreferenced(): Promise<string[]> {
    const m = this.committed
    const key = offsetMapManifestKey(m.targetTopic, m.sourceTopic, m.partition)
    const current = await this.store.head(key)
    if (current === undefined || current.etag !== this.etag) return []
    const referenced = new Set(m.chunks.map((c) => c.key))
    const removed: string[] = []
    for await (const o of this.store.list(offsetMapPartitionPrefix(m.targetTopic, m.sourceTopic, m.partition))) {
      if (!o.key.endsWith('.parquet') || referenced.has(o.key)) continue
      await this.store.delete(o.key)
      removed.push(o.key)
    }
    return removed
  }

  private describe(): string {
    const m = this.committed
    return `${m.sourceTopic} -> ${m.targetTopic} partition ${m.partition}`
  }
}

/**
 * Deletes one partition's offset map (manifest first, so a crash half-way leaves only unreferenced chunks, which
 * the next restore removes). For starting a restore over after its target topic was deleted. Returns objects deleted.
 */
export async function deleteOffsetMap(
  store: ObjectStore,
  targetTopic: string,
  sourceTopic: string,
  partition: number,
): Promise<number> {
  let n = 0
  const manifest = offsetMapManifestKey(targetTopic, sourceTopic, partition)
  if (await store.head(manifest)) {
    await store.delete(manifest)
    n++
  }
  for await (const o of store.list(offsetMapPartitionPrefix(targetTopic, sourceTopic, partition))) {
    await store.delete(o.key)
    n++
  }
  return n
}

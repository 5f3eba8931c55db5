// Looking offsets up in an offset map. A source offset the restore did not produce (compacted away, a
// transaction marker, below --from-offset) translates to the next restored record: where a Kafka consumer
// positioned at that offset would resume.
import { IntegrityError } from '../errors.js'
import { validatePartition, validateTopicName } from '../layout.js'
import type { ObjectStore } from '../store/types.js'
import { decodeOffsetMapChunk } from './chunk.js'
import type { OffsetMapEntries } from './chunk.js'
import { OffsetMapNotFoundError } from './errors.js'
import { offsetMapPrefix } from './layout.js'
import { readOffsetMapManifest } from './manifest.js'
import type { OffsetMapChunkRef, OffsetMapManifest } from './manifest.js'

/**
 * - exact: the source offset was restored; targetOffset is its new offset.
 * - next: no record was restored at it (compacted away, a hole); targetOffset is that of the next restored record.
 * - before-start: below the first offset the restore covered; targetOffset is the first restored record's.
 * - end: at or after the end of what was restored so far; targetOffset is the end of the restored records.
 */
export type TranslationStatus = 'exact' | 'next' | 'before-start' | 'end'

export interface OffsetTranslation {
  partition: number
  sourceOffset: bigint
  targetOffset: bigint
  status: TranslationStatus
}

export interface OffsetMapReaderOptions {
  /** Decoded chunks kept in memory (immutable, so a cache never goes stale). Default 8. */
  cacheChunks?: number
}

export class OffsetMapReader {
  private readonly chunks = new Map<string, Promise<OffsetMapEntries>>()
  private readonly cacheChunks: number

  constructor(
    readonly store: ObjectStore,
    options: OffsetMapReaderOptions = {},
  ) {
    this.cacheChunks = Math.max(1, options.cacheChunks ?? 8)
  }

  /** @throws OffsetMapNotFoundError when no restore wrote a map for this partition. */
  async manifest(targetTopic: string, sourceTopic: string, partition: number): Promise<OffsetMapManifest> {
    const read = await readOffsetMapManifest(this.store, targetTopic, sourceTopic, partition)
    if (!read) throw new OffsetMapNotFoundError(targetTopic, sourceTopic, partition)
    return read.manifest
  }

  /** One offset; for many offsets of a partition read the manifest once and use translateWith. */
  async translate(
    targetTopic: string,
    sourceTopic: string,
    partition: number,
    sourceOffset: bigint,
  ): Promise<OffsetTranslation> {
    return this.translateWith(await this.manifest(targetTopic, sourceTopic, partition), sourceOffset)
  }

  async translateWith(m: OffsetMapManifest, sourceOffset: bigint): Promise<OffsetTranslation> {
    const at = (targetOffset: bigint, status: TranslationStatus): OffsetTranslation => ({
      partition: m.partition,
      sourceOffset,
      targetOffset,
      status,
    })
    const chunks = m.chunks
    if (sourceOffset >= m.sourceNext) return at(m.targetNext, 'end')
    if (sourceOffset < m.sourceStart || (chunks.length > 0 && sourceOffset < chunks[0]!.firstSourceOffset)) {
      const first = chunks[0]?.firstTargetOffset ?? m.targetNext
      return at(first, sourceOffset < m.sourceStart ? 'before-start' : 'next')
    }
    // The first chunk whose last source offset is >= the wanted one.
    let lo = 0
    let hi = chunks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (chunks[mid]!.lastSourceOffset < sourceOffset) lo = mid + 1
      else hi = mid
    }
    const chunk = chunks[lo]
    // After the last restored record but below sourceNext: holes at the end; the next record lands at targetNext.
    if (chunk === undefined) return at(m.targetNext, 'next')
    if (sourceOffset < chunk.firstSourceOffset) return at(chunk.firstTargetOffset, 'next')
    if (sourceOffset === chunk.firstSourceOffset) return at(chunk.firstTargetOffset, 'exact')
    if (sourceOffset === chunk.lastSourceOffset) return at(chunk.lastTargetOffset, 'exact')
    const { source, target } = await this.loadChunk(chunk)
    let a = 0
    let b = source.length
    while (a < b) {
      const mid = (a + b) >> 1
      if (source[mid]! < sourceOffset) a = mid + 1
      else b = mid
    }
    return at(target[a]!, source[a] === sourceOffset ? 'exact' : 'next')
  }

  /** Every entry of the map in source-offset order, one chunk at a time. */
  async *entries(targetTopic: string, sourceTopic: string, partition: number): AsyncGenerator<OffsetMapEntries> {
    const m = await this.manifest(targetTopic, sourceTopic, partition)
    for (const chunk of m.chunks) yield await this.loadChunk(chunk)
  }

  private loadChunk(chunk: OffsetMapChunkRef): Promise<OffsetMapEntries> {
    let p = this.chunks.get(chunk.sha256)
    if (p === undefined) {
      p = this.store.get(chunk.key).then(({ body }) => {
        const entries = decodeOffsetMapChunk(body, { expectedSha256: chunk.sha256, key: chunk.key })
        if (entries.source.length !== chunk.records) {
          throw new IntegrityError(
            chunk.key,
            `${chunk.key} holds ${entries.source.length} entries but its manifest says ${chunk.records}`,
          )
        }
        return entries
      })
      p.catch(() => this.chunks.delete(chunk.sha256))
      if (this.chunks.size >= this.cacheChunks) this.chunks.delete(this.chunks.keys().next().value!)
      this.chunks.set(chunk.sha256, p)
    }
    return p
  }
}

/**
 * Topics some restore wrote into (those with an offset map), sorted: archived topics and target topics that hold
 * nothing but what a restore wrote about them (which listTopics leaves out).
 */
export async function listRestoreTargets(store: ObjectStore): Promise<string[]> {
  const out: string[] = []
  for (const prefix of await store.listPrefixes('')) {
    const m = /^([a-zA-Z0-9._-]{1,249})\/$/.exec(prefix)
    if (!m || m[1] === '.' || m[1] === '..') continue
    if ((await store.listPrefixes(`${m[1]}/`)).includes(offsetMapPrefix(m[1]!))) out.push(m[1]!)
  }
  return out.sort()
}

/** Source topics that were restored into `targetTopic` (those with an offset map under it), sorted. */
export async function listOffsetMapSources(store: ObjectStore, targetTopic: string): Promise<string[]> {
  const base = offsetMapPrefix(targetTopic)
  const out: string[] = []
  for (const prefix of await store.listPrefixes(base)) {
    const m = /^source=([a-zA-Z0-9._-]{1,249})\/$/.exec(prefix.slice(base.length))
    if (m) out.push(m[1]!)
  }
  return out.sort()
}

/** Partitions with an offset map for sourceTopic -> targetTopic, sorted numerically. */
export async function listOffsetMapPartitions(
  store: ObjectStore,
  targetTopic: string,
  sourceTopic: string,
): Promise<number[]> {
  const base = `${offsetMapPrefix(targetTopic)}source=${validateTopicName(sourceTopic)}/`
  const out: number[] = []
  for (const prefix of await store.listPrefixes(base)) {
    const m = /^partition=(\d{1,10})\/$/.exec(prefix.slice(base.length))
    if (m) out.push(validatePartition(Number(m[1])))
  }
  return out.sort((a, b) => a - b)
}

// Selective reads for SQL: a record range (partitions, time, offsets) keeps only the segments and then only the row
// groups whose statistics intersect it. From a store DuckDB cannot read in place, each wanted row group is fetched
// with one ranged GET (its position from the segment's footer) and cached as a Parquet file of its own.
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import {
  fetchRowGroup,
  InvalidArgumentError,
  parseFooter,
  readSegmentLayout,
  type SegmentLayout,
  singleRowGroupFile,
  type ObjectStore,
} from '@everlog/core'
import type { CacheProgress, CacheResult, SegmentCache } from './cache.js'
import type { SelectedSegment } from './segments.js'

/** The records a query is about; every bound inclusive, absent bounds open. */
export interface RecordRange {
  partitions?: readonly number[]
  /** Epoch ms. */
  fromTime?: bigint
  toTime?: bigint
  fromOffset?: bigint
  toOffset?: bigint
}

/** A footer is a few KiB: one small suffix GET usually holds it (a larger one takes a second GET). */
const FOOTER_GUESS_BYTES = 16 * 1024

export function validateRange(range: RecordRange): void {
  const check = (what: string, lo: bigint | undefined, hi: bigint | undefined) => {
    if (lo !== undefined && hi !== undefined && hi < lo) {
      throw new InvalidArgumentError(`the ${what} range ends (${hi}) before it starts (${lo})`)
    }
  }
  check('time', range.fromTime, range.toTime)
  check('offset', range.fromOffset, range.toOffset)
}

/** True when the range narrows anything below a whole partition. */
export function narrowsRows(range: RecordRange): boolean {
  return (
    range.fromTime !== undefined ||
    range.toTime !== undefined ||
    range.fromOffset !== undefined ||
    range.toOffset !== undefined
  )
}

interface Bounds {
  firstOffset: bigint
  lastOffset: bigint
  minTimestamp: bigint
  maxTimestamp: bigint
}

/** Whether records with these bounds (a segment or a row group) may fall in the range. */
export function overlaps(b: Bounds, range: RecordRange): boolean {
  return !(
    (range.fromTime !== undefined && b.maxTimestamp < range.fromTime) ||
    (range.toTime !== undefined && b.minTimestamp > range.toTime) ||
    (range.fromOffset !== undefined && b.lastOffset < range.fromOffset) ||
    (range.toOffset !== undefined && b.firstOffset > range.toOffset)
  )
}

/** The range as a DuckDB condition over a topic table's columns, or undefined when it keeps everything. */
export function rangeCondition(range: RecordRange): string | undefined {
  const terms: string[] = []
  if (range.partitions) terms.push(`"partition" IN (${range.partitions.map((p) => String(p)).join(', ') || 'NULL'})`)
  if (range.fromTime !== undefined) terms.push(`epoch_ms("timestamp") >= ${range.fromTime}`)
  if (range.toTime !== undefined) terms.push(`epoch_ms("timestamp") <= ${range.toTime}`)
  if (range.fromOffset !== undefined) terms.push(`"offset" >= ${range.fromOffset}`)
  if (range.toOffset !== undefined) terms.push(`"offset" <= ${range.toOffset}`)
  return terms.length > 0 ? terms.join(' AND ') : undefined
}

export interface RowGroupFetch extends CacheResult {
  /** Row groups read on their own (by ranged GET, or from the cache). */
  rowGroups: number
  /** Segments whose every row group is wanted: fetched whole (and verified by hash) through the segment cache. */
  wholeSegments: number
}

/**
 * Local Parquet files holding every record of `segments` in `range` (and maybe a few more around it): whole
 * segments when all their row groups are wanted or already cached, otherwise one file per wanted row group.
 */
export async function fetchRowGroups(
  store: ObjectStore,
  cache: SegmentCache,
  segments: readonly SelectedSegment[],
  range: RecordRange,
  options: { concurrency?: number; onProgress?: (p: CacheProgress) => void } = {},
): Promise<RowGroupFetch> {
  const result: RowGroupFetch = {
    paths: [],
    downloadedFiles: 0,
    downloadedBytes: 0,
    reusedFiles: 0,
    corruptFiles: [],
    rowGroups: 0,
    wholeSegments: 0,
  }
  const fetched = { bytes: 0 }
  const whole: string[] = []
  let done = 0
  const report = () =>
    options.onProgress?.({
      done,
      total: segments.length,
      downloadedBytes: result.downloadedBytes + fetched.bytes,
      reusedFiles: result.reusedFiles,
    })
  const plan = async (segment: SelectedSegment) => {
    if (await isFile(cache.pathOf(segment.key))) return whole.push(segment.key)
    const layout = await cachedLayout(store, cache, segment, fetched)
    const wanted = layout.rowGroups.filter((rg) => overlaps(rg, range))
    if (wanted.length === layout.rowGroups.length) return whole.push(segment.key)
    if (wanted.length === 0) {
      done++
      return report()
    }
    const files = await Promise.all(
      wanted.map(async (rg) => {
        const path = `${cache.pathOf(segment.key).replace(/\.parquet$/, '')}.rg${rg.index}.parquet`
        if (await cachedFile(path, result)) return path
        const chunk = await fetchRowGroup(store, segment.key, layout, rg.index)
        fetched.bytes += chunk.length
        await writeCached(path, singleRowGroupFile(layout, rg.index, chunk, segment.key))
        result.downloadedFiles++
        return path
      }),
    )
    result.rowGroups += wanted.length
    result.paths.push(...files)
    done++
    report()
  }
  let next = 0
  const worker = async () => {
    while (next < segments.length) await plan(segments[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, segments.length) }, worker))

  if (whole.length > 0) {
    const got = await cache.fetch(store, whole, {
      concurrency: options.concurrency,
      onProgress: (p) =>
        options.onProgress?.({
          done: done + p.done,
          total: segments.length,
          downloadedBytes: fetched.bytes + p.downloadedBytes,
          reusedFiles: result.reusedFiles + p.reusedFiles,
        }),
    })
    result.paths.push(...got.paths)
    result.downloadedFiles += got.downloadedFiles
    result.downloadedBytes += got.downloadedBytes
    result.reusedFiles += got.reusedFiles
    result.corruptFiles.push(...got.corruptFiles)
    result.wholeSegments = whole.length
  }
  result.downloadedBytes += fetched.bytes
  result.paths.sort()
  return result
}

// A row-group file cannot be checked against the segment's hash (that covers the whole object), so the cache keeps
// the sha256 of the file it wrote next to it, and a file whose bytes no longer match is fetched again.
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

async function readCached(path: string): Promise<Buffer | undefined | 'corrupt'> {
  const [bytes, hash] = await Promise.all([
    readFile(path).catch(() => undefined),
    readFile(`${path}.sha256`, 'utf8').catch(() => undefined),
  ])
  if (bytes === undefined) return undefined
  return hash !== undefined && sha256(bytes) === hash.trim() ? bytes : 'corrupt'
}

async function cachedFile(path: string, result: CacheResult): Promise<boolean> {
  const got = await readCached(path)
  if (got === 'corrupt') result.corruptFiles.push(path)
  if (got === undefined || got === 'corrupt') return false
  result.reusedFiles++
  return true
}

/** The segment's footer, kept in the cache too: a later query over the same segments fetches none again. */
async function cachedLayout(
  store: ObjectStore,
  cache: SegmentCache,
  segment: SelectedSegment,
  fetched: { bytes: number },
): Promise<SegmentLayout> {
  const path = `${cache.pathOf(segment.key).replace(/\.parquet$/, '')}.footer`
  const got = await readCached(path)
  if (got instanceof Uint8Array) {
    try {
      return parseFooter(got, segment.bytes, segment.key)
    } catch {
      // Not what it was written as: read it from the store again.
    }
  }
  const layout = await readSegmentLayout(store, segment.key, { guessBytes: FOOTER_GUESS_BYTES, fetched })
  await writeCached(path, layout.footer)
  return layout
}

async function writeCached(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  // Write then rename, so a concurrent or interrupted query never sees a partial file; the hash goes last.
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  await writeFile(tmp, bytes)
  await rename(tmp, path)
  await writeFile(`${tmp}.sha256`, `${sha256(bytes)}\n`)
  await rename(`${tmp}.sha256`, `${path}.sha256`)
}

/** Whether a path exists as a file (a cached whole segment, which the segment cache verifies). */
async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true
}

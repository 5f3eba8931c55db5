// Garbage collection: segments and index nodes that no HEAD reaches (a crash between PUT and HEAD, a fenced writer's
// segments, index nodes superseded by later commits) and that are older than a grace period. Athena reads data/
// directly, so an unreferenced segment is a duplicate row in every query until it is gone.
import { IntegrityError } from './errors.js'
import { offsetMapPrefix, parseOffsetMapChunkName } from './offset-map/layout.js'
import { readOffsetMapManifest } from './offset-map/manifest.js'
import { listRestoreTargets } from './offset-map/reader.js'
import type { ObjectInfo, ObjectStore } from './store/types.js'
import { listUnreferenced, reachableObjects } from './verify.js'

/** One hour: far longer than any commit takes between its first PUT and its HEAD write. */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000

export interface GcOptions {
  /** Only this topic. */
  topic?: string
  /** Objects written less than this long ago are kept even when unreferenced (a commit may be in flight). */
  graceMs?: number
  /** Delete what was found; without it gc only reports (dry run). */
  apply?: boolean
  /** The clock (tests). Default Date.now. */
  now?: () => number
  /** Called for every unreferenced object found, and again after it was deleted. */
  onObject?: (object: GcObject, deleted: boolean) => void
}

export interface GcObject {
  key: string
  /** A segment or index node no HEAD reaches, or a restore's offset-map chunk its partition's manifest does not list. */
  kind: 'segment' | 'node' | 'offset-map-chunk'
  size: number
  lastModified: Date
}

export interface GcResult {
  applied: boolean
  graceMs: number
  /** Unreferenced and older than the grace period: deleted when applied. */
  collectable: { objects: number; bytes: number }
  /** Unreferenced but younger than the grace period: kept. */
  young: { objects: number; bytes: number }
  deleted: { objects: number; bytes: number }
  /** Every collectable object (deleted or, in a dry run, would be). */
  objects: GcObject[]
}

/**
 * Walks every HEAD to the objects it reaches (the walk `verify` does, without reading segments), then lists the
 * topics' data/ and index nodes and deletes what is neither reached nor younger than the grace period; likewise
 * offset-map chunks that their manifest does not list. Refuses to
 * delete anything when the walk met a broken or unreadable object, since what lies below it would look unreferenced.
 * HEADs, topic.json, everlog.json, offset-map manifests and anything else are never touched.
 */
export async function collectGarbage(store: ObjectStore, options: GcOptions = {}): Promise<GcResult> {
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS
  const now = options.now ?? Date.now
  const reachable = await reachableObjects(store, options.topic === undefined ? {} : { topic: options.topic })
  const first = reachable.problems[0]
  if (first) {
    throw new IntegrityError(
      first.key,
      `gc deletes nothing while the archive has problems (${reachable.problems.length}; run everlog verify); ` +
        `first: ${first.message}`,
    )
  }
  // The cut-off is taken after the walk: anything written since is younger still.
  const cutoff = now() - graceMs
  const result: GcResult = {
    applied: options.apply === true,
    graceMs,
    collectable: { objects: 0, bytes: 0 },
    young: { objects: 0, bytes: 0 },
    deleted: { objects: 0, bytes: 0 },
    objects: [],
  }
  const unreferenced = async function* () {
    yield* listUnreferenced(store, reachable.topics, reachable.keys)
    // Restores write offset maps into target topics that need not be archived topics themselves.
    const targets = options.topic === undefined ? await listRestoreTargets(store) : [options.topic]
    yield* unreferencedOffsetMapChunks(store, targets)
  }
  for await (const info of unreferenced()) {
    // A store that cannot say when an object was written gives gc no way to spare commits in flight.
    if (info.lastModified === undefined || info.lastModified.getTime() > cutoff) {
      result.young.objects++
      result.young.bytes += info.size
      continue
    }
    const object: GcObject = { key: info.key, kind: info.kind, size: info.size, lastModified: info.lastModified }
    result.collectable.objects++
    result.collectable.bytes += info.size
    result.objects.push(object)
    options.onObject?.(object, false)
  }
  if (options.apply) {
    for (const object of result.objects) {
      await store.delete(object.key)
      result.deleted.objects++
      result.deleted.bytes += object.size
      options.onObject?.(object, true)
    }
  }
  return result
}

const OFFSET_MAP_OBJECT = /^(.+\/offset-map\/source=([a-zA-Z0-9._-]{1,249})\/partition=(\d{1,10})\/)([^/]+)$/

/**
 * Offset-map chunks (Parquet, read by SQL engines as the map's table) that their partition's manifest does not list:
 * left by a restore that crashed between a chunk and its manifest, or by one that was fenced. A later run of the same
 * restore removes them too; gc covers restores that are never run again.
 */
async function* unreferencedOffsetMapChunks(
  store: ObjectStore,
  targets: readonly string[],
): AsyncIterable<ObjectInfo & { kind: 'offset-map-chunk' }> {
  for (const target of targets) {
    const listed = new Map<string, Set<string>>()
    for await (const info of store.list(offsetMapPrefix(target))) {
      const m = OFFSET_MAP_OBJECT.exec(info.key)
      if (!m || parseOffsetMapChunkName(m[4]!) === undefined) continue
      let chunks = listed.get(m[1]!)
      if (!chunks) {
        const read = await readOffsetMapManifest(store, target, m[2]!, Number(m[3]))
        chunks = new Set(read?.manifest.chunks.map((c) => c.key) ?? [])
        listed.set(m[1]!, chunks)
      }
      if (!chunks.has(info.key)) yield { ...info, kind: 'offset-map-chunk' }
    }
  }
}

// Garbage collection: segments and index nodes that no HEAD reaches (a crash between PUT and HEAD, a fenced writer's
// segments, index nodes superseded by later commits) and that are older than a grace period. Athena reads data/
// directly, so an unreferenced segment is a duplicate row in every query until it is gone.
import { IntegrityError } from './errors.js'
import type { ObjectStore } from './store/types.js'
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
  kind: 'segment' | 'node'
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
 * topics' data/ and index nodes and deletes what is neither reached nor younger than the grace period. Refuses to
 * delete anything when the walk met a broken or unreadable object, since what lies below it would look unreferenced.
 * HEADs, topic.json, everlog.json, offset maps and anything outside data/ and index nodes are never touched.
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
  for await (const info of listUnreferenced(store, reachable.topics, reachable.keys)) {
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

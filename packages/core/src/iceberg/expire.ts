// Snapshot expiry: drops old snapshots from the table metadata and deletes the manifest lists and manifests only
// they referenced. Metadata only: segments belong to the archive and are never deleted here.
import { ObjectNotFoundError } from '../errors.js'
import type { ObjectStore } from '../store/types.js'
import { IcebergCommitError, commitMetadata } from './publish.js'
import { currentSnapshot, keyOfLocation, readIcebergTable, readManifestList, storeLocation } from './table.js'
import type { IcebergMetadata, IcebergSnapshot } from './table.js'

export interface ExpireOptions {
  /** Snapshots committed before this time (epoch ms) may expire. */
  olderThanMs: number
  /** Keep at least this many of the newest snapshots whatever their age (the current one is always kept). Default 1. */
  retainLast?: number
  now?: () => number
  maxAttempts?: number
}

export interface ExpireResult {
  topic: string
  /** Snapshot ids dropped from the metadata; empty when nothing was old enough (no new version then). */
  expired: bigint[]
  kept: number
  version: number
  /** Manifest lists and manifests deleted because no kept snapshot referenced them. */
  deletedFiles: number
}

function toExpire(metadata: IcebergMetadata, options: ExpireOptions): IcebergSnapshot[] {
  const retainLast = Math.max(1, options.retainLast ?? 1)
  const newestFirst = [...metadata.snapshots].sort((a, b) => b['timestamp-ms'] - a['timestamp-ms'])
  const protectedIds = new Set(newestFirst.slice(0, retainLast).map((s) => s['snapshot-id']))
  const current = currentSnapshot(metadata)
  if (current) protectedIds.add(current['snapshot-id'])
  for (const ref of Object.values(metadata.refs)) protectedIds.add(ref['snapshot-id'])
  return metadata.snapshots.filter(
    (s) => !protectedIds.has(s['snapshot-id']) && s['timestamp-ms'] < options.olderThanMs,
  )
}

export async function expireIcebergSnapshots(
  store: ObjectStore,
  topic: string,
  options: ExpireOptions,
): Promise<ExpireResult> {
  const now = options.now ?? Date.now
  const maxAttempts = options.maxAttempts ?? 10
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const table = await readIcebergTable(store, topic)
    if (!table) return { topic, expired: [], kept: 0, version: 0, deletedFiles: 0 }
    const base = table.metadata
    const expired = toExpire(base, options)
    if (expired.length === 0) {
      return { topic, expired: [], kept: base.snapshots.length, version: table.version, deletedFiles: 0 }
    }
    const gone = new Set(expired.map((s) => s['snapshot-id']))
    const kept = base.snapshots.filter((s) => !gone.has(s['snapshot-id']))
    const timestamp = Math.max(now(), base['last-updated-ms'])
    const version = table.version + 1
    const metadata: IcebergMetadata = {
      ...base,
      'last-updated-ms': timestamp,
      snapshots: kept,
      'snapshot-log': base['snapshot-log'].filter((e) => !gone.has(e['snapshot-id'])),
      'metadata-log': [
        ...base['metadata-log'],
        { 'timestamp-ms': base['last-updated-ms'], 'metadata-file': `${storeLocation(store)}/${table.key}` },
      ],
    }
    if (!(await commitMetadata(store, topic, version, metadata))) continue

    // Only after the commit: a reader of the new version never needs what is deleted here.
    const live = new Set<string>()
    for (const s of kept) {
      live.add(s['manifest-list'])
      for (const m of await readManifestList(store, s['manifest-list'])) live.add(m.manifest_path)
    }
    const dead = new Set<string>()
    for (const s of expired) {
      if (!live.has(s['manifest-list'])) dead.add(s['manifest-list'])
      let manifests
      try {
        manifests = await readManifestList(store, s['manifest-list'])
      } catch (err) {
        if (err instanceof ObjectNotFoundError) continue // an earlier expiry already removed it
        throw err
      }
      for (const m of manifests) if (!live.has(m.manifest_path)) dead.add(m.manifest_path)
    }
    for (const location of dead) await store.delete(keyOfLocation(store, location))
    return { topic, expired: [...gone], kept: kept.length, version, deletedFiles: dead.size }
  }
  throw new IcebergCommitError(
    `could not expire snapshots of ${topic}: ${maxAttempts} commits in a row lost to concurrent publishers; retry later`,
  )
}

// Consumer-group offset snapshots: the committed offsets of one group on one topic at one time, kept as small
// JSON objects under `<topic>/groups/group=<id>/<time>.json` so a restore can move the group along with the data.
import { FormatError, ObjectNotFoundError } from '../errors.js'
import { FORMAT_VERSION, READABLE_FORMAT_VERSIONS, validatePartition, validateTopicName } from '../layout.js'
import type { ObjectStore } from '../store/types.js'
import { compactTime, decodeGroupId, groupSnapshotKey, groupSnapshotPrefix, groupSnapshotsPrefix } from './layout.js'

export interface GroupPartitionOffset {
  partition: number
  /** The committed offset: the next record the group will consume. */
  offset: bigint
  metadata: string | null
}

export interface GroupOffsetSnapshot {
  format: number
  group: string
  topic: string
  /** Epoch milliseconds when the offsets were fetched. */
  takenAt: number
  partitions: GroupPartitionOffset[]
}

const JSON_TYPE = { contentType: 'application/json' }

export function encodeGroupSnapshot(s: GroupOffsetSnapshot): Uint8Array {
  const json = {
    format: s.format,
    group: s.group,
    topic: s.topic,
    takenAt: new Date(s.takenAt).toISOString(),
    partitions: s.partitions.map((p) => ({
      partition: p.partition,
      offset: p.offset.toString(),
      metadata: p.metadata,
    })),
  }
  return Buffer.from(JSON.stringify(json, null, 2) + '\n', 'utf8')
}

export function parseGroupSnapshot(bytes: Uint8Array, key: string): GroupOffsetSnapshot {
  const fail = (msg: string): never => {
    throw new FormatError(`${key} is not a valid group offset snapshot: ${msg}`)
  }
  let o: Record<string, unknown>
  try {
    o = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>
  } catch (err) {
    throw new FormatError(`${key} is not valid JSON (${(err as Error).message})`, { cause: err })
  }
  if (typeof o !== 'object' || o === null) return fail('expected a JSON object')
  if (typeof o.format !== 'number' || !READABLE_FORMAT_VERSIONS.includes(o.format)) fail('unsupported "format"')
  if (typeof o.group !== 'string' || typeof o.topic !== 'string') fail('"group" and "topic" must be strings')
  const takenAt = typeof o.takenAt === 'string' ? Date.parse(o.takenAt) : NaN
  if (Number.isNaN(takenAt)) fail('"takenAt" must be an ISO time')
  if (!Array.isArray(o.partitions)) fail('"partitions" must be an array')
  const partitions = (o.partitions as Record<string, unknown>[]).map((p, i) => {
    if (typeof p !== 'object' || p === null || typeof p.partition !== 'number')
      return fail(`partition ${i} is malformed`)
    if (typeof p.offset !== 'string' || !/^\d{1,19}$/.test(p.offset)) return fail(`partition ${i} has no offset`)
    if (p.metadata !== null && typeof p.metadata !== 'string') return fail(`partition ${i} has bad metadata`)
    return { partition: p.partition, offset: BigInt(p.offset), metadata: p.metadata as string | null }
  })
  return { format: o.format as number, group: o.group as string, topic: o.topic as string, takenAt, partitions }
}

/** Writes one snapshot; returns its key. Partitions without a committed offset should be left out by the caller. */
export async function writeGroupSnapshot(
  store: ObjectStore,
  snapshot: Omit<GroupOffsetSnapshot, 'format'>,
): Promise<string> {
  validateTopicName(snapshot.topic)
  for (const p of snapshot.partitions) validatePartition(p.partition)
  const full: GroupOffsetSnapshot = { format: FORMAT_VERSION, ...snapshot }
  const key = groupSnapshotKey(snapshot.topic, snapshot.group, snapshot.takenAt)
  await store.put(key, encodeGroupSnapshot(full), JSON_TYPE)
  return key
}

/** Snapshot keys of a group on a topic, oldest first. */
export async function listGroupSnapshots(store: ObjectStore, topic: string, group: string): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list(groupSnapshotPrefix(topic, group))) if (o.key.endsWith('.json')) keys.push(o.key)
  return keys
}

/** Groups with snapshots of this topic. */
export async function listSnapshotGroups(store: ObjectStore, topic: string): Promise<string[]> {
  const base = groupSnapshotsPrefix(topic)
  const out: string[] = []
  for (const prefix of await store.listPrefixes(base)) {
    const m = /^group=([^/]+)\/$/.exec(prefix.slice(base.length))
    if (m) out.push(decodeGroupId(m[1]!))
  }
  return out.sort()
}

/**
 * The newest snapshot of a group on a topic, or with `at` the newest taken at or before that time (epoch ms);
 * undefined when there is none.
 */
export async function readGroupSnapshot(
  store: ObjectStore,
  topic: string,
  group: string,
  options: { at?: number } = {},
): Promise<GroupOffsetSnapshot | undefined> {
  const keys = await listGroupSnapshots(store, topic, group)
  const bound =
    options.at === undefined ? undefined : `${groupSnapshotPrefix(topic, group)}${compactTime(options.at)}.json`
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i]!
    if (bound !== undefined && key > bound) continue
    try {
      return parseGroupSnapshot((await store.get(key)).body, key)
    } catch (err) {
      if (err instanceof ObjectNotFoundError) continue
      throw err
    }
  }
  return undefined
}

/**
 * What snapshotting needs of a Kafka admin client; kafkajs' Admin satisfies it (core does not depend on kafkajs).
 * `offset` is Kafka's committed offset as a decimal string, "-1" when the group committed none.
 */
export interface GroupOffsetsAdmin {
  fetchOffsets(options: {
    groupId: string
    topics?: string[]
  }): Promise<{ topic: string; partitions: { partition: number; offset: string; metadata?: string | null }[] }[]>
}

export interface SnapshotGroupsOptions {
  groups: string[]
  /** Only these topics (default: every topic the group has committed offsets for). */
  topics?: string[]
  /** Epoch ms stamped on the snapshots; default now. */
  now?: number
}

export interface WrittenSnapshot {
  group: string
  topic: string
  key: string
  partitions: number
}

/** Fetches each group's committed offsets and writes one snapshot per group and topic into the archive. */
export async function snapshotGroupOffsets(
  admin: GroupOffsetsAdmin,
  store: ObjectStore,
  options: SnapshotGroupsOptions,
): Promise<WrittenSnapshot[]> {
  const takenAt = options.now ?? Date.now()
  const written: WrittenSnapshot[] = []
  for (const group of options.groups) {
    const fetched = options.topics
      ? await admin.fetchOffsets({ groupId: group, topics: options.topics.map(validateTopicName) })
      : await admin.fetchOffsets({ groupId: group })
    for (const { topic, partitions } of fetched) {
      // -1: nothing committed for that partition; leaving it out lets the restored group use its reset policy.
      const committed = partitions
        .filter((p) => /^\d+$/.test(p.offset))
        .map((p) => ({ partition: p.partition, offset: BigInt(p.offset), metadata: p.metadata ?? null }))
      if (committed.length === 0) continue
      const key = await writeGroupSnapshot(store, { group, topic, takenAt, partitions: committed })
      written.push({ group, topic, key, partitions: committed.length })
    }
  }
  return written
}

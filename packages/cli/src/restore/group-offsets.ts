// Consumer-group offsets across a restore: snapshot what groups committed on the source cluster into the archive,
// and later set them on the target cluster translated through the offset map, so consumers resume where they were.
// Snapshotting (snapshotGroupOffsets) and the format live in core, so the archiver can take snapshots on a timer.
import { InvalidArgumentError, validateTopicName } from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
import type { Admin } from 'kafkajs'
import {
  listOffsetMapSources,
  listRestoreTargets,
  listSnapshotGroups,
  OffsetMapReader,
  readGroupSnapshot,
} from '@everlog/core'
import type { GroupOffsetSnapshot, OffsetTranslation } from '@everlog/core'

export interface RestoreGroupsOptions {
  groups: string[]
  /** Source topic whose snapshot to restore (default: every topic with a snapshot of the group and an offset map). */
  topic?: string
  /** Restored topic (default: the same name as the source). */
  toTopic?: string
  /** Use the newest snapshot taken at or before this time (epoch ms); default the newest. */
  at?: number
  /** Translate and report, set nothing. */
  dryRun?: boolean
}

export interface RestoredGroupOffsets {
  group: string
  sourceTopic: string
  targetTopic: string
  snapshotTakenAt: number
  offsets: OffsetTranslation[]
}

/**
 * Sets each group's snapshotted offsets on the target cluster, translated through the offset map. Kafka only
 * accepts this for a group with no running members: stop the consumers first.
 */
export async function restoreGroupOffsets(
  admin: Admin,
  store: ObjectStore,
  options: RestoreGroupsOptions,
): Promise<RestoredGroupOffsets[]> {
  const pairs = await topicPairs(store, options)
  const reader = new OffsetMapReader(store)
  const plans: RestoredGroupOffsets[] = []
  for (const group of options.groups) {
    let found = false
    for (const [sourceTopic, targetTopic] of pairs) {
      const snapshot = await readGroupSnapshot(
        store,
        sourceTopic,
        group,
        options.at === undefined ? {} : { at: options.at },
      )
      if (!snapshot) continue
      found = true
      plans.push({
        group,
        sourceTopic,
        targetTopic,
        snapshotTakenAt: snapshot.takenAt,
        offsets: await translateSnapshot(reader, snapshot, targetTopic),
      })
    }
    if (!found) {
      throw new InvalidArgumentError(
        `no offset snapshot of consumer group "${group}"${options.topic ? ` on topic "${options.topic}"` : ''} in the ` +
          'archive' +
          (options.at !== undefined ? ` taken at or before ${new Date(options.at).toISOString()}` : '') +
          ': take one with `everlog backup-groups` before restoring',
      )
    }
  }
  if (options.dryRun) return plans
  await checkGroupsEmpty(admin, options.groups)
  for (const plan of plans) {
    await admin.setOffsets({
      groupId: plan.group,
      topic: plan.targetTopic,
      partitions: plan.offsets.map((o) => ({ partition: o.partition, offset: o.targetOffset.toString() })),
    })
  }
  return plans
}

async function translateSnapshot(
  reader: OffsetMapReader,
  snapshot: GroupOffsetSnapshot,
  targetTopic: string,
): Promise<OffsetTranslation[]> {
  const out: OffsetTranslation[] = []
  for (const p of snapshot.partitions) {
    const manifest = await reader.manifest(targetTopic, snapshot.topic, p.partition)
    out.push(await reader.translateWith(manifest, p.offset))
  }
  return out
}

async function topicPairs(store: ObjectStore, options: RestoreGroupsOptions): Promise<[string, string][]> {
  if (options.topic !== undefined) {
    const source = validateTopicName(options.topic)
    return [[source, validateTopicName(options.toTopic ?? source)]]
  }
  if (options.toTopic !== undefined) {
    throw new InvalidArgumentError('--to-topic needs --topic (the source topic whose group offsets to translate)')
  }
  // Every restore the archive knows of (a target topic's offset map names its source) whose source topic has group
  // snapshots: restored under its own name or another (`everlog restore --to-topic`).
  const pairs: [string, string][] = []
  for (const target of await listRestoreTargets(store)) {
    for (const source of await listOffsetMapSources(store, target)) {
      if ((await listSnapshotGroups(store, source)).length > 0) pairs.push([source, target])
    }
  }
  return pairs.sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1))
}

async function checkGroupsEmpty(admin: Admin, groups: string[]): Promise<void> {
  const { groups: described } = await admin.describeGroups(groups)
  const busy = described.filter((g) => g.state !== 'Empty' && g.state !== 'Dead')
  if (busy.length > 0) {
    throw new InvalidArgumentError(
      `consumer group(s) ${busy.map((g) => `"${g.groupId}" (${g.state}, ${g.members.length} member(s))`).join(', ')} ` +
        'have running consumers on the target cluster; stop them, then restore the offsets',
    )
  }
}

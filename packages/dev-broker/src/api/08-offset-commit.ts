// OffsetCommit: a consumer stores its position per partition in the group (checked against its generation).
//
// OffsetCommit Request (Version: 0) => group_id [topics]
// OffsetCommit Request (Version: 1) => group_id generation_id member_id [topics]
//   (v1 partitions also carry commit_timestamp INT64, ignored as in Kafka)
// OffsetCommit Request (Version: 2-4) => group_id generation_id member_id retention_time_ms [topics]
// OffsetCommit Request (Version: 5-6) => group_id generation_id member_id [topics]
// OffsetCommit Request (Version: 7) => group_id generation_id member_id group_instance_id [topics]
// OffsetCommit Request (Version: 8) => same as 7, compact, TAG_BUFFERs
//   topics => name [partitions]
//     partitions => partition_index committed_offset committed_leader_epoch(v6+) committed_metadata(NULLABLE)
// OffsetCommit Response (Version: 0-2) => [topics]
// OffsetCommit Response (Version: 3-7) => throttle_time_ms [topics]
// OffsetCommit Response (Version: 8) => same, compact, TAG_BUFFERs
//   topics => name [partitions]
//     partitions => partition_index error_code

import { KafkaErrors, type KafkaErrorName } from '../protocol/errors.js'
import type { Reader } from '../protocol/reader.js'
import type { Writer } from '../protocol/writer.js'
import type { ApiContext, ApiModule } from '../registry.js'
import type { OffsetToCommit } from '../state/groups.js'

/** Kafka's offset.metadata.max.bytes default. */
export const MAX_OFFSET_METADATA = 4096

export const offsetCommit: ApiModule = {
  apiKey: 8,
  name: 'OffsetCommit',
  minVersion: 0,
  maxVersion: 8,
  flexibleFrom: 8,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const groupId = r.str(f)
    const generationId = v >= 1 ? r.int32() : -1
    const memberId = v >= 1 ? r.str(f) : ''
    const groupInstanceId = v >= 7 ? r.nstr(f) : null
    if (v >= 2 && v <= 4) r.int64() // retention_time_ms: offsets are kept for the broker's lifetime
    const topics = readOffsetTopics(r, ctx, (r) => {
      const leaderEpoch = v >= 6 ? r.int32() : -1
      if (v === 1) r.int64() // commit_timestamp
      return leaderEpoch
    })
    r.taggedFields(f)

    const outcome = commitChecked(ctx, topics, (offsets) =>
      ctx.state.groups.commitOffsets({ groupId, generationId, memberId, groupInstanceId, offsets }),
    )
    if (v >= 3) w.int32(0)
    writeOutcome(w, ctx, topics, outcome)
  },
}

export interface OffsetTopic {
  name: string
  partitions: OffsetToCommit[]
}

/** Reads the topics/partitions array shared by OffsetCommit and TxnOffsetCommit. */
export function readOffsetTopics(r: Reader, ctx: ApiContext, leaderEpoch: (r: Reader) => number): OffsetTopic[] {
  const f = ctx.flexible
  return r.array(f, (r) => {
    const name = r.str(f)
    const partitions = r.array(f, (r): OffsetToCommit => {
      const partition = r.int32()
      const offset = r.int64()
      const epoch = leaderEpoch(r)
      const metadata = r.nstr(f)
      r.taggedFields(f)
      return { topic: name, partition, offset, leaderEpoch: epoch, metadata }
    })
    r.taggedFields(f)
    return { name, partitions }
  })
}

/**
 * Per-partition outcome: partitions the broker does not host and oversized metadata fail on their own (as in
 * Kafka); the rest go to the coordinator together and share its verdict. `failAll` (an injected error, a fenced
 * producer) answers every partition with that code and commits nothing.
 */
export function commitChecked(
  ctx: ApiContext,
  topics: OffsetTopic[],
  commit: (offsets: OffsetToCommit[]) => KafkaErrorName,
  failAll: number | undefined = ctx.injectedError,
): Map<OffsetToCommit, number> {
  const out = new Map<OffsetToCommit, number>()
  if (failAll !== undefined) {
    for (const t of topics) for (const p of t.partitions) out.set(p, failAll)
    return out
  }
  const valid: OffsetToCommit[] = []
  for (const t of topics) {
    for (const p of t.partitions) {
      if (ctx.state.partition(p.topic, p.partition) === undefined) {
        out.set(p, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code)
      } else if (p.metadata !== null && Buffer.byteLength(p.metadata) > MAX_OFFSET_METADATA) {
        out.set(p, KafkaErrors.OFFSET_METADATA_TOO_LARGE.code)
      } else {
        valid.push(p)
      }
    }
  }
  if (valid.length > 0) {
    const code = KafkaErrors[commit(valid)].code
    for (const p of valid) out.set(p, code)
    if (code === KafkaErrors.NONE.code) ctx.state.changed()
  }
  return out
}

export function writeOutcome(w: Writer, ctx: ApiContext, topics: OffsetTopic[], outcome: Map<OffsetToCommit, number>) {
  const f = ctx.flexible
  w.array(f, topics, (w, t) => {
    w.str(f, t.name)
    w.array(f, t.partitions, (w, p) => {
      w.int32(p.partition)
      w.int16(outcome.get(p) ?? KafkaErrors.UNKNOWN_SERVER_ERROR.code)
      w.tags(f)
    })
    w.tags(f)
  })
  w.tags(f)
}

// OffsetFetch: a consumer reads its group's committed positions (-1 where nothing was committed).
//
// OffsetFetch Request (Version: 0-1) => group_id [topics]
//   topics => name [partition_indexes]
// OffsetFetch Request (Version: 2-5) => same; topics may be null = every partition the group committed
// OffsetFetch Request (Version: 6) => same, compact, TAG_BUFFERs
// OffsetFetch Request (Version: 7) => group_id [topics] require_stable TAG_BUFFER
// OffsetFetch Response (Version: 0-1) => [topics]
//   topics => name [partitions]
//     partitions => partition_index committed_offset metadata(NULLABLE) error_code
// OffsetFetch Response (Version: 2) => [topics] error_code
// OffsetFetch Response (Version: 3-4) => throttle_time_ms [topics] error_code
// OffsetFetch Response (Version: 5-7) => same; partitions gain committed_leader_epoch after committed_offset
//   (6+: compact, TAG_BUFFERs; 7: UNSTABLE_OFFSET_COMMIT for partitions with a pending transactional commit)

import { KafkaErrors } from '../protocol/errors.js'
import { MalformedFrameError } from '../protocol/reader.js'
import type { ApiModule } from '../registry.js'
import type { OffsetFetchOutput } from '../state/groups.js'

export const offsetFetch: ApiModule = {
  apiKey: 9,
  name: 'OffsetFetch',
  minVersion: 0,
  maxVersion: 7,
  flexibleFrom: 6,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const groupId = r.str(f)
    // Reader.array() reads a null array as empty; here null means "all topics", so count by hand
    const count = f ? r.uvarint() - 1 : r.int32()
    let topics: { topic: string; partitions: number[] }[] | null = null
    if (count >= 0) {
      if (count > r.remaining) throw new MalformedFrameError(`OffsetFetch topic count ${count} exceeds the frame`)
      topics = []
      for (let i = 0; i < count; i++) {
        const topic = r.str(f)
        const partitions = r.array(f, (r) => r.int32())
        r.taggedFields(f)
        topics.push({ topic, partitions })
      }
    } else if (v < 2) {
      throw new MalformedFrameError(`OffsetFetch v${v} cannot ask for all topics (null array needs v2+)`)
    }
    const requireStable = v >= 7 ? r.bool() : false
    r.taggedFields(f)

    // fetching changes nothing, so an injected error is simply written over every error field
    const injected = ctx.injectedError
    const out: OffsetFetchOutput = ctx.state.groups.fetchOffsets(groupId, topics, requireStable)
    const code = (name: keyof typeof KafkaErrors): number => injected ?? KafkaErrors[name].code

    if (v >= 3) w.int32(0)
    w.array(f, out.topics, (w, t) => {
      w.str(f, t.topic)
      w.array(f, t.partitions, (w, p) => {
        w.int32(p.partition)
        w.int64(p.offset)
        if (v >= 5) w.int32(p.leaderEpoch)
        w.nstr(f, p.metadata)
        w.int16(code(p.error))
        w.tags(f)
      })
      w.tags(f)
    })
    if (v >= 2) w.int16(code(out.error))
    w.tags(f)
  },
}

// SyncGroup: the leader hands out the assignment it computed; every member waits for its own share.
//
// SyncGroup Request (Version: 0-2) => group_id generation_id member_id [assignments]
//   assignments => member_id assignment
// SyncGroup Request (Version: 3) => group_id generation_id member_id group_instance_id [assignments]
// SyncGroup Request (Version: 4) => same as 3, compact, TAG_BUFFERs
// SyncGroup Request (Version: 5) => group_id generation_id member_id group_instance_id protocol_type
//   protocol_name [assignments] TAG_BUFFER    (protocol_type, protocol_name NULLABLE)
// SyncGroup Response (Version: 0) => error_code assignment
// SyncGroup Response (Version: 1-3) => throttle_time_ms error_code assignment
// SyncGroup Response (Version: 4) => same, compact, TAG_BUFFER
// SyncGroup Response (Version: 5) => throttle_time_ms error_code protocol_type protocol_name assignment TAG_BUFFER

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import type { SyncGroupOutput } from '../state/groups.js'
import { untilAborted } from './11-join-group.js'

export const syncGroup: ApiModule = {
  apiKey: 14,
  name: 'SyncGroup',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 4,
  async handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const groupId = r.str(f)
    const generationId = r.int32()
    const memberId = r.str(f)
    const groupInstanceId = v >= 3 ? r.nstr(f) : null
    const protocolType = v >= 5 ? r.nstr(f) : null
    const protocolName = v >= 5 ? r.nstr(f) : null
    const assignments = r.array(f, (r) => {
      const id = r.str(f)
      // copied: the assignments outlive this request frame
      const assignment = Buffer.from(r.byts(f))
      r.taggedFields(f)
      return { memberId: id, assignment }
    })
    r.taggedFields(f)

    let out: SyncGroupOutput
    if (ctx.injectedError !== undefined) {
      out = { error: 'NONE', protocolType: null, protocolName: null, assignment: Buffer.alloc(0) }
    } else {
      const reply = ctx.state.groups.syncGroup({
        groupId,
        generationId,
        memberId,
        groupInstanceId,
        protocolType,
        protocolName,
        assignments,
      })
      const settled = await untilAborted(reply, ctx.signal)
      if (settled === undefined) return
      out = settled
    }

    if (v >= 1) w.int32(0)
    w.int16(ctx.injectedError ?? KafkaErrors[out.error].code)
    if (v >= 5) {
      w.nstr(f, out.protocolType)
      w.nstr(f, out.protocolName)
    }
    w.byts(f, out.assignment)
    w.tags(f)
  },
}

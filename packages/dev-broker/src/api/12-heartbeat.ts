// Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
//
// Heartbeat Request (Version: 0-2) => group_id generation_id member_id
// Heartbeat Request (Version: 3) => group_id generation_id member_id group_instance_id
// Heartbeat Request (Version: 4) => same as 3, compact, TAG_BUFFER
// Heartbeat Response (Version: 0) => error_code
// Heartbeat Response (Version: 1-3) => throttle_time_ms error_code
// Heartbeat Response (Version: 4) => throttle_time_ms error_code TAG_BUFFER

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'

export const heartbeat: ApiModule = {
  apiKey: 12,
  name: 'Heartbeat',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 4,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const groupId = r.str(f)
    const generationId = r.int32()
    const memberId = r.str(f)
    const groupInstanceId = ctx.version >= 3 ? r.nstr(f) : null
    r.taggedFields(f)

    const error =
      ctx.injectedError ??
      KafkaErrors[ctx.state.groups.heartbeat({ groupId, generationId, memberId, groupInstanceId })].code
    if (ctx.version >= 1) w.int32(0)
    w.int16(error)
    w.tags(f)
  },
}

// LeaveGroup: members leave a group at once (instead of waiting for their session to expire), starting a rebalance.
//
// LeaveGroup Request (Version: 0-2) => group_id member_id
// LeaveGroup Request (Version: 3) => group_id [members]
//   members => member_id group_instance_id
// LeaveGroup Request (Version: 4) => same as 3, compact, TAG_BUFFERs
// LeaveGroup Response (Version: 0) => error_code
// LeaveGroup Response (Version: 1-2) => throttle_time_ms error_code
// LeaveGroup Response (Version: 3) => throttle_time_ms error_code [members]
//   members => member_id group_instance_id error_code
// LeaveGroup Response (Version: 4) => same as 3, compact, TAG_BUFFERs

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import type { LeavingMember } from '../state/groups.js'

export const leaveGroup: ApiModule = {
  apiKey: 13,
  name: 'LeaveGroup',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 4,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const groupId = r.str(f)
    let leaving: LeavingMember[]
    if (v >= 3) {
      leaving = r.array(f, (r) => {
        const memberId = r.str(f)
        const groupInstanceId = r.nstr(f)
        r.taggedFields(f)
        return { memberId, groupInstanceId }
      })
    } else {
      leaving = [{ memberId: r.str(f), groupInstanceId: null }]
    }
    r.taggedFields(f)

    const injected = ctx.injectedError
    const out =
      injected === undefined
        ? ctx.state.groups.leaveGroup(groupId, leaving)
        : { error: 'NONE' as const, members: leaving.map((m) => ({ ...m, error: 'NONE' as const })) }
    const memberCode = (name: keyof typeof KafkaErrors): number => injected ?? KafkaErrors[name].code
    let error = injected ?? KafkaErrors[out.error].code
    // before v3 there is one member and its outcome is the request's outcome
    if (v < 3 && error === KafkaErrors.NONE.code && out.members[0] !== undefined) {
      error = memberCode(out.members[0].error)
    }

    if (v >= 1) w.int32(0)
    w.int16(error)
    if (v >= 3) {
      w.array(f, out.members, (w, m) => {
        w.str(f, m.memberId)
        w.nstr(f, m.groupInstanceId)
        w.int16(memberCode(m.error))
        w.tags(f)
      })
    }
    w.tags(f)
  },
}

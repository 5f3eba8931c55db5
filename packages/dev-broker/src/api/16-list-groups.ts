// ListGroups: every group this coordinator knows (v4: only those in the requested states).
//
// ListGroups Request (Version: 0-2) =>
// ListGroups Request (Version: 3) => TAG_BUFFER
// ListGroups Request (Version: 4) => [states_filter] TAG_BUFFER
// ListGroups Response (Version: 0) => error_code [groups]
//   groups => group_id protocol_type
// ListGroups Response (Version: 1-2) => throttle_time_ms error_code [groups]
// ListGroups Response (Version: 3) => same, compact, TAG_BUFFERs
// ListGroups Response (Version: 4) => groups gain group_state

import type { ApiModule } from '../registry.js'
import type { GroupListing } from '../state/groups.js'

export const listGroups: ApiModule = {
  apiKey: 16,
  name: 'ListGroups',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 3,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const states = ctx.version >= 4 ? r.array(f, (r) => r.str(f)) : null
    r.taggedFields(f)

    const groups: GroupListing[] = ctx.injectedError === undefined ? ctx.state.groups.listGroups(states) : []
    if (ctx.version >= 1) w.int32(0)
    w.int16(ctx.injectedError ?? 0)
    w.array(f, groups, (w, g) => {
      w.str(f, g.groupId)
      w.str(f, g.protocolType)
      if (ctx.version >= 4) w.str(f, g.state)
      w.tags(f)
    })
    w.tags(f)
  },
}

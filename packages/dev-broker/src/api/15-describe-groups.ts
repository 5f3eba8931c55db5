// DescribeGroups: state, protocol and members (with metadata and assignment once Stable) of each group.
//
// DescribeGroups Request (Version: 0-2) => [groups]
// DescribeGroups Request (Version: 3-4) => [groups] include_authorized_operations
// DescribeGroups Request (Version: 5) => same, compact, TAG_BUFFER
// DescribeGroups Response (Version: 0) => [groups]
// DescribeGroups Response (Version: 1-2) => throttle_time_ms [groups]
//   groups => error_code group_id group_state protocol_type protocol_data [members]
//     members => member_id client_id client_host member_metadata member_assignment
// DescribeGroups Response (Version: 3) => groups gain authorized_operations INT32 after members
// DescribeGroups Response (Version: 4) => members gain group_instance_id (NULLABLE) after member_id
// DescribeGroups Response (Version: 5) => same, compact, TAG_BUFFERs

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'

// No authorizer: a client that asks may do everything Kafka allows on a group (READ, DELETE, DESCRIBE).
const GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)
const OPERATIONS_NOT_REQUESTED = -2147483648

export const describeGroups: ApiModule = {
  apiKey: 15,
  name: 'DescribeGroups',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 5,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const groupIds = r.array(f, (r) => r.str(f))
    const includeOperations = v >= 3 ? r.bool() : false
    r.taggedFields(f)

    // describing changes nothing, so an injected error still reports the real groups
    const injected = ctx.injectedError
    const groups = ctx.state.groups.describeGroups(groupIds)

    if (v >= 1) w.int32(0)
    w.array(f, groups, (w, g) => {
      w.int16(injected ?? KafkaErrors[g.error].code)
      w.str(f, g.groupId)
      w.str(f, g.state)
      w.str(f, g.protocolType)
      w.str(f, g.protocolData)
      w.array(f, g.members, (w, m) => {
        w.str(f, m.memberId)
        if (v >= 4) w.nstr(f, m.groupInstanceId)
        w.str(f, m.clientId)
        w.str(f, m.clientHost)
        w.byts(f, m.metadata)
        w.byts(f, m.assignment)
        w.tags(f)
      })
      if (v >= 3) w.int32(includeOperations ? GROUP_OPERATIONS : OPERATIONS_NOT_REQUESTED)
      w.tags(f)
    })
    w.tags(f)
  },
}

// Consumer-group API modules (FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups,
// ListGroups, OffsetCommit, OffsetFetch, TxnOffsetCommit). Owned by the group-coordinator author.

import type { ApiModule } from '../registry.js'

export const groupApis: readonly ApiModule[] = []

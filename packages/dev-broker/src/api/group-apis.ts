// Consumer-group API modules (FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups,
// ListGroups, OffsetCommit, OffsetFetch, TxnOffsetCommit). Owned by the group-coordinator author.

import type { ApiModule } from '../registry.js'
import { offsetCommit } from './08-offset-commit.js'
import { offsetFetch } from './09-offset-fetch.js'
import { findCoordinator } from './10-find-coordinator.js'
import { joinGroup } from './11-join-group.js'
import { heartbeat } from './12-heartbeat.js'
import { leaveGroup } from './13-leave-group.js'
import { syncGroup } from './14-sync-group.js'
import { describeGroups } from './15-describe-groups.js'
import { listGroups } from './16-list-groups.js'
import { txnOffsetCommit } from './28-txn-offset-commit.js'

export const groupApis: readonly ApiModule[] = [
  offsetCommit,
  offsetFetch,
  findCoordinator,
  joinGroup,
  heartbeat,
  leaveGroup,
  syncGroup,
  describeGroups,
  listGroups,
  txnOffsetCommit,
]

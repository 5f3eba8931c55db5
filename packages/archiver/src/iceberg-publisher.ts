// Publishes the Iceberg tables of the topics this archiver writes (docs/iceberg.md): on a timer and after every N
// committed segments, one publish at a time, after HEAD commits and never inside them. A failed publish is logged
// and counted, and the topic is tried again next time: the table lags, the archive does not.
import { expireIcebergSnapshots, publishIceberg } from '@everlog/core'
import type { ObjectStore } from '@everlog/core'
import type { ArchiverConfig } from './config.js'
import type { Logger } from 'pino'
import type { ArchiverMetrics } from './metrics.js'

export class IcebergPublisher {
  /** Topics with segments committed since their last publish, and how many. */
  private readonly dirty = new Map<string, number>()
  private running: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly store: ObjectStore,
    private readonly config: ArchiverConfig['iceberg'],
    private readonly logger: Logger,
    private readonly metrics: ArchiverMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.publish(), this.config.intervalMs)
    this.timer.unref()
  }

  /** Called after a segment's HEAD commit; returns at once. */
  segmentCommitted(topic: string): void {
    const n = (this.dirty.get(topic) ?? 0) + 1
    this.dirty.set(topic, n)
    if (this.config.everySegments > 0 && n >= this.config.everySegments) void this.publish()
  }

  /** Publishes every dirty topic; a call while one runs waits for it and then runs again if anything is left. */
  async publish(): Promise<void> {
    while (this.running) await this.running
    if (this.dirty.size === 0) return
    this.running = this.run().finally(() => (this.running = undefined))
    await this.running
  }

  /** Stops the timer and publishes what the last segments committed, so a clean stop leaves the table current. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.publish()
  }

  private async run(): Promise<void> {
    const topics = [...this.dirty]
    this.dirty.clear()
    for (const [topic, segments] of topics) {
      const started = this.now()
      try {
        const r = await publishIceberg(this.store, topic, { now: this.now })
        this.metrics.icebergPublishes.inc({ topic, result: r.published ? 'published' : 'unchanged' })
        this.logger.info(
          { topic, version: r.version, addedFiles: r.addedFiles, records: r.totalRecords, ms: this.now() - started },
          'iceberg snapshot published',
        )
        if (this.config.expireAfterMs > 0) {
          const e = await expireIcebergSnapshots(this.store, topic, {
            olderThanMs: this.now() - this.config.expireAfterMs,
            retainLast: this.config.retainSnapshots,
            now: this.now,
          })
          if (e.expired.length > 0) this.logger.info({ topic, expired: e.expired.length }, 'iceberg snapshots expired')
        }
      } catch (err) {
        this.dirty.set(topic, (this.dirty.get(topic) ?? 0) + segments)
        this.metrics.icebergPublishes.inc({ topic, result: 'error' })
        this.logger.warn({ topic, err }, 'iceberg publish failed; retrying at the next interval')
      }
    }
  }
}

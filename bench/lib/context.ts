// What every scenario of `npm run bench` shares: options, the dev broker and S3 server of the parent process, the
// produced topics and a scratch directory; plus the shapes scenarios report in.
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Kafka } from 'kafkajs'
import type { S3TestServer } from '../../packages/core/src/testing/index.js'
import type { DevBroker } from '../../packages/dev-broker/src/index.js'
import type { Dataset } from './kafka.js'
import type { Figure } from './stats.js'

export interface BenchOptions {
  quick: boolean
  records: number
  partitions: number
  valueBytes: number
  /** Measured runs per figure (warm-up excluded). */
  runs: number
  partitionsConsumedConcurrently: number
  seekSegments: number
  seekRecordsPerSegment: number
  seeks: number
  scaleRecords: number
  scalePartitions: number[]
  only: Set<string> | undefined
  profileDir: string | undefined
}

/** A Kafka the bench produces the data into and measures against. */
export interface KafkaBackend {
  /** How rows name it: 'Apache Kafka 4.4.0' or 'dev broker'. */
  label: string
  brokers: string[]
  kafka: Kafka
  createTopic(topic: string, partitions: number): Promise<void>
}

export interface BenchContext {
  options: BenchOptions
  broker: DevBroker
  /** The dev broker as a backend (always there). */
  dev: KafkaBackend
  /** Apache Kafka, when its jars are cached (scripts/test-deps.sh); the baseline every target is held against. */
  real?: KafkaBackend
  /** Why Apache Kafka is not measured, when it is not. */
  realMissing?: string
  s3: S3TestServer
  kafka: Kafka
  /** The main topic and the small warm-up topic every worker reads first. */
  main: Dataset
  warm: Dataset
  tmp: string
  /** A file store directory holding `main` and `warm` archived by the archiver (set by the archive scenario). */
  archiveDir?: string
  /** MiB/s of each archive scenario run of the main topic from the primary backend (for the size-growth ratio). */
  archiveRates?: number[]
  log: (line: string) => void
}

/** One printed row: what, the figure, and the target it is held against. */
export interface Row {
  scenario: string
  metric: string
  value: string
  target?: string
  /** true / false when a target applies; undefined otherwise. */
  ok?: boolean
}

export type ScenarioResult = { measured: true; rows: Row[]; data: Record<string, unknown> } | NotMeasured

export interface NotMeasured {
  measured: false
  reason: string
  rows: Row[]
}

export function notMeasured(scenario: string, reason: string): NotMeasured {
  return { measured: false, reason, rows: [{ scenario, metric: '-', value: `not measured: ${reason}` }] }
}

export type { Figure }

/** Bytes of every file under dir (what a file store holds). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    total += e.isDirectory() ? await directoryBytes(p) : (await stat(p)).size
  }
  return total
}

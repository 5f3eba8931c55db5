// Optional persistence under dataDir: topics, record batches and committed group offsets survive a new process.
// Layout: `meta.json` (format version, topics, configs, log start/end, aborted transactions, producer id counter,
// group offsets) and one `<topic>-<partition>.log` per partition holding its batches back to back, exactly as
// stored. New batches are appended; a partition whose batches were removed or rewritten is written anew
// (temp file + rename). Flushes are debounced, serialized, and forced on close()/restart().

import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { KAFKA_BATCH_LOG_OVERHEAD, KafkaBatch } from '@everlog/core'
import { readBatchInfo } from '../protocol/record-batch.js'
import { type BrokerState, Topic } from './broker-state.js'
import type { PartitionLog } from './log.js'
import { recordSequence } from './producers.js'

const FORMAT_VERSION = 1
/** Readers accept the current format and the one before it (there is none before 1 yet). */
const READABLE_VERSIONS = new Set([FORMAT_VERSION])
const FLUSH_DELAY_MS = 50
const GROUP_FLUSH_INTERVAL_MS = 1000

interface MetaPartition {
  logStartOffset: number
  nextOffset: number
  aborted: Array<{ producerId: string; firstOffset: number; lastOffset: number }>
}
interface MetaTopic {
  name: string
  id: string
  configs: Record<string, string>
  partitions: MetaPartition[]
}
interface Meta {
  version: number
  nextProducerId: string
  topics: MetaTopic[]
  groups: unknown
}

export class DataDirError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DataDirError'
  }
}

function fileName(topic: string, partition: number): string {
  return `${topic}-${partition}.log`
}

export class DataDir {
  readonly dir: string
  private readonly state: BrokerState
  /** Batches already in each partition file. */
  private readonly persisted = new WeakMap<PartitionLog, number>()
  private readonly files = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private groupTimer: NodeJS.Timeout | undefined
  private chain: Promise<void> = Promise.resolve()
  /** Where failed background writes are reported (the broker logs them). */
  onError: (err: unknown) => void = () => undefined
  private lastGroups = ''

  constructor(dir: string, state: BrokerState) {
    this.dir = dir
    this.state = state
  }

  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    let text: string
    try {
      text = await readFile(join(this.dir, 'meta.json'), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new DataDirError(`cannot read ${join(this.dir, 'meta.json')}`, { cause: err })
    }
    let meta: Meta
    try {
      meta = JSON.parse(text) as Meta
    } catch (err) {
      throw new DataDirError(`${join(this.dir, 'meta.json')} is not valid JSON; move the data dir away`, { cause: err })
    }
    if (!READABLE_VERSIONS.has(meta.version)) {
      throw new DataDirError(`data dir ${this.dir} has format version ${meta.version}; this broker reads 1`)
    }
    this.state.transactions.nextProducerId = BigInt(meta.nextProducerId)
    for (const mt of meta.topics) {
      const topic = new Topic(mt.name, mt.partitions.length, Buffer.from(mt.id, 'hex'))
      for (const [k, v] of Object.entries(mt.configs)) topic.configs.set(k, v)
      for (let p = 0; p < mt.partitions.length; p++) {
        const mp = mt.partitions[p]!
        const log = topic.partitions[p]!
        const name = fileName(mt.name, p)
        let bytes: Buffer = Buffer.alloc(0)
        try {
          bytes = await readFile(join(this.dir, name))
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
            throw new DataDirError(`cannot read ${name}`, { cause: err })
        }
        let at = 0
        while (at + KafkaBatch.records <= bytes.length) {
          const total = KAFKA_BATCH_LOG_OVERHEAD + bytes.readInt32BE(at + KafkaBatch.batchLength)
          if (at + total > bytes.length) break // torn tail write: drop it
          const buf = bytes.subarray(at, at + total)
          const info = readBatchInfo(buf)
          const b = log.appendStored(buf, info.baseOffset, info.baseOffset + info.lastOffsetDelta, info.maxTimestamp, 0)
          if (info.producerId >= 0n && !b.control) recordSequence(log, info, b.base)
          at += total
        }
        log.logStartOffset = mp.logStartOffset
        log.nextOffset = Math.max(log.nextOffset, mp.nextOffset)
        log.aborted = mp.aborted.map((a) => ({ ...a, producerId: BigInt(a.producerId) }))
        this.persisted.set(log, log.batches.length)
        this.files.add(name)
      }
      this.state.topics.set(mt.name, topic)
    }
    if (meta.groups !== null && meta.groups !== undefined) this.state.groups.restore(meta.groups)
  }

  /** Starts persisting changes as they happen. */
  start(): void {
    this.state.onChange = () => this.schedule()
    this.groupTimer = setInterval(() => {
      if (JSON.stringify(this.state.groups.snapshot()) !== this.lastGroups) this.schedule()
    }, GROUP_FLUSH_INTERVAL_MS)
    this.groupTimer.unref()
  }

  private schedule(): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, FLUSH_DELAY_MS)
  }

  flush(): Promise<void> {
    this.chain = this.chain.then(() => this.write()).catch((err: unknown) => this.onError(err))
    return this.chain
  }

  private async write(): Promise<void> {
    const live = new Set<string>()
    const topics: MetaTopic[] = []
    for (const t of this.state.topics.values()) {
      const partitions: MetaPartition[] = []
      for (const log of t.partitions) {
        const name = fileName(t.name, log.partition)
        live.add(name)
        const path = join(this.dir, name)
        const done = this.persisted.get(log)
        if (log.rewritten || done === undefined) {
          // snapshot the array now: the log may change while the write is in flight
          const batches = log.batches.map((b) => b.buf)
          log.rewritten = false
          this.persisted.set(log, batches.length)
          await writeFile(path + '.tmp', Buffer.concat(batches))
          await rename(path + '.tmp', path)
        } else if (done < log.batches.length) {
          const fresh = log.batches.slice(done).map((b) => b.buf)
          this.persisted.set(log, log.batches.length)
          await appendFile(path, Buffer.concat(fresh))
        }
        this.files.add(name)
        partitions.push({
          logStartOffset: log.logStartOffset,
          nextOffset: log.nextOffset,
          aborted: log.aborted.map((a) => ({ ...a, producerId: a.producerId.toString() })),
        })
      }
      topics.push({ name: t.name, id: t.id.toString('hex'), configs: Object.fromEntries(t.configs), partitions })
    }
    const groups = this.state.groups.snapshot()
    this.lastGroups = JSON.stringify(groups)
    const meta: Meta = {
      version: FORMAT_VERSION,
      nextProducerId: this.state.transactions.nextProducerId.toString(),
      topics,
      groups,
    }
    const metaPath = join(this.dir, 'meta.json')
    await writeFile(metaPath + '.tmp', JSON.stringify(meta))
    await rename(metaPath + '.tmp', metaPath)
    for (const name of [...this.files]) {
      if (!live.has(name)) {
        this.files.delete(name)
        await rm(join(this.dir, name), { force: true })
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (this.groupTimer !== undefined) clearInterval(this.groupTimer)
    this.timer = undefined
    this.state.onChange = undefined
    await this.flush()
  }
}

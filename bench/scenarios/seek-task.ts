// Seek scenario, worker side: builds a deep archive of many small segments with PartitionWriter (one partition per
// fan-out, same segments), then measures time to the first record and store GETs by kind for random offsets and
// timestamps, cold (a new ArchiveReader, nothing cached) and warm (one reader, index nodes cached).
import {
  ArchiveReader,
  encodeSegment,
  FileStore,
  MemoryStore,
  PartitionWriter,
  StoreNodeSource,
  treeSummary,
} from '../../packages/core/src/index.js'
import { join } from 'node:path'
import type { ArchiveRecord } from '../../packages/core/src/index.js'
import { peakRssBytes } from '../lib/child.js'
import { CountingStore } from '../lib/counting-store.js'
import type { GetCounts } from '../lib/counting-store.js'
import { benchRecord, prng } from '../lib/data.js'

export interface SeekTaskParams {
  /** An empty directory for the archive. */
  dir: string
  segments: number
  recordsPerSegment: number
  valueBytes: number
  /** One partition per fan-out, e.g. [16, 256]. */
  fanouts: number[]
  /** Random seeks per kind (offset, timestamp) and temperature. */
  seeks: number
}

export interface SeekSample {
  ms: number
  gets: GetCounts
}

export interface SeekFanoutResult {
  fanout: number
  depth: number
  segments: number
  records: number
  cold: { offset: SeekSample[]; timestamp: SeekSample[] }
  warm: { offset: SeekSample[]; timestamp: SeekSample[] }
}

export interface SeekTaskResult {
  buildSeconds: number
  fanouts: SeekFanoutResult[]
  seconds: number
  cpuSeconds: number
  maxRssBytes: number
  records: number
}

const T0 = 1_700_000_000_000n
const SPACING = 10n

const TOPIC = 'seek'

/**
 * Built in memory (the writer's commit path without disk latency), then copied to the file store that is measured:
 * one archive per fan-out under `<dir>/f<fanout>`, holding byte-identical segments so each is encoded once.
 */
async function build(p: SeekTaskParams): Promise<void> {
  const memories = p.fanouts.map((fanout) => new MemoryStore({ name: `seek-f${fanout}` }))
  const writers = await Promise.all(
    p.fanouts.map((fanout, i) =>
      PartitionWriter.open(memories[i]!, { topic: TOPIC, partition: 0, writer: 'bench-seek', fanout }),
    ),
  )
  const rand = prng(7)
  for (let s = 0; s < p.segments; s++) {
    const records: ArchiveRecord[] = []
    for (let i = s * p.recordsPerSegment; i < (s + 1) * p.recordsPerSegment; i++) {
      records.push(benchRecord(i, rand, { valueBytes: p.valueBytes, t0: T0, spacingMs: SPACING }))
    }
    // snappy: zstd's per-file setup dominates tiny segments, and the seek path does not depend on the codec.
    const encoded = encodeSegment(records, { topic: TOPIC, partition: 0, compression: 'snappy' })
    for (const w of writers) await w.commitSegment(encoded)
  }
  for (const [i, memory] of memories.entries()) {
    const target = new FileStore(join(p.dir, `f${p.fanouts[i]}`), { fsync: false })
    const copies: Promise<unknown>[] = []
    for await (const o of memory.list('')) {
      copies.push(memory.get(o.key).then(({ body }) => target.put(o.key, body)))
      if (copies.length >= 64) await Promise.all(copies.splice(0))
    }
    await Promise.all(copies)
    await target.close()
    await memory.close()
  }
}

async function seekOnce(
  reader: ArchiveReader,
  store: CountingStore,
  at: { fromOffset?: bigint; fromTimestamp?: bigint },
  expected: bigint,
): Promise<SeekSample> {
  store.reset()
  const t = performance.now()
  const it = reader.read({ topic: TOPIC, partition: 0, ...at })
  const first = await it.next()
  const ms = performance.now() - t
  const gets = store.reset()
  await it.return(undefined)
  if (first.done || first.value.offset !== expected) {
    throw new Error(
      `seek to ${JSON.stringify(at, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))} gave ${first.done ? 'nothing' : first.value.offset}, expected ${expected}`,
    )
  }
  return { ms, gets }
}

export async function runSeekTask(p: SeekTaskParams): Promise<SeekTaskResult> {
  const t0 = performance.now()
  await build(p)
  const buildSeconds = (performance.now() - t0) / 1000
  const total = p.segments * p.recordsPerSegment
  const rand = prng(99)
  const randomOffsets = () => Array.from({ length: p.seeks }, () => BigInt(Math.floor(rand() * total)))
  const cpu = process.cpuUsage()
  const start = performance.now()
  const fanouts: SeekFanoutResult[] = []
  for (const fanout of p.fanouts) {
    const raw = new FileStore(join(p.dir, `f${fanout}`), { fsync: false })
    const store = new CountingStore(raw)
    const head = await new ArchiveReader(raw).head(TOPIC, 0)
    const summary = await treeSummary(new StoreNodeSource(raw, TOPIC, 0), head!.root!)
    const seek = async (
      reader: () => ArchiveReader,
      targets: bigint[],
      out: { offset: SeekSample[]; timestamp: SeekSample[] },
    ) => {
      for (const o of targets) out.offset.push(await seekOnce(reader(), store, { fromOffset: o }, o))
      // Between two records' timestamps: Kafka's "first offset with timestamp >= t" is the later one.
      for (const o of targets) {
        const t = T0 + o * SPACING - SPACING / 2n
        out.timestamp.push(await seekOnce(reader(), store, { fromTimestamp: t }, o))
      }
    }
    const scratch = { offset: [] as SeekSample[], timestamp: [] as SeekSample[] }
    // Warm-up of the code paths (JIT, WASM) on throwaway readers, excluded.
    await seek(() => new ArchiveReader(store), randomOffsets().slice(0, 5), scratch)
    const cold = { offset: [] as SeekSample[], timestamp: [] as SeekSample[] }
    await seek(() => new ArchiveReader(store, { prefetchSegments: 0 }), randomOffsets(), cold)
    // Warm: one long-lived reader that has already served other random seeks (upper index levels cached).
    const warmReader = new ArchiveReader(store, { prefetchSegments: 0 })
    await seek(() => warmReader, randomOffsets(), scratch)
    const warm = { offset: [] as SeekSample[], timestamp: [] as SeekSample[] }
    await seek(() => warmReader, randomOffsets(), warm)
    fanouts.push({ fanout, depth: summary.height, segments: summary.segments, records: summary.records, cold, warm })
    await raw.close()
  }
  const u = process.cpuUsage(cpu)
  return {
    buildSeconds,
    fanouts,
    seconds: (performance.now() - start) / 1000,
    cpuSeconds: (u.user + u.system) / 1e6,
    maxRssBytes: peakRssBytes(),
    records: total,
  }
}

// Segment format throughput: encode and decode ~1 KiB JSON-like records with keys and two headers (lib/data.ts),
// for zstd and snappy, with encodeSegment and streaming (row groups encoded one by one, then assembled, as the archiver does). MB/s of raw record bytes over
// measured runs after a warm-up, wall and CPU time, and the segment size as a share of the raw bytes.
// Run alone: node --conditions=everlog-source --import tsx bench/segment-format.ts [--records N] [--runs R]
import { availableParallelism, loadavg } from 'node:os'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { rawRecordBytes } from '../packages/core/src/record.js'
import type { ArchiveRecord } from '../packages/core/src/record.js'
import { decodeSegment } from '../packages/core/src/segment/decode.js'
import { assembleSegment, encodeRowGroup, encodeSegment, fitsRowGroup } from '../packages/core/src/segment/encode.js'
import { DEFAULT_ROW_GROUP_BYTES } from '../packages/core/src/segment/schema.js'
import type { SegmentCompression } from '../packages/core/src/segment/types.js'
import { benchRecord, prng } from './lib/data.js'
import { figure, show } from './lib/stats.js'
import type { Figure } from './lib/stats.js'

interface Timing {
  wall: number
  cpu: number
}

// CPU time (this process, all threads) next to wall time: on a shared, busy machine wall time mostly measures
// the neighbours, CPU time what the code costs.
async function time(fn: () => unknown): Promise<Timing> {
  const c = process.cpuUsage()
  const t = process.hrtime.bigint()
  await fn()
  const wall = Number(process.hrtime.bigint() - t) / 1e9
  const u = process.cpuUsage(c)
  return { wall, cpu: (u.user + u.system) / 1e6 }
}

export interface CodecFigures {
  compression: SegmentCompression
  /** MB/s of raw record bytes (1 MB = 1e6 bytes). */
  writeMBs: Figure
  writeCpuMBs: Figure
  streamingWriteMBs: Figure
  readMBs: Figure
  readCpuMBs: Figure
  bytes: number
  shareOfRaw: number
}

export interface SegmentFormatFigures {
  records: number
  rawBytes: number
  codecs: CodecFigures[]
}

export async function segmentFormatFigures(
  count: number,
  runs: number,
  valueBytes = 1024,
): Promise<SegmentFormatFigures> {
  const rand = prng()
  const records: ArchiveRecord[] = Array.from({ length: count }, (_, i) => benchRecord(i, rand, { valueBytes }))
  let raw = 0
  for (const r of records) raw += rawRecordBytes(r)
  const mb = raw / 1e6
  const codecs: CodecFigures[] = []
  for (const compression of ['zstd', 'snappy'] as SegmentCompression[]) {
    const opts = { topic: 'bench', partition: 0, compression }
    // Warm-up: JIT and WASM memory growth, excluded from the figures.
    let bytes = encodeSegment(records, opts).bytes
    decodeSegment(bytes)
    streamingEncode(records, opts)
    const writes: Timing[] = []
    const streamed: Timing[] = []
    const reads: Timing[] = []
    for (let i = 0; i < runs; i++) {
      writes.push(await time(() => (bytes = encodeSegment(records, opts).bytes)))
      streamed.push(await time(() => streamingEncode(records, opts)))
      reads.push(await time(() => decodeSegment(bytes)))
    }
    const rate = (ts: Timing[], k: keyof Timing) => figure(ts.map((t) => mb / t[k]))
    codecs.push({
      compression,
      writeMBs: rate(writes, 'wall'),
      writeCpuMBs: rate(writes, 'cpu'),
      streamingWriteMBs: rate(streamed, 'wall'),
      readMBs: rate(reads, 'wall'),
      readCpuMBs: rate(reads, 'cpu'),
      bytes: bytes.length,
      shareOfRaw: bytes.length / raw,
    })
  }
  return { records: count, rawBytes: raw, codecs }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { records: { type: 'string', default: '200000' }, runs: { type: 'string', default: '3' } },
  })
  const count = Number(values.records)
  const runs = Number(values.runs)
  if (!Number.isSafeInteger(count) || count < 1)
    throw new Error(`--records must be a positive integer, got ${values.records}`)
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`)
  const f = await segmentFormatFigures(count, runs)
  console.log(
    `${count} records, ${(f.rawBytes / 1e6).toFixed(1)} MB raw (key + value + headers), default 4 MiB row groups`,
  )
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${availableParallelism()} CPUs`,
  )
  for (const c of f.codecs) {
    console.log(
      `${c.compression.padEnd(6)} write ${show(c.writeMBs, 0, 'MB/s')} (cpu ${show(c.writeCpuMBs, 0, 'MB/s')})` +
        `  streaming write ${show(c.streamingWriteMBs, 0, 'MB/s')}  read ${show(c.readMBs, 0, 'MB/s')} (cpu ${show(c.readCpuMBs, 0, 'MB/s')})` +
        `  size ${(c.bytes / 1e6).toFixed(1)} MB = ${(100 * c.shareOfRaw).toFixed(1)}% of raw`,
    )
  }
}

/** The archiver's way: each row group encoded as soon as it is full, the segment assembled from them at the end. */
function streamingEncode(
  records: readonly ArchiveRecord[],
  opts: { topic: string; partition: number; compression: SegmentCompression },
) {
  const groups = []
  let from = 0
  let bytes = 0
  for (let i = 0; i < records.length; i++) {
    const n = rawRecordBytes(records[i]!)
    if (!fitsRowGroup(bytes, n, DEFAULT_ROW_GROUP_BYTES)) {
      groups.push(encodeRowGroup(records.slice(from, i), opts))
      from = i
      bytes = 0
    }
    bytes += n
  }
  groups.push(encodeRowGroup(records.slice(from), opts))
  return assembleSegment(groups, opts)
}

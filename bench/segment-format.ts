// Segment format throughput: encode and decode 200k ~1 KiB JSON-like records with keys and two headers, for
// zstd and snappy, with encodeSegment and the streaming encodeSegmentAsync. Prints MB/s of raw record bytes
// (median of 3 runs after a warm-up) and the archive size as a share of the raw bytes.
// Run: node --conditions=everlog-source --import tsx bench/segment-format.ts [--records N]
import { availableParallelism, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { decodeSegment } from '../packages/core/src/segment/decode.js'
import { encodeSegment, encodeSegmentAsync } from '../packages/core/src/segment/encode.js'
import type { ArchiveRecord } from '../packages/core/src/record.js'
import type { SegmentCompression } from '../packages/core/src/segment/types.js'

const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' } } })
const count = Number(values.records)
if (!Number.isSafeInteger(count) || count < 1)
  throw new Error(`--records must be a positive integer, got ${values.records}`)

// Deterministic pseudo-random text so runs compare: JSON with repeated field names and varying values, like
// typical event payloads (compressible, but not trivially).
let seed = 42
const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet']
function payload(i: number): Buffer {
  const o: Record<string, unknown> = { id: i, type: words[i % 10], ts: 1_700_000_000_000 + i, amount: rand() * 1000 }
  let s = JSON.stringify(o)
  while (s.length < 900 + (i % 250)) {
    o[`f${Object.keys(o).length}`] = `${words[Math.floor(rand() * 10)]}-${Math.floor(rand() * 1e9).toString(36)}`
    s = JSON.stringify(o)
  }
  return Buffer.from(s)
}

const records: ArchiveRecord[] = Array.from({ length: count }, (_, i) => ({
  offset: BigInt(i),
  timestamp: 1_700_000_000_000n + BigInt(i),
  key: Buffer.from(`customer-${i % 5000}`),
  value: payload(i),
  headers: [
    ['trace-id', Buffer.from(Math.floor(rand() * 1e16).toString(16))],
    ['content-type', Buffer.from('application/json')],
  ],
}))
let raw = 0
for (const r of records) {
  raw += r.key!.length + r.value!.length
  for (const [k, v] of r.headers) raw += Buffer.byteLength(k) + v!.length
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
}

interface Timing {
  wall: number
  cpu: number
}

async function timeAsync(fn: () => Promise<unknown>): Promise<Timing> {
  const c = process.cpuUsage()
  const t = process.hrtime.bigint()
  await fn()
  const wall = Number(process.hrtime.bigint() - t) / 1e9
  const u = process.cpuUsage(c)
  return { wall, cpu: (u.user + u.system) / 1e6 }
}

// CPU time (this process, all threads) next to wall time: on a shared, busy machine wall time mostly measures
// the neighbours, CPU time what the code costs.
function time(fn: () => void): Timing {
  const c = process.cpuUsage()
  const t = process.hrtime.bigint()
  fn()
  const wall = Number(process.hrtime.bigint() - t) / 1e9
  const u = process.cpuUsage(c)
  return { wall, cpu: (u.user + u.system) / 1e6 }
}

const mb = raw / 1e6
console.log(`${count} records, ${mb.toFixed(1)} MB raw (key + value + headers), default 4 MiB row groups`)
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${availableParallelism()} CPUs`,
)
for (const compression of ['zstd', 'snappy'] as SegmentCompression[]) {
  const opts = { topic: 'bench', partition: 0, compression }
  // Warm-up: JIT and WASM memory growth, excluded from the figures.
  let bytes = encodeSegment(records, opts).bytes
  decodeSegment(bytes)
  await encodeSegmentAsync(records, opts)
  const writes: Timing[] = []
  const streamed: Timing[] = []
  const reads: Timing[] = []
  for (let i = 0; i < 3; i++) {
    writes.push(time(() => (bytes = encodeSegment(records, opts).bytes)))
    streamed.push(await timeAsync(() => encodeSegmentAsync(records, opts)))
    reads.push(time(() => decodeSegment(bytes)))
  }
  const rate = (ts: Timing[], k: keyof Timing) => `${(mb / median(ts.map((t) => t[k]))).toFixed(0)} MB/s`
  console.log(
    `${compression.padEnd(6)} write ${rate(writes, 'wall')} (cpu ${rate(writes, 'cpu')}, ${median(writes.map((t) => t.wall)).toFixed(2)} s)` +
      `  streaming write ${rate(streamed, 'wall')} (cpu ${rate(streamed, 'cpu')})` +
      `  read ${rate(reads, 'wall')} (cpu ${rate(reads, 'cpu')}, ${median(reads.map((t) => t.wall)).toFixed(2)} s)` +
      `  size ${(bytes.length / 1e6).toFixed(1)} MB = ${((100 * bytes.length) / raw).toFixed(1)}% of raw`,
  )
}

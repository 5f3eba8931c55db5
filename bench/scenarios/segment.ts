// Segment format: encode/decode MB/s of the benchmark records (zstd, snappy) and size against raw bytes, measured in
// a worker process (segment-format.ts holds the logic and also runs alone).
import { runChild } from '../lib/child.js'
import type { BenchContext, Row, ScenarioResult } from '../lib/context.js'
import { show } from '../lib/stats.js'
import type { SegmentFormatFigures } from '../segment-format.js'

export async function segmentScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const records = Math.min(ctx.options.records, ctx.options.quick ? 50_000 : 200_000)
  const profile = ctx.options.profileDir ? { profileDir: ctx.options.profileDir, profileName: 'segment' } : {}
  const f = await runChild<SegmentFormatFigures & { seconds: number; cpuSeconds: number; maxRssBytes: number }>(
    'segment',
    { records, runs: ctx.options.runs, valueBytes: ctx.options.valueBytes },
    profile,
  )
  const rows: Row[] = f.codecs.map((c) => ({
    scenario: 'segment',
    metric: `${c.compression} (${records} records)`,
    value:
      `write ${show(c.writeMBs, 0, 'MB/s')} (cpu ${show(c.writeCpuMBs, 0)}), read ${show(c.readMBs, 0, 'MB/s')} ` +
      `(cpu ${show(c.readCpuMBs, 0)}), size ${(100 * c.shareOfRaw).toFixed(1)}% of raw`,
  }))
  return { measured: true, rows, data: f as unknown as Record<string, unknown> }
}

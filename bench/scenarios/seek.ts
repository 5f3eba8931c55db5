// Seek: time to the first record and store GETs by kind (HEAD, index node, segment) for random offsets and
// timestamps in a deep archive of many small segments, cold and warm, with a small fan-out (depth) and the default.
// Target: <= 4 index GETs (HEAD + nodes) for a cold seek with the default fan-out.
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_FANOUT } from '../../packages/core/src/index.js'
import { runChild } from '../lib/child.js'
import type { BenchContext, Row, ScenarioResult } from '../lib/context.js'
import { figure, show } from '../lib/stats.js'
import type { SeekSample, SeekTaskParams, SeekTaskResult } from './seek-task.js'

export async function seekScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const S = 'seek'
  const dir = await mkdtemp(join(ctx.tmp, 'seek-'))
  const params: SeekTaskParams = {
    dir,
    segments: ctx.options.seekSegments,
    recordsPerSegment: ctx.options.seekRecordsPerSegment,
    valueBytes: ctx.options.valueBytes,
    fanouts: [16, DEFAULT_FANOUT],
    seeks: ctx.options.seeks,
  }
  const profile = ctx.options.profileDir ? { profileDir: ctx.options.profileDir, profileName: 'seek' } : {}
  const result = await runChild<SeekTaskResult>('seek', params, profile)
  await rm(dir, { recursive: true, force: true })
  ctx.log(`  seek archive: ${params.segments} segments built in ${result.buildSeconds.toFixed(1)} s`)
  const rows: Row[] = []
  const summarize = (xs: SeekSample[]) => ({
    ms: figure(xs.map((x) => x.ms)),
    indexGets: figure(xs.map((x) => x.gets.head + x.gets.node)),
    headGets: figure(xs.map((x) => x.gets.head)),
    nodeGets: figure(xs.map((x) => x.gets.node)),
    segmentGets: figure(xs.map((x) => x.gets.segment)),
    bytes: figure(xs.map((x) => x.gets.bytes)),
  })
  const data: Record<string, unknown> = {
    segments: params.segments,
    recordsPerSegment: params.recordsPerSegment,
    seeksPerKind: params.seeks,
    buildSeconds: result.buildSeconds,
    note: 'figures are over the random seeks of one run (min/median/max across seeks)',
  }
  for (const f of result.fanouts) {
    const out: Record<string, unknown> = { depth: f.depth, segments: f.segments }
    for (const temp of ['cold', 'warm'] as const) {
      for (const kind of ['offset', 'timestamp'] as const) {
        const s = summarize(f[temp][kind])
        out[`${temp}${kind === 'offset' ? 'Offset' : 'Timestamp'}`] = s
        const isTarget = temp === 'cold' && kind === 'offset' && f.fanout === DEFAULT_FANOUT
        rows.push({
          scenario: S,
          metric: `fanout ${f.fanout} (depth ${f.depth}) ${temp} by ${kind}: first record`,
          value: `${show(s.ms, 1, 'ms')}; GETs index ${show(s.indexGets, 0)} (HEAD ${show(s.headGets, 0)}), segment ${show(s.segmentGets, 0)}`,
          ...(isTarget ? { target: '<= 4 index GETs', ok: s.indexGets.max <= 4 } : {}),
        })
      }
    }
    data[`fanout${f.fanout}`] = out
  }
  return { measured: true, rows, data }
}

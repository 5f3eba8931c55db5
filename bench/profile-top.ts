// Summarises a V8 CPU profile (node --cpu-prof, or `npm run bench -- --profile`): the frames with the most self
// time, and the same grouped by package/file, so the slowest stage of a path can be named.
// Run: node --import tsx bench/profile-top.ts bench/results/profiles/<name>.cpuprofile [--top N]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

interface Profile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Where a frame comes from: a package name, a workspace package or the Node runtime. */
function origin(url: string): string {
  if (url === '') return '(native/gc)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]!
  const ws = /packages\/([^/]+)\/src\/(.*)$/.exec(url)
  if (ws) return `@everlog/${ws[1]}/${ws[2]}`
  if (url.startsWith('node:')) return url
  return url.replace(/^file:\/\/.*\/(bench\/)/, '$1')
}

export function topFrames(profile: Profile, top: number): { frames: string[]; origins: string[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1
  const frames = new Map<string, number>()
  const origins = new Map<string, number>()
  for (const [id, us] of self) {
    const n = byId.get(id)!
    const name = n.callFrame.functionName || '(anonymous)'
    const where = origin(n.callFrame.url)
    const key = `${name} ${where}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`
    frames.set(key, (frames.get(key) ?? 0) + us)
    origins.set(where, (origins.get(where) ?? 0) + us)
  }
  const fmt = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`)
  return { frames: fmt(frames), origins: fmt(origins) }
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '15' } },
})
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const { frames, origins } = topFrames(profile, Number(values.top))
  console.log(`${file} (${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s)\n  self time by frame:`)
  for (const l of frames) console.log(`    ${l}`)
  console.log('  self time by package / file:')
  for (const l of origins) console.log(`    ${l}`)
}

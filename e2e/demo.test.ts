// The quickstart's main job: `everlog demo` runs the whole story on embedded defaults and reports what happened.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

test('everlog demo archives, replays across the boundary, queries, and reports consistent figures', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'everlog-e2e-demo-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const child = spawn(
    process.execPath,
    [
      '--conditions=everlog-source',
      '--import',
      'tsx',
      'packages/cli/src/bin.ts',
      'demo',
      '--records',
      '3000',
      '--live',
      '300',
      '--partitions',
      '3',
      '--dir',
      dir,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d))
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(code, 0, `demo failed:\n${stdout}\n${stderr}`)

  const figure = (label: string) => Number(new RegExp(`${label}\\s+(\\d+)`).exec(stdout)?.[1])
  assert.equal(figure('records archived'), 3000)
  assert.equal(figure('replayed from archive'), 3000)
  assert.equal(figure('replayed from Kafka'), 300)
  const boundaries = /boundary per partition\s+(.*)/.exec(stdout)![1]!.trim().split(/\s+/)
  assert.equal(boundaries.length, 3)
  // The SQL table's records per partition add up to the archived records, and each partition's boundary is its count.
  const rows = [...stdout.matchAll(/^\s+(\d)\s+(\d+)\s+\d+\s+[\d.]+\s+0\.\.(\d+)$/gm)]
  assert.equal(rows.length, 3, stdout)
  assert.equal(
    rows.reduce((n, r) => n + Number(r[2]), 0),
    3000,
  )
  for (const r of rows) assert.ok(boundaries.includes(`${r[1]}:${Number(r[3]) + 1}`), `boundary of partition ${r[1]}`)
  assert.match(stderr, /3\. archiving: 3000\/3000 records \(100%\)/, 'progress is shown')
})

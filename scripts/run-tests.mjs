#!/usr/bin/env node
// Runs every *.test.ts under the given folders (default: packages and e2e) with node's built-in test runner.
// Sources are loaded through tsx with the `everlog-source` export condition, so tests need no build step.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const runnerFlags = args.filter((a) => a.startsWith('--'))
const dirs = args.filter((a) => !a.startsWith('--'))
const roots = dirs.length > 0 ? dirs : ['packages', 'e2e']

function collect(dir, out) {
  let entries
  try {
    entries = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) collect(path, out)
    else if (name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

const files = roots
  .flatMap((r) => (r.endsWith('.test.ts') ? [join(root, r)] : collect(join(root, r), [])))
  .map((f) => relative(root, f))
  .sort()
if (files.length === 0) {
  console.error(`no test files found under ${roots.join(', ')}`)
  process.exit(1)
}
const concurrency = process.env.EVERLOG_TEST_CONCURRENCY ?? '2'
// A hung test fails after this long instead of holding CI until its deadline.
const timeoutMs = process.env.EVERLOG_TEST_TIMEOUT_MS ?? '300000'
const result = spawnSync(
  process.execPath,
  [
    '--conditions=everlog-source',
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${timeoutMs}`,
    ...runnerFlags,
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
)
process.exit(result.status ?? 1)

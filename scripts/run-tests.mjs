#!/usr/bin/env node
// Runs every *.test.ts under the given folders (default: packages and e2e) with node's built-in test runner.
// Sources are loaded through tsx with the `everlog-source` export condition, so tests need no build step.
//
// Two brokers: the integration suites take theirs from EVERLOG_TEST_KAFKA (`dev`, the embedded dev broker, or
// `kafka`, Apache Kafka from the cached jars). With no folder given and EVERLOG_TEST_KAFKA unset (`npm test`, CI),
// everything runs once against the dev broker, then the files that take the switch (they call startTestBroker,
// useBroker or startStack) run again against Apache Kafka; the last lines total both runs.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
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

/** Files whose broker comes from EVERLOG_TEST_KAFKA (directly or through a suite's support module). */
function takesBrokerSwitch(file) {
  const text = readFileSync(join(root, file), 'utf8')
  return /\b(startTestBroker|useBroker|startStack)\(/.test(text)
}

const concurrency = process.env.EVERLOG_TEST_CONCURRENCY ?? '2'
// A hung test fails after this long instead of holding CI until its deadline.
const timeoutMs = process.env.EVERLOG_TEST_TIMEOUT_MS ?? '300000'
const scratch = mkdtempSync(join(tmpdir(), 'everlog-test-runs-'))

/** One run of the node test runner; returns its totals, read from a TAP copy of its report. */
function run(label, runFiles, env) {
  const tapFile = join(scratch, `${runs.length}.tap`)
  const result = spawnSync(
    process.execPath,
    [
      '--conditions=everlog-source',
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      `--test-timeout=${timeoutMs}`,
      `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
      ...runnerFlags,
      ...runFiles,
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } },
  )
  const totals = { label, files: runFiles.length, pass: 0, fail: 0, skipped: 0, cancelled: 0, todo: 0 }
  let tap = ''
  try {
    tap = readFileSync(tapFile, 'utf8')
  } catch {
    // the runner died before writing: counted as a failure below
  }
  for (const key of ['pass', 'fail', 'skipped', 'cancelled', 'todo']) {
    const all = [...tap.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))]
    if (all.length > 0) totals[key] = Number(all.at(-1)[1])
  }
  totals.ok = result.status === 0
  if (!totals.ok && totals.fail + totals.cancelled === 0) totals.fail = 1
  runs.push(totals)
  return totals
}

const runs = []
const switchSet = process.env.EVERLOG_TEST_KAFKA !== undefined && process.env.EVERLOG_TEST_KAFKA !== ''
const kafkaLabel = `Apache Kafka ${process.env.EVERLOG_TEST_KAFKA_VERSION || '(newest 4.x)'}`
if (dirs.length === 0 && !switchSet) {
  run('dev broker', files, { EVERLOG_TEST_KAFKA: 'dev' })
  const integration = files.filter(takesBrokerSwitch)
  // (With no file at all, node --test would go looking for tests everywhere.)
  if (integration.length > 0) {
    console.log(`\n# again against ${kafkaLabel}: ${integration.length} files that take EVERLOG_TEST_KAFKA\n`)
    run(kafkaLabel, integration, { EVERLOG_TEST_KAFKA: 'kafka' })
  }
} else {
  const kind = (process.env.EVERLOG_TEST_KAFKA || 'dev').toLowerCase()
  run(kind === 'kafka' ? kafkaLabel : 'dev broker', files, {})
}
rmSync(scratch, { recursive: true, force: true })

if (runs.length > 1) {
  console.log('\n# runs')
  for (const r of runs) {
    console.log(
      `#   ${r.label} (${r.files} files): ${r.pass} passed, ${r.fail} failed, ${r.cancelled} cancelled, ${r.skipped} skipped`,
    )
  }
  const sum = (k) => runs.reduce((n, r) => n + r[k], 0)
  console.log(`${sum('pass')} passed, ${sum('fail') + sum('cancelled')} failed (all runs; ${sum('skipped')} skipped)`)
}
process.exit(runs.every((r) => r.ok) ? 0 : 1)

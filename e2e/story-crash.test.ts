// Crash and scale-out over S3 via HTTP: `everlog archive` is killed with SIGKILL mid-commit (its HEAD write in
// flight) while records keep arriving, restarted, and joined by a second archiver process in the same group; at the
// end `everlog verify` finds the archive sound, every produced offset is archived exactly once byte for byte, and the
// replay story still holds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { ArchiveReader } from '@everlog/core'
import { ProducedLog, archiveMismatch, assertExactlyProduced } from './support/records.js'
import { forgetHistoryAndReplay } from './support/replay.js'
import { archiveArgs, archivedUpTo, readArchive, runCli, spawnCli, startStack, waitFor } from './support/stack.js'
import type { CliProcess, LogEntry } from './support/stack.js'

const TOPIC = 'story.crash'
const PARTITIONS = 4
const GROUP = 'story-crash-archivers'

const sum = (xs: readonly bigint[]) => xs.reduce((a, b) => a + b, 0n)

/** The partitions of TOPIC in an archiver's latest 'partitions assigned' log line. */
function latestAssignment(proc: CliProcess): { partitions: number[] } | undefined {
  const entry = proc
    .logs()
    .filter((e: LogEntry) => e.msg === 'partitions assigned')
    .at(-1)
  if (!entry) return undefined
  const assignment = entry.assignment as Record<string, number[]>
  return { partitions: assignment[TOPIC] ?? [] }
}

test('SIGKILL mid-archive, restart, a second archiver in the group: verify is sound, each offset archived once, replay holds', async (t) => {
  const stack = await startStack(t, 'story-crash')
  await stack.broker.createTopic(TOPIC, { partitions: PARTITIONS })
  const producer = stack.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  t.after(() => producer.disconnect())
  const log = new ProducedLog(TOPIC, PARTITIONS, 29)
  await log.produce(producer, 1000)

  // Records keep arriving while archivers come and go.
  let producing = true
  const background = (async () => {
    while (producing) {
      await log.produce(producer, 25, 25)
      await new Promise((r) => setTimeout(r, 200))
    }
  })()
  t.after(async () => {
    producing = false
    await background.catch(() => {})
  })

  // A dead member leaves the group after its session times out: keep that short so the restart is not held up.
  const env = {
    ...stack.env,
    EVERLOG_KAFKA__SESSION_TIMEOUT: '6000',
    EVERLOG_KAFKA__HEARTBEAT_INTERVAL: '500',
    EVERLOG_KAFKA__MAX_WAIT_TIME_IN_MS: '200',
  }
  const args = archiveArgs(stack, TOPIC, GROUP, { maxRecords: 50, maxAge: '1s' })

  // 1. The first archiver is killed with SIGKILL in the middle of a commit: its segment and index nodes are uploaded,
  // its HEAD writes hang (the S3 server holds them), and the process dies before they are answered.
  const first = spawnCli(t, args, env)
  await first.waitForLog('archiver started')
  await waitFor(
    async () => sum(await archivedUpTo(stack.store, TOPIC, PARTITIONS)) >= 300n,
    30_000,
    () => `the first archiver archived too little; stdout:\n${first.stdout}\n${first.stderr}`,
  )
  const armedAt = stack.s3.requests.length
  stack.s3.delayNext(PARTITIONS, 5000, { method: 'PUT', key: /\/HEAD$/ })
  await waitFor(
    () => stack.s3.requests.slice(armedAt).some((r) => r.method === 'PUT' && r.key?.includes('/nodes/')),
    30_000,
    () => `the first archiver uploaded no index node; stdout:\n${first.stdout}\n${first.stderr}`,
  )
  await new Promise((r) => setTimeout(r, 300)) // its HEAD write is now on the wire, held by the server
  first.kill('SIGKILL')
  assert.deepEqual(await first.exit, { code: null, signal: 'SIGKILL' })
  const atKill = await archivedUpTo(stack.store, TOPIC, PARTITIONS)
  assert.ok(sum(atKill) < BigInt(log.count), `killed mid-archive: ${sum(atKill)} of ${log.count} archived`)

  // 2. Restarted, it resumes every partition at its HEAD — not at the group's committed offset, not at 0.
  const restarted = spawnCli(t, args, env)
  const opened = (e: LogEntry) =>
    e.msg === 'resuming partition at HEAD' || e.msg === 'partition has no HEAD: starting at the earliest offset'
  const resumed = await waitFor(
    () => {
      const lines = restarted.logs().filter(opened)
      return new Set(lines.map((e) => e.partition)).size === PARTITIONS && lines
    },
    40_000,
    () => `the restarted archiver did not open every partition; stdout:\n${restarted.stdout}\n${restarted.stderr}`,
  )
  for (const line of resumed) {
    const p = line.partition as number
    // HEAD may have moved on after atKill was read only if the killed process's last HEAD write landed late.
    assert.ok(
      BigInt(line.nextOffset as string) >= atKill[p]!,
      `partition ${p} resumes at or after its HEAD at the kill`,
    )
    if (line.headNextOffset === null) assert.equal(line.nextOffset, '0', `partition ${p} had nothing archived`)
    else assert.equal(line.nextOffset, line.headNextOffset, `partition ${p} resumes exactly at HEAD`)
  }
  const beforeSecond = sum(await archivedUpTo(stack.store, TOPIC, PARTITIONS))
  await waitFor(
    async () => sum(await archivedUpTo(stack.store, TOPIC, PARTITIONS)) > beforeSecond + 200n,
    30_000,
    () => `the restarted archiver made no progress; stdout:\n${restarted.stdout}\n${restarted.stderr}`,
  )

  // 3. A second archiver joins the group: the partitions are split between the two processes.
  const second = spawnCli(t, args, env)
  const split = await waitFor(
    () => {
      const a = latestAssignment(restarted)
      const b = latestAssignment(second)
      // Each process numbers its own assignments; the split is done when the two latest ones cover the topic.
      return a && b && a.partitions.length + b.partitions.length === PARTITIONS && b.partitions.length > 0 && { a, b }
    },
    40_000,
    () =>
      `the two archivers never split the partitions; restarted:\n${restarted.stdout}\nsecond:\n${second.stdout}\n${second.stderr}`,
  )
  assert.deepEqual(
    [...split.a.partitions, ...split.b.partitions].sort((x, y) => x - y),
    Array.from({ length: PARTITIONS }, (_, p) => p),
    'each partition is owned by exactly one archiver',
  )

  // Both keep archiving new records for a while, then production stops and they catch up.
  const afterSplit = log.count
  await waitFor(
    () => log.count >= afterSplit + 300,
    30_000,
    () => 'the background producer stalled',
  )
  producing = false
  await background
  const end = log.highWatermarks()
  await waitFor(
    async () => (await archivedUpTo(stack.store, TOPIC, PARTITIONS)).every((o, p) => o === end[p]),
    60_000,
    () => `the archivers did not catch up with ${end.join(',')};\n${restarted.stdout}\n${second.stdout}`,
  )
  restarted.kill('SIGTERM')
  second.kill('SIGTERM')
  assert.deepEqual(await restarted.exit, { code: 0, signal: null }, restarted.stderr)
  assert.deepEqual(await second.exit, { code: 0, signal: null }, second.stderr)

  // The last HEAD of each partition was written by the archiver that owned it after the split.
  const reader = new ArchiveReader(stack.store)
  const writers = new Map<number, string>()
  for (let p = 0; p < PARTITIONS; p++) writers.set(p, (await reader.head(TOPIC, p))!.writer)
  const writerOf = (proc: CliProcess) => `archiver@${hostname()}:${proc.pid}`
  for (const p of split.a.partitions) assert.equal(writers.get(p), writerOf(restarted), `HEAD writer of partition ${p}`)
  for (const p of split.b.partitions) assert.equal(writers.get(p), writerOf(second), `HEAD writer of partition ${p}`)

  // 4. `everlog verify` reads every HEAD, node and segment over S3 and finds nothing broken.
  const verify = await runCli(t, ['verify', '--store', stack.storeUrl, '--topic', TOPIC, '--json'], env)
  assert.equal(verify.code, 0, `everlog verify:\n${verify.stdout}\n${verify.stderr}`)
  const verified = JSON.parse(verify.stdout) as { ok: boolean; checked: { records: number; segments: number } }
  assert.equal(verified.ok, true)
  assert.equal(verified.checked.records, log.count, 'verify counts every produced record in the index')

  // 5. Every produced offset is archived exactly once, byte for byte, despite the crash and the handover.
  const archived = await readArchive(stack.store, TOPIC, PARTITIONS)
  assertExactlyProduced(log, archived, archiveMismatch, 'the archive after a crash, a restart and a second archiver')
  assert.ok(log.count > 1000 + 300, `records arrived throughout (${log.count})`)

  // 6. And the consumer story still holds on this archive.
  await forgetHistoryAndReplay(t, stack, log, producer, end, 200)
})

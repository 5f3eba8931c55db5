// A crash at every step of every commit: after the segment PUT, after each index node PUT (every level of a deep
// tree), before and after the HEAD write — for segments and for gap entries, on a real file store. After each crash a
// new writer ("the restarted process") resumes from HEAD; verify is sound after every crash and in the end the
// archive holds every offset exactly once.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { PartitionWriter } from '../src/partition-writer.js'
import type { CommitHooks } from '../src/partition-writer.js'
import { ArchiveReader } from '../src/reader.js'
import type { ArchiveRecord } from '../src/record.js'
import { FileStore } from '../src/store/file.js'
import { verifyArchive } from '../src/verify.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

class Crash extends Error {}

function records(from: number, count: number): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: BigInt(from + i),
    timestamp: 1_700_000_000_000n + BigInt(from + i),
    key: null,
    value: Buffer.from(`v${from + i}`),
    headers: [],
  }))
}

type Step = { name: string; hooks: (crash: () => void) => CommitHooks }

/** Every place a process can die inside a commit; node indexes up to 4 cover a 5-level tree (fan-out 2). */
const steps: Step[] = [
  { name: 'afterSegmentPut', hooks: (c) => ({ afterSegmentPut: c }) },
  ...[0, 1, 2, 3, 4].map((n) => ({
    name: `afterNodePut(${n})`,
    hooks: (c: () => void) => ({ afterNodePut: (i: number) => (i === n ? c() : undefined) }),
  })),
  { name: 'beforeHeadWrite', hooks: (c) => ({ beforeHeadWrite: c }) },
  { name: 'afterHeadWrite', hooks: (c) => ({ afterHeadWrite: c }) },
]

test('a crash at every step of every commit: verify sound after each, every offset exactly once at the end', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everlog-crash-points-'))
  dirs.push(dir)
  const store = new FileStore(dir, { fsync: false })
  const total = LONG ? 400 : 120
  // Each entry is a segment of 1-4 records, or (every 7th) a gap of 2 offsets.
  let crashes = 0
  let stepIndex = 0
  const gaps = new Set<number>()
  const hitSteps = new Set<string>()
  while (true) {
    const step = steps[stepIndex++ % steps.length]!
    let armed = true
    const crash = () => {
      if (!armed) return
      armed = false
      hitSteps.add(step.name)
      throw new Crash(step.name)
    }
    // The restarted process: a new writer that knows nothing but what the store says.
    const w = await PartitionWriter.open(store, {
      topic: 'orders',
      partition: 0,
      writer: 'w',
      fanout: 2,
      hooks: step.hooks(crash),
    })
    const next = Number(w.nextOffset)
    if (next >= total) break
    try {
      // Commit until this step's crash fires (a node index deeper than the tree never fires: go on committing).
      // At most 3 commits per process, so a step that cannot fire yet (a level the tree does not have) comes again.
      for (let at = next, commits = 0; at < total && armed && commits < 3; commits++) {
        if (at % 7 === 3 && at + 2 <= total) {
          // Recorded before the commit: a crash after its HEAD write still committed it.
          gaps.add(at).add(at + 1)
          await w.appendGap({ firstOffset: BigInt(at), lastOffset: BigInt(at + 1), reason: 'retention' })
          at += 2
        } else {
          const n = Math.min(1 + (at % 4), total - at)
          await w.appendSegment(records(at, n))
          at += n
        }
      }
    } catch (err) {
      assert.ok(err instanceof Crash, String(err))
      crashes++
    }
    const v = await verifyArchive(store)
    assert.deepEqual(v.problems, [], `after a crash at ${step.name}`)
  }
  assert.deepEqual([...hitSteps].sort(), steps.map((s) => s.name).sort(), 'every step crashed at least once')
  assert.ok(crashes >= steps.length)

  const got: bigint[] = []
  for await (const r of new ArchiveReader(store).read({ topic: 'orders', partition: 0, onGap: 'skip' })) {
    assert.equal(r.value?.toString(), `v${r.offset}`)
    got.push(r.offset)
  }
  const expected = Array.from({ length: total }, (_, o) => o)
    .filter((o) => !gaps.has(o))
    .map(BigInt)
  assert.deepEqual(got, expected)
  const v = await verifyArchive(store)
  assert.deepEqual(v.problems, [])
  assert.equal(v.checked.records, expected.length)
})

// kcat (librdkafka) balanced consumer groups against startDevBroker: consume and commit, then resume after the
// committed offsets. Needs Debian's kcat on PATH.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { startDevBroker, type DevBroker } from '../src/broker.js'

let broker: DevBroker

before(async () => {
  const probe = spawnSync('kcat', ['-V'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    throw new Error(`kcat is not installed (${probe.error.message}); install it with: apt-get install kcat`)
  }
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
})
after(async () => {
  await broker?.close()
})

/** Runs kcat without blocking the event loop (the broker lives in this process). */
function kcat(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', broker.address, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(input ?? '')
  })
}

async function produce(topic: string, partition: number, values: string[]): Promise<void> {
  const r = await kcat(['-P', '-t', topic, '-p', String(partition)], values.join('\n') + '\n')
  assert.equal(r.code, 0, `kcat -P failed: ${r.stderr}`)
}

const consumeArgs = (group: string, topic: string) => [
  '-G',
  group,
  topic,
  '-e',
  '-f',
  '%p:%o:%s\\n',
  '-X',
  'auto.offset.reset=earliest',
  '-X',
  'auto.commit.interval.ms=100',
]

function records(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .sort()
}

test('kcat -G consumes every partition and commits; a second run resumes after the committed offsets', async () => {
  broker.createTopic('kcat-in', { partitions: 3 })
  for (let p = 0; p < 3; p++) await produce('kcat-in', p, [`a${p}`, `b${p}`, `c${p}`])

  const first = await kcat(consumeArgs('kcat-group', 'kcat-in'))
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stderr, /assigned: kcat-in \[0\], kcat-in \[1\], kcat-in \[2\]/)
  assert.deepEqual(records(first.stdout), [
    '0:0:a0',
    '0:1:b0',
    '0:2:c0',
    '1:0:a1',
    '1:1:b1',
    '1:2:c1',
    '2:0:a2',
    '2:1:b2',
    '2:2:c2',
  ])
  const committed = broker.state.groups.fetchOffsets('kcat-group', [{ topic: 'kcat-in', partitions: [0, 1, 2] }])
  assert.deepEqual(
    committed.topics[0]!.partitions.map((p) => p.offset),
    [3n, 3n, 3n],
  )

  await produce('kcat-in', 0, ['d0'])
  await produce('kcat-in', 2, ['d2', 'e2'])
  const second = await kcat(consumeArgs('kcat-group', 'kcat-in'))
  assert.equal(second.code, 0, second.stderr)
  assert.deepEqual(records(second.stdout), ['0:3:d0', '2:3:d2', '2:4:e2'])

  const third = await kcat(consumeArgs('kcat-group', 'kcat-in'))
  assert.deepEqual(records(third.stdout), [], 'nothing left after the second run committed')
  const [d] = broker.state.groups.describeGroups(['kcat-group'])
  assert.equal(d!.state, 'Empty', 'kcat left the group on exit')
  assert.equal(d!.protocolType, 'consumer')
})

test('two kcat consumers in one group deliver every record once between them and commit every partition', async () => {
  broker.createTopic('kcat-split', { partitions: 4 })
  for (let p = 0; p < 4; p++) await produce('kcat-split', p, [`x${p}`, `y${p}`])
  // -e makes each exit once its own partitions are drained, so run them together and merge what they printed
  const [a, b] = await Promise.all([
    kcat(consumeArgs('kcat-pair', 'kcat-split')),
    kcat(consumeArgs('kcat-pair', 'kcat-split')),
  ])
  assert.equal(a.code, 0, a.stderr)
  assert.equal(b.code, 0, b.stderr)
  const all = [...records(a.stdout), ...records(b.stdout)].sort()
  // one consumer may drain everything before the other joins; what matters is every record exactly once overall
  // and every offset committed
  assert.deepEqual(all, ['0:0:x0', '0:1:y0', '1:0:x1', '1:1:y1', '2:0:x2', '2:1:y2', '3:0:x3', '3:1:y3'])
  const offsets = broker.state.groups.fetchOffsets('kcat-pair', [{ topic: 'kcat-split', partitions: [0, 1, 2, 3] }])
  assert.deepEqual(
    offsets.topics[0]!.partitions.map((p) => p.offset),
    [2n, 2n, 2n, 2n],
  )
})

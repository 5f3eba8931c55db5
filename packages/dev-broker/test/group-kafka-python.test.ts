// kafka-python 2.0 (Debian's python3-kafka) KafkaConsumer with a group_id against startDevBroker: consume and
// commit, then a new consumer in the group resumes after the committed offsets.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { startDevBroker, type DevBroker } from '../src/broker.js'

const PYTHON = '/usr/bin/python3'
let broker: DevBroker

// Produces argv[3:] to partition argv[2], or consumes the topic in group argv[2] until idle and commits; prints JSON.
const SCRIPT = `
import sys, json
from kafka import KafkaConsumer, KafkaProducer
mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == 'produce':
    p = KafkaProducer(bootstrap_servers=bootstrap)
    partition = int(sys.argv[4])
    for v in sys.argv[5:]:
        p.send(topic, value=v.encode(), partition=partition)
    p.flush()
    p.close()
    print(json.dumps({'ok': True}))
else:
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=sys.argv[4], client_id='kafka-python-test',
                      auto_offset_reset='earliest', enable_auto_commit=False, consumer_timeout_ms=1500)
    got = ['%d:%d:%s' % (m.partition, m.offset, m.value.decode()) for m in c]
    c.commit()
    committed = {str(tp.partition): c.committed(tp) for tp in c.assignment()}
    c.close()
    print(json.dumps({'records': got, 'committed': committed}))
`

before(async () => {
  const probe = spawnSync(PYTHON, ['-c', 'import kafka; print(kafka.__version__)'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `kafka-python is not available for ${PYTHON} (${probe.error?.message ?? probe.stderr.trim()}); ` +
        'install it with: apt-get install python3-kafka',
    )
  }
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
})
after(async () => {
  await broker?.close()
})

/** Runs the script without blocking the event loop (the broker lives in this process). */
function python(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', SCRIPT, args[0]!, broker.address, ...args.slice(1)])
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code !== 0) reject(new Error(`kafka-python exited with ${code}: ${stderr}`))
      else resolve(JSON.parse(stdout) as Record<string, unknown>)
    })
  })
}

test('kafka-python KafkaConsumer with group_id consumes, commits, and a later consumer resumes from the commits', async () => {
  broker.createTopic('py-in', { partitions: 2 })
  await python(['produce', 'py-in', '0', 'a', 'b', 'c'])
  await python(['produce', 'py-in', '1', 'd', 'e'])

  const first = await python(['consume', 'py-in', 'py-group'])
  assert.deepEqual((first.records as string[]).sort(), ['0:0:a', '0:1:b', '0:2:c', '1:0:d', '1:1:e'])
  assert.deepEqual(first.committed, { '0': 3, '1': 2 })
  const [d] = broker.state.groups.describeGroups(['py-group'])
  assert.equal(d!.state, 'Empty', 'close() left the group')

  await python(['produce', 'py-in', '1', 'f'])
  const second = await python(['consume', 'py-in', 'py-group'])
  assert.deepEqual(second.records, ['1:2:f'])
  assert.deepEqual(second.committed, { '0': 3, '1': 3 })
})

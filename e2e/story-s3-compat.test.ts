// The S3 story against S3-compatible servers nobody here wrote (@everlog/testkit s3-servers). A server that honours
// conditional writes (SeaweedFS) runs the story fenced. One that ignores them (s3rver) must be refused before the
// archiver writes anything, and runs the story only in the documented single-writer mode, where the store's wrong
// suffix ranges must not get in the way of reading the archive back.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { s3rverServer, seaweedfsServer } from '@everlog/testkit'
import type { ThirdPartyS3Server } from '@everlog/testkit'
import { s3Story } from './support/s3-story.js'
import { archiveArgs, spawnCli, startStackOn } from './support/stack.js'
import type { LogEntry } from './support/stack.js'

async function started(t: { after(fn: () => unknown): void }, kind: ThirdPartyS3Server) {
  const server = await kind.start()
  t.after(() => server.close())
  return server
}

const fencing = (logs: LogEntry[]) => logs.find((e) => /conditional writes|does not honour/.test(String(e.msg)))

describe('the S3 story on SeaweedFS', { skip: seaweedfsServer.missing() }, () => {
  test('fenced: the probe passes, every record once through archive, replay and SQL', async (t) => {
    const server = await started(t, seaweedfsServer)
    const stack = await startStackOn(t, 'story-seaweedfs', server)
    await s3Story(t, stack, {
      onArchiverStopped: (archiver) => {
        const line = fencing(archiver.logs())
        assert.equal(line?.msg, 'conditional writes verified: HEAD is fenced', archiver.stdout)
        assert.equal(line?.mode, 'fenced')
      },
    })
  })
})

describe('the S3 story on s3rver', { skip: s3rverServer.missing() }, () => {
  test('the archiver refuses a store that ignores conditional writes, and writes nothing', async (t) => {
    const server = await started(t, s3rverServer)
    const stack = await startStackOn(t, 'story-s3rver-refused', server)
    await stack.broker.createTopic('refused', { partitions: 1 })
    const archiver = spawnCli(t, archiveArgs(stack, 'refused', 'refused-archiver'), stack.env)
    const exit = await archiver.exit
    assert.equal(exit.code, 1, `${archiver.stdout}\n${archiver.stderr}`)
    const output = archiver.stdout + archiver.stderr
    assert.match(
      output,
      /does not honour conditional writes \(If-None-Match was not refused, If-Match was not refused\)/,
    )
    assert.ok(output.includes(server.endpoint), 'the message names the endpoint')
    assert.match(output, /--unsafe-single-writer/)
    const left = []
    for await (const info of stack.store.list('')) left.push(info.key)
    assert.deepEqual(left, ['everlog.probe'], 'nothing but the probe object: not even everlog.json')
  })

  test('--unsafe-single-writer: the story runs, and the archiver says it is not fenced', async (t) => {
    const server = await started(t, s3rverServer)
    const stack = await startStackOn(t, 'story-s3rver', server)
    await s3Story(t, stack, {
      archiveFlags: ['--unsafe-single-writer'],
      tornReadsWhileWriting: true,
      onArchiverStopped: (archiver) => {
        const line = fencing(archiver.logs())
        assert.equal(line?.mode, 'unsafe_single_writer', archiver.stdout)
        assert.deepEqual(line?.unsupported, ['If-None-Match', 'If-Match'])
      },
    })
  })
})

// The CLI under hostile or broken input: path-traversal topic names through every command that takes a topic,
// invalid configuration, unknown topics, wrong AWS credentials and a missing bucket each give one clear line and a
// non-zero exit; and no secret (SASL password, AWS secret key) is printed by any command, also with --verbose.
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { FileStore, PartitionWriter } from '@everlog/core'
import { startS3Server } from '@everlog/core/testing'
import type { S3TestServer } from '@everlog/core/testing'
import { startDevBroker } from '@everlog/dev-broker'
import type { DevBroker } from '@everlog/dev-broker'
import { defaultContext } from '../src/context.js'
import type { CliContext } from '../src/context.js'
import { run } from '../src/run.js'

const SASL_PASSWORD = 'cli-sasl-Secret-9e1b'
const AWS_SECRET = 'cli-aws-Secret-Key-4d2a-XXXXXXXXXXXX'

let parent: string
let archive: string
let s3: S3TestServer
let broker: DevBroker

before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'everlog-cli-sec-'))
  archive = join(parent, 'archive')
  const store = new FileStore(archive)
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 't' })
  await w.appendSegment([{ offset: 0n, timestamp: 1n, key: null, value: Buffer.from('v'), headers: [] }])
  await store.close()
  s3 = await startS3Server()
  broker = await startDevBroker({ port: 0, retentionCheckIntervalMs: 0 })
  // The AWS SDK reads the standard chain: env only, nothing from this machine's profile.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    AWS_CONFIG_FILE: join(parent, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(parent, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_MAX_ATTEMPTS: '1',
  })
})

after(async () => {
  await broker?.close()
  await s3?.close()
  await rm(parent, { recursive: true, force: true })
})

class Capture extends Writable {
  text = ''
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

async function everlog(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new Capture()
  const stderr = new Capture()
  const base = defaultContext({ ...process.env, EVERLOG_STORE: '', ...env })
  const context: CliContext = { stdout, stderr, env: base.env, openStore: base.openStore }
  const code = await run(args, { context })
  return { code, stdout: stdout.text, stderr: stderr.text }
}

/** Exactly one line on stderr, starting with "everlog", and a non-zero exit. */
function assertOneLine(r: { code: number; stderr: string }, pattern: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: exit code`)
  const lines = r.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `${what}: expected one line, got:\n${r.stderr}`)
  assert.match(lines[0]!, /^everlog/)
  assert.match(lines[0]!, pattern, what)
}

const HOSTILE = ['../etc', '../../outside', '/etc/passwd', 'a\\..\\b', '..', 'a/b']

test('hostile topic names through every command that takes one: one clear line, exit 2, nothing written', async () => {
  const store = pathToFileURL(archive).href
  for (const topic of HOSTILE) {
    const commands: string[][] = [
      ['cat', '--store', store, '--topic', topic, '--partition', '0'],
      ['ls', '--store', store, '--topic', topic],
      ['verify', '--store', store, '--topic', topic],
      ['athena', 'ddl', '--store', store, '--topic', topic],
      ['restore', '--store', store, '--topic', topic, '--brokers', broker.brokers[0]!, '--dry-run'],
      [
        'restore',
        '--store',
        store,
        '--topic',
        'orders',
        '--to-topic',
        topic,
        '--brokers',
        broker.brokers[0]!,
        '--dry-run',
      ],
      ['offsets', 'translate', '--store', store, '--topic', topic, '--partition', '0', '--offset', '0'],
    ]
    for (const args of commands) {
      const r = await everlog(args)
      assertOneLine(r, /invalid topic name|topic name/i, `${args.slice(0, 2).join(' ')} ${JSON.stringify(topic)}`)
    }
  }
  assert.deepEqual((await readdir(parent)).sort(), ['archive'])
})

test('archive: an invalid configuration names each bad field, exit 2, and never echoes the SASL password', async () => {
  const r = await everlog(
    ['archive', '--brokers', 'no-port', '--topics', '../etc', '--store', 'relative/dir', '--verbose'],
    { EVERLOG_KAFKA__SASL__PASSWORD: SASL_PASSWORD, EVERLOG_KAFKA__SASL__MECHANISM: 'bogus' },
  )
  assert.equal(r.code, 2)
  for (const field of ['brokers', 'topics', 'store', 'kafka.sasl.mechanism']) assert.match(r.stderr, new RegExp(field))
  assert.ok(!(r.stdout + r.stderr).includes(SASL_PASSWORD))
})

test('unknown topic, missing bucket, wrong AWS credentials: one clear line each, and no secret even with --verbose', async () => {
  const unknown = await everlog(['cat', '--store', pathToFileURL(archive).href, '--topic', 'nope', '--partition', '0'])
  assertOneLine(unknown, /"nope" is not in the archive/, 'unknown topic')

  const missing = await everlog(['ls', '--store', 's3://no-such-bucket/p'])
  assertOneLine(missing, /no-such-bucket/, 'missing bucket')

  const denied = await everlog(['ls', '--store', `s3://${s3.bucket}/p`])
  assertOneLine(denied, /denied|signature|credentials|403/i, 'wrong credentials')

  for (const args of [
    ['ls', '--store', `s3://${s3.bucket}/p`, '--verbose'],
    ['verify', '--store', `s3://${s3.bucket}/p`, '--verbose'],
    ['cat', '--store', `s3://${s3.bucket}/p`, '--topic', 'orders', '--partition', '0', '--verbose'],
  ]) {
    const r = await everlog(args)
    assert.notEqual(r.code, 0)
    assert.ok(!(r.stdout + r.stderr).includes(AWS_SECRET), `${args[0]} --verbose printed the AWS secret`)
  }
})

test('archive with a SASL password and a wrong AWS secret, --verbose and trace logs: neither secret is printed', async () => {
  const r = await everlog(
    [
      'archive',
      '--brokers',
      broker.brokers[0]!,
      '--topics',
      'orders',
      '--store',
      `s3://${s3.bucket}/p`,
      '--http-port',
      '0',
      '--log-level',
      'trace',
      '--sasl-mechanism',
      'plain',
      '--sasl-username',
      'archiver',
      '--once',
      '--verbose',
    ],
    {
      EVERLOG_KAFKA__SASL__PASSWORD: SASL_PASSWORD,
      EVERLOG_HTTP__HOST: '127.0.0.1',
      EVERLOG_RETRY__MAX_ATTEMPTS: '2',
      EVERLOG_RETRY__INITIAL_MS: '10',
      EVERLOG_KAFKA__CONNECTION_TIMEOUT: '500',
    },
  )
  assert.notEqual(r.code, 0)
  assert.ok(r.stdout.includes('archiver starting'), r.stdout.slice(0, 500))
  assert.ok(!(r.stdout + r.stderr).includes(SASL_PASSWORD), 'SASL password printed')
  assert.ok(!(r.stdout + r.stderr).includes(AWS_SECRET), 'AWS secret printed')
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr)
})

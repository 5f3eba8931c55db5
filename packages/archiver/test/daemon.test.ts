import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ArchiveReader, openStore } from '@everlog/core'
import { broker, fileStoreUrl, producer, useBroker } from './support.js'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))

useBroker()

interface Child {
  stdout: string
  stderr: string
  exit: Promise<number | null>
  kill(signal: NodeJS.Signals): void
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>
}

/** The archiver as its own process, configured by env only, as in a container. */
function spawnArchiver(env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--conditions=everlog-source', '--import', 'tsx', main], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', EVERLOG_HTTP__PORT: '0', EVERLOG_HTTP__HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const state: Child = {
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    kill: (signal) => child.kill(signal),
    async waitForLog(msg, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        for (const line of state.stdout.split('\n')) {
          if (!line.startsWith('{')) continue
          const entry = JSON.parse(line) as Record<string, unknown>
          if (entry.msg === msg) return entry
        }
        if (Date.now() > deadline)
          throw new Error(`no "${msg}" log line; stdout:\n${state.stdout}\nstderr:\n${state.stderr}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
  }
  child.stdout.setEncoding('utf8').on('data', (d: string) => (state.stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (state.stderr += d))
  return state
}

describe('the archiver process', () => {
  test('SIGTERM flushes the open segments, commits and exits 0', async () => {
    const url = fileStoreUrl('everlog-daemon-')
    await producer.send({
      topic: 'sigterm',
      messages: Array.from({ length: 120 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    })
    const child = spawnArchiver({
      EVERLOG_BROKERS: broker.brokers.join(','),
      EVERLOG_TOPICS: 'sigterm',
      EVERLOG_STORE: url,
      // Nothing would roll on its own for a long time: only the shutdown flush can archive these records.
      EVERLOG_SEGMENT__MAX_AGE_MS: '10m',
      EVERLOG_KAFKA__MAX_WAIT_TIME_IN_MS: '100',
    })
    const started = await child.waitForLog('archiver started')
    const port = started.httpPort as number
    const deadline = Date.now() + 20_000
    for (;;) {
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      if (/everlog_archiver_buffered_bytes [1-9]/.test(metrics)) break
      if (Date.now() > deadline) throw new Error(`records never buffered:\n${child.stdout}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(
      await new ArchiveReader(openStore(url)).head('sigterm', 0),
      undefined,
      'nothing committed before SIGTERM',
    )
    child.kill('SIGTERM')
    assert.equal(await child.exit, 0, child.stderr)
    const values: string[] = []
    for await (const r of new ArchiveReader(openStore(url)).read({ topic: 'sigterm', partition: 0 })) {
      values.push(r.value!.toString())
    }
    assert.deepEqual(
      values,
      Array.from({ length: 120 }, (_, i) => `v${i}`),
    )
    assert.match(child.stdout, /"msg":"archiver stopped"/)
  })

  test('an invalid configuration exits 2 naming every bad field', async () => {
    const child = spawnArchiver({
      EVERLOG_BROKERS: 'nohost',
      EVERLOG_TOPICS: 'ok',
      EVERLOG_STORE: 'file:///tmp/x',
      EVERLOG_START_FROM: 'yesterday',
      EVERLOG_SEGMENT__MAX_BYTES: 'lots',
    })
    assert.equal(await child.exit, 2)
    assert.match(child.stderr, /brokers\.0: must be host:port \[from env EVERLOG_BROKERS\]/)
    assert.match(child.stderr, /startFrom: .*"earliest"\|"latest".*\[from env EVERLOG_START_FROM\]/)
    assert.match(child.stderr, /segment\.maxBytes: expected a size in bytes.*"lots"/)
  })

  test('a failing start exits 1 with one clear line, and secrets appear in no output', async () => {
    const password = 'sasl-pw-7f3c91'
    const awsSecret = 'aws-secret-0c5e77'
    const child = spawnArchiver({
      EVERLOG_BROKERS: broker.brokers.join(','),
      EVERLOG_TOPICS: 'secrets',
      EVERLOG_STORE: fileStoreUrl('everlog-daemon-'),
      EVERLOG_LOG_LEVEL: 'trace',
      // The dev broker has no SASL: the handshake fails, after the configuration was logged.
      EVERLOG_KAFKA__SASL__MECHANISM: 'plain',
      EVERLOG_KAFKA__SASL__USERNAME: 'archiver',
      EVERLOG_KAFKA__SASL__PASSWORD: password,
      EVERLOG_RETRY__MAX_ATTEMPTS: '2',
      EVERLOG_RETRY__INITIAL_MS: '10',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: awsSecret,
    })
    assert.equal(await child.exit, 1)
    assert.match(child.stdout, /"msg":"archiver starting"/)
    assert.match(child.stdout, /"sasl":"plain"/)
    assert.match(child.stderr, /^everlog archive: .+/)
    for (const secret of [password, awsSecret]) {
      assert.ok(!child.stdout.includes(secret), `stdout leaks ${secret}`)
      assert.ok(!child.stderr.includes(secret), `stderr leaks ${secret}`)
    }
  })
})

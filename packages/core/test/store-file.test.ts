import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, PreconditionFailedError } from '../src/errors.js'
import { FileStore } from '../src/store/file.js'
import { storeContract } from '../src/testing/store-contract.js'
import type { ObjectStore } from '../src/store/types.js'

const thisFile = fileURLToPath(import.meta.url)
const worker = process.env.EVERLOG_FILE_STORE_WORKER

if (worker) {
  await runWorker(worker)
} else {
  const dirs: string[] = []
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))
  async function tempRoot(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'everlog-file-store-'))
    dirs.push(dir)
    return dir
  }

  storeContract('file', async () => new FileStore(await tempRoot()))

  describe('FileStore', () => {
    it('keeps each object as a plain file at root/key, with no temp or lock files left behind', async () => {
      const root = await tempRoot()
      const store = new FileStore(root)
      await store.put('orders/data/partition=0/seg.parquet', Buffer.from('PAR1'))
      await store.putIfAbsent('orders/index/partition=0/HEAD', Buffer.from('{}'))
      const head = await store.head('orders/index/partition=0/HEAD')
      await store.putIfMatch('orders/index/partition=0/HEAD', Buffer.from('{"v":2}'), head!.etag)
      assert.equal(await readFile(join(root, 'orders/data/partition=0/seg.parquet'), 'utf8'), 'PAR1')
      assert.equal(await readFile(join(root, 'orders/index/partition=0/HEAD'), 'utf8'), '{"v":2}')
      assert.deepEqual(await readdir(join(root, 'orders/index/partition=0')), ['HEAD'])
      assert.equal(store.url, `file://${root}`)
    })

    it('hides stray temp and lock files from list and listPrefixes, and refuses reserved key names', async () => {
      const root = await tempRoot()
      const store = new FileStore(root)
      await store.put('t/a', Buffer.from('a'))
      await writeFile(join(root, 't', '.everlog-tmp-deadbeef'), 'partial')
      await writeFile(join(root, '.everlog-tmp-0123'), 'partial')
      const keys: string[] = []
      for await (const info of store.list('')) keys.push(info.key)
      assert.deepEqual(keys, ['t/a'])
      assert.deepEqual(await store.listPrefixes(''), ['t/'])
      await assert.rejects(store.put('t/.everlog-tmp-x', Buffer.from('x')), InvalidArgumentError)
      await assert.rejects(store.get('.everlog-lock-a'), InvalidArgumentError)
      // Old leftovers of killed writers can be swept; fresh ones (writes in flight) are left alone.
      const old = new Date(Date.now() - 2 * 60 * 60 * 1000)
      await utimes(join(root, 't', '.everlog-tmp-deadbeef'), old, old)
      assert.equal(await store.removeStaleTempFiles(), 1)
      assert.deepEqual((await readdir(join(root, 't'))).sort(), ['a'])
      assert.deepEqual((await readdir(root)).sort(), ['.everlog-tmp-0123', 't'])
      assert.equal(await store.removeStaleTempFiles(0), 1)
      assert.deepEqual(await readdir(root), ['t'])
    })

    it('refuses an object and a prefix of the same name with a clear error', async () => {
      const store = new FileStore(await tempRoot())
      await store.put('a', Buffer.from('file'))
      await assert.rejects(store.put('a/b', Buffer.from('x')), (err) => {
        assert.ok(err instanceof InvalidArgumentError)
        assert.match(err.message, /a\/b/)
        return true
      })
      assert.equal(await store.head('a/b'), undefined)
      await store.put('d/x', Buffer.from('x'))
      await assert.rejects(store.put('d', Buffer.from('x')), InvalidArgumentError)
      assert.equal(await store.head('d'), undefined, 'a directory is a prefix, not an object')
      await store.delete('d')
      assert.equal((await store.get('d/x')).body.toString(), 'x')
    })

    it('rejects a relative root', () => {
      assert.throws(() => new FileStore('relative/dir'), InvalidArgumentError)
    })

    it('N processes racing putIfMatch: exactly one success per version and no lost update', async () => {
      const root = await tempRoot()
      const store = new FileStore(root)
      await store.put('race/counter', Buffer.from('0'))
      const long = process.env.EVERLOG_LONG_TESTS === '1'
      const processes = long ? 6 : 4
      const increments = long ? 100 : 15
      const outputs = await Promise.all(
        Array.from({ length: processes }, () =>
          runChild({ EVERLOG_FILE_STORE_WORKER: 'cas', ROOT: root, INCREMENTS: String(increments) }),
        ),
      )
      const successes = outputs.flatMap((o) => o.trim().split('\n').filter(Boolean))
      assert.equal(successes.length, processes * increments)
      // Each success names the value it replaced: every version 0..N-1 was replaced exactly once.
      const replaced = successes.map((line) => Number(line.split('->')[0])).sort((a, b) => a - b)
      assert.deepEqual(
        replaced,
        Array.from({ length: processes * increments }, (_, i) => i),
      )
      assert.equal((await store.get('race/counter')).body.toString(), String(processes * increments))
    })

    it('N processes racing putIfAbsent: exactly one creates the object', async () => {
      const root = await tempRoot()
      const outputs = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          runChild({ EVERLOG_FILE_STORE_WORKER: 'create', ROOT: root, ID: String(i) }),
        ),
      )
      const winners = outputs.map((o) => o.trim()).filter((o) => o.startsWith('won'))
      assert.equal(winners.length, 1)
      const store = new FileStore(root)
      assert.equal((await store.get('race/HEAD')).body.toString(), winners[0]!.split(' ')[1])
    })

    it('a writer killed mid-write never leaves a partial object visible, and its lock does not wedge the key', async () => {
      const root = await tempRoot()
      const store = new FileStore(root)
      const size = 4 * 1024 * 1024
      const child = spawn(process.execPath, ['--import', 'tsx', thisFile], {
        env: { ...process.env, EVERLOG_FILE_STORE_WORKER: 'writer', ROOT: root, SIZE: String(size) },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const exited = new Promise((resolve) => child.on('exit', resolve))
      // Wait until the writer has written a few versions, checking every version read is whole.
      let reads = 0
      const deadline = Date.now() + 20_000
      for (;;) {
        const info = await store.head('big/object')
        if (info) {
          const got = await store.get('big/object')
          assert.equal(got.body.length, size)
          assert.ok(
            got.body.every((b) => b === got.body[0]),
            'object bytes come from one write',
          )
          reads++
        }
        if (reads >= 5 || Date.now() > deadline) break
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.ok(reads >= 5, 'the writer produced objects')
      await new Promise((r) => setTimeout(r, Math.random() * 50))
      child.kill('SIGKILL')
      await exited
      const got = await store.get('big/object')
      assert.equal(got.body.length, size)
      assert.ok(got.body.every((b) => b === got.body[0]))
      const keys: string[] = []
      for await (const info of store.list('')) keys.push(info.key)
      assert.deepEqual(keys, ['big/object'])
      // Whether or not the kill landed while the writer held the key's lock, the key stays writable.
      const start = Date.now()
      await store.putIfMatch('big/object', Buffer.from('after'), got.etag)
      assert.ok(Date.now() - start < 5000)
      assert.equal((await store.get('big/object')).body.toString(), 'after')
    })

    it('breaks a lock abandoned by a dead process at once, and an old lock after staleLockMs', async () => {
      const root = await tempRoot()
      const store = new FileStore(root, { staleLockMs: 500 })
      const { etag } = await store.put('l/HEAD', Buffer.from('v1'))
      const dead = await runChildPid()
      const { hostname } = await import('node:os')
      await writeFile(join(root, 'l', '.everlog-lock-HEAD'), `${hostname()} ${dead}\n`)
      let start = Date.now()
      const v2 = await store.putIfMatch('l/HEAD', Buffer.from('v2'), etag)
      assert.ok(Date.now() - start < 400, 'dead holder detected without waiting for the timeout')
      // A lock from another host cannot be checked by pid: it is broken once older than staleLockMs.
      const lock = join(root, 'l', '.everlog-lock-HEAD')
      await writeFile(lock, `some-other-host 1\n`)
      const old = new Date(Date.now() - 400)
      await utimes(lock, old, old)
      start = Date.now()
      await store.putIfMatch('l/HEAD', Buffer.from('v3'), v2.etag)
      const waited = Date.now() - start
      assert.ok(waited >= 50 && waited < 3000, `waited ${waited} ms for the stale lock`)
      assert.equal((await store.get('l/HEAD')).body.toString(), 'v3')
      await assert.rejects(store.putIfMatch('l/HEAD', Buffer.from('v4'), v2.etag), PreconditionFailedError)
      // A lock of a live process on this host (the test runner) is respected far longer: 6x staleLockMs.
      await writeFile(lock, `${hostname()} ${process.ppid}\n`)
      await utimes(lock, old, old)
      start = Date.now()
      await store.put('l/HEAD', Buffer.from('v5'))
      const waitedLive = Date.now() - start
      assert.ok(waitedLive >= 2000, `waited only ${waitedLive} ms for a live holder's lock`)
      assert.equal((await store.get('l/HEAD')).body.toString(), 'v5')
    })
  })
}

function runChild(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', thisFile], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited with ${code}`))))
  })
}

/** The pid of a process that has already exited. */
function runChildPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    child.on('error', reject)
    child.on('exit', () => resolve(child.pid!))
  })
}

async function runWorker(kind: string): Promise<void> {
  const store: ObjectStore = new FileStore(process.env.ROOT!)
  if (kind === 'cas') {
    const lines: string[] = []
    for (let done = 0; done < Number(process.env.INCREMENTS);) {
      const cur = await store.get('race/counter')
      const value = Number(cur.body.toString())
      try {
        await store.putIfMatch('race/counter', Buffer.from(String(value + 1)), cur.etag)
        lines.push(`${value}->${value + 1}`)
        done++
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err
      }
    }
    process.stdout.write(lines.join('\n') + '\n')
  } else if (kind === 'create') {
    const id = `writer-${process.env.ID}`
    try {
      await store.putIfAbsent('race/HEAD', Buffer.from(id))
      process.stdout.write(`won ${id}\n`)
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err
      process.stdout.write('lost\n')
    }
  } else if (kind === 'writer') {
    const size = Number(process.env.SIZE)
    for (let i = 0; ; i++) {
      const body = Buffer.alloc(size, i % 251)
      const cur = await store.head('big/object')
      if (cur && i % 2 === 0) await store.putIfMatch('big/object', body, cur.etag)
      else await store.put('big/object', body)
    }
  }
}

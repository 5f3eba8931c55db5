// Ranged reads are checked against what the server says it sent: a server that answers a suffix with the first bytes
// (as s3rver does), ignores Range, or answers every range wrongly never hands other bytes to a Parquet reader. The
// wrong answers are made by a proxy in front of the project's S3 server that rewrites the Range header.
import assert from 'node:assert/strict'
import { createServer, request } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { FormatError } from '../src/errors.js'
import { segmentKey } from '../src/layout.js'
import { encodeSegment, readSegmentLayout } from '../src/segment/index.js'
import { StoreRangeMismatchError } from '../src/store/errors.js'
import { S3Store } from '../src/store/s3.js'
import { startS3Server } from '../src/testing/s3-server.js'
import type { S3TestServer } from '../src/testing/s3-server.js'

type Rewrite = (range: string) => string | undefined

let server: S3TestServer
let proxy: Server
let rewrite: Rewrite = (r) => r
let endpoint: string

before(async () => {
  server = await startS3Server({ verifySignatures: false })
  const target = new URL(server.endpoint)
  proxy = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers }
    if (typeof headers.range === 'string') {
      const changed = rewrite(headers.range)
      if (changed === undefined) delete headers.range
      else headers.range = changed
    }
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
})
after(async () => {
  await new Promise((resolve) => proxy.close(resolve))
  await server.close()
})

const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7) % 256))

async function withStore(fn: (store: S3Store) => Promise<void>): Promise<void> {
  const store = new S3Store({ bucket: server.bucket!, prefix: 'ranges/' }, { ...server.clientConfig(), endpoint })
  try {
    await store.put('obj', data)
    await fn(store)
  } finally {
    rewrite = (r) => r
    await store.close()
  }
}

const ranges = [
  [{ suffix: 100 }, 9900, 10_000],
  [{ suffix: 20_000 }, 0, 10_000],
  [{ start: 0, end: 0 }, 0, 1],
  [{ start: 500, end: 1499 }, 500, 1500],
  [{ start: 9000 }, 9000, 10_000],
] as const

describe('S3Store checks what a ranged read returned', () => {
  it('a suffix answered with the first bytes: retried with an explicit range, the right bytes come back', () =>
    withStore(async (store) => {
      const asked: string[] = []
      rewrite = (r) => {
        asked.push(r)
        const suffix = /^bytes=-(\d+)$/.exec(r)
        return suffix ? `bytes=0-${Number(suffix[1]) - 1}` : r
      }
      for (const [range, from, to] of ranges) {
        const got = await store.get('obj', range)
        assert.ok(got.body.equals(data.subarray(from, to)), JSON.stringify(range))
        assert.equal(got.size, data.length)
      }
      assert.ok(asked.includes('bytes=9900-9999'), `the retry asked explicitly: ${asked.join(' ')}`)
    }))

  it('a server that ignores Range: the range is cut from the whole object it sent', () =>
    withStore(async (store) => {
      rewrite = () => undefined
      for (const [range, from, to] of ranges) {
        const got = await store.get('obj', range)
        assert.ok(got.body.equals(data.subarray(from, to)), JSON.stringify(range))
      }
    }))

  it('every range answered wrongly: a store error that says so, never other bytes', () =>
    withStore(async (store) => {
      rewrite = () => 'bytes=0-9'
      await assert.rejects(store.get('obj', { suffix: 100 }), (err) => {
        assert.ok(err instanceof StoreRangeMismatchError, String(err))
        assert.match(err.message, /answered a ranged read wrongly/)
        assert.match(err.message, /asked for bytes=-100, got HTTP 206 with Content-Range "bytes 0-9\/10000"/)
        assert.match(err.message, new RegExp(`at ${endpoint}`))
        return true
      })
    }))

  it('a Parquet footer read through a wrong store is a store error, not a FormatError about the segment', () =>
    withStore(async (store) => {
      const records = Array.from({ length: 50 }, (_, i) => ({
        offset: BigInt(i),
        timestamp: 1_700_000_000_000n + BigInt(i),
        key: null,
        value: Buffer.from(`value-${i}`),
        headers: [],
      }))
      const enc = encodeSegment(records, { topic: 'orders', partition: 0 })
      const key = segmentKey('orders', 0, 0n, enc.sha256)
      await store.put(key, enc.bytes)
      // s3rver's answer: the footer read comes back right after the retry.
      rewrite = (r) => r.replace(/^bytes=-(\d+)$/, (_, n: string) => `bytes=0-${Number(n) - 1}`)
      const layout = await readSegmentLayout(store, key)
      assert.equal(layout.metadata['everlog.records'], '50')
      // A server wrong every time: the store is blamed.
      rewrite = () => 'bytes=0-3'
      await assert.rejects(readSegmentLayout(store, key), (err) => {
        assert.ok(!(err instanceof FormatError), `not a FormatError: ${String(err)}`)
        assert.ok(err instanceof StoreRangeMismatchError, String(err))
        return true
      })
    }))
})

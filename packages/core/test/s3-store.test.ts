import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { S3Client } from '@aws-sdk/client-s3'
import {
  EverlogError,
  ObjectNotFoundError,
  PreconditionFailedError,
  StoreAccessDeniedError,
  StoreUnavailableError,
} from '../src/errors.js'
import { BucketNotFoundError } from '../src/store/errors.js'
import { openStore } from '../src/store/open.js'
import { collectBody, S3Store } from '../src/store/s3.js'
import type { S3StoreOptions } from '../src/store/s3.js'
import { startS3Server } from '../src/testing/s3-server.js'
import type { S3TestServer } from '../src/testing/s3-server.js'
import { storeContract } from '../src/testing/store-contract.js'

const MiB = 1024 * 1024
let server: S3TestServer
let prefixes = 0
before(async () => {
  server = await startS3Server()
})
after(() => server.close())

function makeStore(options: S3StoreOptions = {}, prefix = `t${++prefixes}/`): S3Store {
  return new S3Store({ bucket: server.bucket!, prefix }, { ...server.clientConfig(), ...options })
}

// Small pages so every listing case crosses page boundaries; a low threshold so the large case is multipart.
storeContract('s3 (AWS SDK over HTTP)', async () => makeStore({ pageSize: 3, multipartThreshold: 6 * MiB }), {
  largeObjectSize: 12 * MiB + 17,
  newEtagForIdenticalBytes: false,
})

describe('S3Store', () => {
  it('uploads objects above the multipart threshold in parts', async () => {
    const store = makeStore({ multipartThreshold: 6 * MiB, partSize: 5 * MiB })
    const body = Buffer.alloc(11 * MiB, 7)
    const { etag } = await store.put('mp/object', body)
    const stored = server.object(server.bucket!, `${store.prefix}mp/object`)
    assert.equal(stored?.parts, 3)
    assert.match(etag, /-3"$/)
    assert.ok((await store.get('mp/object')).body.equals(body))
    // Below the threshold: one PutObject.
    await store.put('mp/small', Buffer.alloc(1 * MiB, 1))
    assert.equal(server.object(server.bucket!, `${store.prefix}mp/small`)?.parts, 0)
    await store.close()
  })

  it('sends server-side encryption and storage class on every kind of put', async () => {
    const store = makeStore({
      serverSideEncryption: 'aws:kms',
      sseKmsKeyId: 'alias/everlog',
      storageClass: 'STANDARD_IA',
      multipartThreshold: 6 * MiB,
    })
    await store.put('sse/plain', Buffer.from('a'), { contentType: 'application/json' })
    const { etag } = await store.putIfAbsent('sse/HEAD', Buffer.from('b'))
    await store.putIfMatch('sse/HEAD', Buffer.from('c'), etag)
    await store.put('sse/multipart', Buffer.alloc(7 * MiB))
    for (const key of ['sse/plain', 'sse/HEAD', 'sse/multipart']) {
      const stored = server.object(server.bucket!, `${store.prefix}${key}`)
      assert.equal(stored?.serverSideEncryption, 'aws:kms', key)
      assert.equal(stored?.sseKmsKeyId, 'alias/everlog', key)
      assert.equal(stored?.storageClass, 'STANDARD_IA', key)
    }
    assert.equal(server.object(server.bucket!, `${store.prefix}sse/plain`)?.contentType, 'application/json')
    assert.throws(() => makeStore({ sseKmsKeyId: 'k' }), /serverSideEncryption/)
    await store.close()
  })

  it('lists lazily: stopping after the first key fetches one page', async () => {
    const store = makeStore({ pageSize: 2 })
    for (const k of ['a', 'b', 'c', 'd', 'e']) await store.put(`lazy/${k}`, Buffer.from(k))
    const before = server.requests.length
    for await (const info of store.list('lazy/')) {
      assert.equal(info.key, 'lazy/a')
      break
    }
    assert.equal(server.requests.length - before, 1)
    await store.close()
  })

  it('maps a missing bucket to a clear, non-retriable BucketNotFoundError', async () => {
    const store = new S3Store({ bucket: 'no-such-bucket', prefix: 'x/' }, server.clientConfig())
    for (const op of [
      () => store.get('k'),
      () => store.put('k', Buffer.from('v')),
      () => store.putIfAbsent('k', Buffer.from('v')),
      () => store.putIfMatch('k', Buffer.from('v'), '"abc"'),
      async () => {
        for await (const _ of store.list('')) break
      },
      () => store.listPrefixes(''),
      () => store.delete('k'),
    ]) {
      await assert.rejects(op(), (err) => {
        assert.ok(err instanceof BucketNotFoundError, String(err))
        assert.equal(err.retriable, false)
        assert.match(err.message, /bucket "no-such-bucket" does not exist/)
        return true
      })
    }
    await store.close()
  })

  it('maps bad credentials to StoreAccessDeniedError without leaking them', async () => {
    const wrongSecret = 'wrong-secret-value-1234567890'
    const badSecret = new S3Store(
      { bucket: server.bucket!, prefix: 'auth/' },
      { ...server.clientConfig(), credentials: { accessKeyId: server.accessKeyId, secretAccessKey: wrongSecret } },
    )
    const badKey = new S3Store(
      { bucket: server.bucket!, prefix: 'auth/' },
      { ...server.clientConfig(), credentials: { accessKeyId: 'AKIAWRONGKEY', secretAccessKey: wrongSecret } },
    )
    for (const store of [badSecret, badKey]) {
      for (const op of [() => store.get('k'), () => store.put('k', Buffer.from('v')), () => store.head('k')]) {
        await assert.rejects(op(), (err) => {
          assert.ok(err instanceof StoreAccessDeniedError, String(err))
          assert.equal(err.retriable, false)
          assert.ok(!err.message.includes(wrongSecret) && !err.message.includes(server.secretAccessKey))
          assert.match(err.message, /auth\/k/)
          return true
        })
      }
      await store.close()
    }
    assert.equal(server.object(server.bucket!, 'auth/k'), undefined)
  })

  it('maps server errors, throttling and dropped connections to retriable StoreUnavailableError', async () => {
    const store = makeStore({ maxAttempts: 2 })
    await store.put('f/k', Buffer.from('v'))
    server.failNext(2, 503, { key: `${store.prefix}f/k` })
    await assert.rejects(store.get('f/k'), (err) => {
      assert.ok(err instanceof StoreUnavailableError, String(err))
      assert.equal(err.retriable, true)
      assert.match(err.message, /SlowDown/)
      return true
    })
    server.failNext(2, 500, { method: 'PUT' })
    await assert.rejects(store.put('f/k', Buffer.from('w')), StoreUnavailableError)
    server.failNext(2, 'reset', { method: 'GET' })
    await assert.rejects(store.get('f/k'), (err) => err instanceof StoreUnavailableError && err.retriable)
    // One failure is absorbed by the SDK's own retry.
    server.failNext(1, 500, { method: 'GET' })
    assert.equal((await store.get('f/k')).body.toString(), 'v')
    await store.close()
  })

  it('gives up on a hung request after requestTimeoutMs with a retriable StoreUnavailableError', async () => {
    const store = makeStore({ maxAttempts: 2, requestTimeoutMs: 300 })
    await store.put('slow/k', Buffer.from('v'))
    server.delayNext(2, 2000, { method: 'GET', key: `${store.prefix}slow/k` })
    const start = Date.now()
    await assert.rejects(store.get('slow/k'), (err) => err instanceof StoreUnavailableError && err.retriable)
    assert.ok(Date.now() - start < 1900, `timed out after ${Date.now() - start} ms`)
    await store.close()
  })

  it('a conditional write whose answer was lost and whose retry lost to itself still succeeds', async () => {
    const store = makeStore({ maxAttempts: 3 })
    server.failNext(1, 'drop-response', { method: 'PUT' })
    const created = await store.putIfAbsent('amb/HEAD', Buffer.from('v1'))
    assert.equal(created.etag, (await store.head('amb/HEAD'))?.etag)
    const puts = server.requests.filter((r) => r.method === 'PUT' && r.key === `${store.prefix}amb/HEAD`)
    assert.deepEqual(
      puts.map((r) => r.status),
      [0, 412],
      'the first attempt was applied but unanswered, the retry lost',
    )
    server.failNext(1, 'drop-response', { method: 'PUT' })
    const swapped = await store.putIfMatch('amb/HEAD', Buffer.from('v2'), created.etag)
    assert.equal((await store.get('amb/HEAD')).body.toString(), 'v2')
    assert.equal(swapped.etag, (await store.head('amb/HEAD'))?.etag)
    // A genuinely stale swap still loses, retries or not.
    server.failNext(1, 'drop-response', { method: 'PUT' })
    await store.put('amb/HEAD', Buffer.from('v3'))
    await assert.rejects(store.putIfMatch('amb/HEAD', Buffer.from('v4'), swapped.etag), PreconditionFailedError)
    await store.close()
  })

  it('maps a 409 ConditionalRequestConflict on a conditional write to PreconditionFailedError', async () => {
    const store = makeStore({ maxAttempts: 1 })
    const { etag } = await store.put('cc/HEAD', Buffer.from('v1'))
    server.failNext(1, 409, { method: 'PUT' })
    await assert.rejects(store.putIfMatch('cc/HEAD', Buffer.from('v2'), etag), PreconditionFailedError)
    server.failNext(1, 409, { method: 'PUT' })
    await assert.rejects(store.putIfAbsent('cc/other', Buffer.from('v2')), PreconditionFailedError)
    assert.equal((await store.get('cc/HEAD')).body.toString(), 'v1')
    await store.close()
  })

  it('reports an unreachable endpoint as retriable StoreUnavailableError', async () => {
    const down = await startS3Server()
    const config = down.clientConfig()
    await down.close()
    const store = new S3Store({ bucket: 'everlog-test' }, { ...config, maxAttempts: 1 })
    await assert.rejects(store.get('k'), (err) => err instanceof StoreUnavailableError && err.retriable)
    await store.close()
  })

  it('gets a missing object as ObjectNotFoundError and heads it as undefined', async () => {
    const store = makeStore()
    await assert.rejects(store.get('missing'), (err) => err instanceof ObjectNotFoundError && err.key === 'missing')
    assert.equal(await store.head('missing'), undefined)
    await store.close()
  })

  it('openStore takes endpoint, credentials and region from the AWS environment, defaulting to us-east-1', async () => {
    const saved = { ...process.env }
    try {
      for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ENDPOINT_URL_S3']) delete process.env[k]
      process.env.AWS_CONFIG_FILE = '/nonexistent/everlog-test-config'
      process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/everlog-test-credentials'
      process.env.AWS_ENDPOINT_URL = server.endpoint
      process.env.AWS_ACCESS_KEY_ID = server.accessKeyId
      process.env.AWS_SECRET_ACCESS_KEY = server.secretAccessKey
      const store = openStore(`s3://${server.bucket}/env/prefix`)
      assert.equal(store.url, `s3://${server.bucket}/env/prefix/`)
      await store.put('k', Buffer.from('from env'))
      // Path-style addressing reached the bucket through the custom endpoint, under the URL's prefix.
      assert.equal(server.object(server.bucket!, 'env/prefix/k')?.body.toString(), 'from env')
      assert.equal(await (store as S3Store)['created']!.config.region(), 'us-east-1')
      await store.close()
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
      Object.assign(process.env, saved)
    }
  })

  it('uses a caller-supplied client as is and leaves it open on close', async () => {
    const client = new S3Client({ ...server.clientConfig() })
    const store = new S3Store({ bucket: server.bucket!, prefix: 'own/' }, { client })
    await store.put('k', Buffer.from('v'))
    await store.close()
    const again = new S3Store({ bucket: server.bucket!, prefix: 'own/' }, { client })
    assert.equal((await again.get('k')).body.toString(), 'v')
    client.destroy()
  })

  it('wraps every failure in an EverlogError with a stable code', async () => {
    const store = makeStore({ maxAttempts: 1 })
    server.failNext(1, 400, { method: 'GET' })
    await assert.rejects(store.get('x'), (err) => err instanceof EverlogError && err.retriable === false)
    await store.close()
  })
})

describe('S3 GET bodies', () => {
  async function* chunksOf(...parts: number[][]): AsyncGenerator<Uint8Array> {
    for (const p of parts) yield Uint8Array.from(p)
  }

  it('are copied chunk by chunk into one buffer of Content-Length bytes', async () => {
    const body = await collectBody(chunksOf([1, 2], [3], [], [4, 5, 6]), 6)
    assert.deepEqual([...body], [1, 2, 3, 4, 5, 6])
    assert.equal(body.byteLength, 6)
  })

  it('shorter or longer than Content-Length fail as a retriable read, never as silently cut bytes', async () => {
    await assert.rejects(collectBody(chunksOf([1, 2], [3]), 4), /held 3 bytes where Content-Length said 4/)
    await assert.rejects(collectBody(chunksOf([1, 2], [3, 4, 5]), 4), /held more bytes where Content-Length said 4/)
  })

  it("without a Content-Length use the SDK's own collector", async () => {
    const sdkBody = { transformToByteArray: async () => Uint8Array.from([7, 8]) }
    assert.deepEqual([...(await collectBody(sdkBody, undefined))], [7, 8])
    assert.equal((await collectBody(undefined, undefined)).byteLength, 0)
  })

  it('of a large object read through the SDK arrive whole, ranged and not', async () => {
    const store = makeStore()
    const bytes = Buffer.alloc(5 * MiB + 3)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff
    await store.put('big', bytes)
    assert.ok((await store.get('big')).body.equals(bytes))
    const range = await store.get('big', { start: MiB + 1, end: 4 * MiB })
    assert.ok(range.body.equals(bytes.subarray(MiB + 1, 4 * MiB + 1))) // end is inclusive, as in HTTP
  })
})

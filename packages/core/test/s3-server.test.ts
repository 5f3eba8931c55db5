import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { startS3Server } from '../src/testing/s3-server.js'
import type { S3TestServer } from '../src/testing/s3-server.js'

// The test server's own behaviour at the HTTP level, where the SDK would hide or paper over it.
let server: S3TestServer
let unsigned: S3TestServer
before(async () => {
  server = await startS3Server()
  unsigned = await startS3Server({ verifySignatures: false })
})
after(async () => {
  await server.close()
  await unsigned.close()
})

/** A request the unsigned server accepts: right key id, no signature check. */
function raw(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  const auth = `AWS4-HMAC-SHA256 Credential=${unsigned.accessKeyId}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`
  return fetch(`${unsigned.endpoint}${path}`, { ...init, headers: { authorization: auth, ...init.headers } })
}

describe('S3 test server', () => {
  it('serves exact byte ranges, including suffix ranges and bytes=0-0, and 416 past the end', async () => {
    assert.equal((await raw('/everlog-test/r', { method: 'PUT', body: '0123456789' })).status, 200)
    const cases: [string, number, string, string | null][] = [
      ['bytes=0-0', 206, '0', 'bytes 0-0/10'],
      ['bytes=-3', 206, '789', 'bytes 7-9/10'],
      ['bytes=-30', 206, '0123456789', 'bytes 0-9/10'],
      ['bytes=4-', 206, '456789', 'bytes 4-9/10'],
      ['bytes=8-100', 206, '89', 'bytes 8-9/10'],
    ]
    for (const [range, status, body, contentRange] of cases) {
      const res = await raw('/everlog-test/r', { headers: { range } })
      assert.equal(res.status, status, range)
      assert.equal(await res.text(), body, range)
      assert.equal(res.headers.get('content-range'), contentRange, range)
    }
    const past = await raw('/everlog-test/r', { headers: { range: 'bytes=10-' } })
    assert.equal(past.status, 416)
    assert.match(await past.text(), /<Code>InvalidRange<\/Code>/)
  })

  it('enforces If-None-Match: * and If-Match on PUT like AWS (412, and 404 for If-Match on a missing key)', async () => {
    const first = await raw('/everlog-test/c', { method: 'PUT', body: 'v1', headers: { 'if-none-match': '*' } })
    assert.equal(first.status, 200)
    const etag = first.headers.get('etag')!
    const again = await raw('/everlog-test/c', { method: 'PUT', body: 'v2', headers: { 'if-none-match': '*' } })
    assert.equal(again.status, 412)
    assert.match(await again.text(), /PreconditionFailed/)
    const wrong = await raw('/everlog-test/c', { method: 'PUT', body: 'v2', headers: { 'if-match': '"0000"' } })
    assert.equal(wrong.status, 412)
    const right = await raw('/everlog-test/c', { method: 'PUT', body: 'v2', headers: { 'if-match': etag } })
    assert.equal(right.status, 200)
    const missing = await raw('/everlog-test/none', { method: 'PUT', body: 'x', headers: { 'if-match': etag } })
    assert.equal(missing.status, 404)
    assert.equal(await (await raw('/everlog-test/c')).text(), 'v2')
    // Of many concurrent creators exactly one wins.
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        raw('/everlog-test/race', { method: 'PUT', body: `w${i}`, headers: { 'if-none-match': '*' } }).then(
          (r) => r.status,
        ),
      ),
    )
    assert.equal(statuses.filter((s) => s === 200).length, 1)
    assert.equal(statuses.filter((s) => s === 412).length, 19)
  })

  it('refuses unsigned, unknown-key and badly signed requests', async () => {
    assert.equal((await fetch(`${server.endpoint}/everlog-test/k`)).status, 403)
    const badKey = `AWS4-HMAC-SHA256 Credential=NOPE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`
    const res = await fetch(`${server.endpoint}/everlog-test/k`, { headers: { authorization: badKey } })
    assert.equal(res.status, 403)
    assert.match(await res.text(), /InvalidAccessKeyId/)
    const forged = `AWS4-HMAC-SHA256 Credential=${server.accessKeyId}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`
    const res2 = await fetch(`${server.endpoint}/everlog-test/k`, {
      headers: { authorization: forged, 'x-amz-date': '20260101T000000Z' },
    })
    assert.equal(res2.status, 403)
    assert.match(await res2.text(), /SignatureDoesNotMatch/)
  })

  it('paginates ListObjectsV2 with a delimiter without repeating or dropping common prefixes', async () => {
    const client = new S3Client(server.clientConfig())
    await server.createBucket('list-test')
    const { S3Store } = await import('../src/store/s3.js')
    const store = new S3Store({ bucket: 'list-test' }, { client })
    const expectedPrefixes: string[] = []
    for (let t = 0; t < 10; t++) {
      expectedPrefixes.push(`topic${t}/`)
      for (let k = 0; k < 3; k++) await store.put(`topic${t}/k${k}`, Buffer.from('x'))
    }
    await store.put('topic-file', Buffer.from('x'))
    const seen: string[] = []
    const contents: string[] = []
    let token: string | undefined
    let pages = 0
    do {
      const res = await client.send(
        new ListObjectsV2Command({ Bucket: 'list-test', Delimiter: '/', MaxKeys: 3, ContinuationToken: token }),
      )
      pages++
      assert.ok((res.KeyCount ?? 0) <= 3)
      seen.push(...(res.CommonPrefixes ?? []).map((p) => p.Prefix!))
      contents.push(...(res.Contents ?? []).map((c) => c.Key!))
      token = res.IsTruncated ? res.NextContinuationToken : undefined
    } while (token)
    assert.deepEqual(seen.sort(), expectedPrefixes)
    assert.deepEqual(contents, ['topic-file'])
    assert.equal(pages, 4)
    assert.deepEqual(
      await new S3Store({ bucket: 'list-test' }, { client, pageSize: 2 }).listPrefixes('topic'),
      expectedPrefixes,
    )
    client.destroy()
  })

  it('injects faults: a status for the next n matching requests, or a dropped connection', async () => {
    unsigned.failNext(2, 503, { method: 'GET', key: 'r' })
    assert.equal((await raw('/everlog-test/r')).status, 503)
    assert.equal((await raw('/everlog-test/c')).status, 200, 'the filter spares other keys')
    assert.equal((await raw('/everlog-test/r')).status, 503)
    assert.equal((await raw('/everlog-test/r')).status, 200)
    unsigned.failNext(1, 'reset')
    await assert.rejects(raw('/everlog-test/r'))
    assert.equal((await raw('/everlog-test/r')).status, 200)
    const last = unsigned.requests[unsigned.requests.length - 1]!
    assert.deepEqual([last.method, last.bucket, last.key, last.status], ['GET', 'everlog-test', 'r', 200])
  })
})

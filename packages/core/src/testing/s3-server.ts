// A local S3 endpoint for tests of every package, in process and in memory. It speaks the subset of the S3 REST API
// Everlog and the AWS SDK use, with the semantics Everlog relies on done exactly: conditional PUTs (If-None-Match: *,
// If-Match), byte ranges incl. suffix, ListObjectsV2 in key order with real pagination, multipart uploads and SigV4
// signature checks. Tests can inject faults (failNext) and delays, and inspect what was stored.
//
// Why not s3rver (3.7): it ignores conditional writes; its ListObjectsV2 continuation tokens use DES, which Node >= 17
// refuses without --openssl-legacy-provider (500 on the second page); it lists in directory-walk order, not key
// order; it serves `bytes=-N` as the first N bytes and `bytes=0-0` as the whole object; it never checks signatures.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { compareKeys } from '../store/keys.js'

export interface S3ServerOptions {
  /** Bucket created at start. Default 'everlog-test'; pass null for none. */
  bucket?: string | null
  /** Reject requests whose SigV4 signature does not match the secret key (403 SignatureDoesNotMatch). Default true. */
  verifySignatures?: boolean
}

export interface S3RequestRecord {
  method: string
  bucket: string | undefined
  key: string | undefined
  query: string
  status: number
}

/** What the server holds for one object, for tests that check how it was written. */
export interface S3StoredObject {
  body: Buffer
  etag: string
  contentType: string | undefined
  serverSideEncryption: string | undefined
  sseKmsKeyId: string | undefined
  storageClass: string | undefined
  metadata: Record<string, string>
  lastModified: Date
  /** Number of parts when written by multipart upload, else 0. */
  parts: number
}

/**
 * A status code to answer with; 'reset' drops the connection before doing anything; 'drop-response' does the
 * request (the write happens) and then drops the connection, the ambiguous failure a client must survive.
 */
export type S3Fault = number | 'reset' | 'drop-response'

// Marks a response whose request is carried out but whose answer is lost.
const DROP_RESPONSE = Symbol('drop-response')

export interface S3FaultFilter {
  method?: string
  key?: string | RegExp
}

export interface S3TestServer {
  /** http://127.0.0.1:PORT — use with path-style addressing. */
  endpoint: string
  region: string
  /** The bucket created at start, if any. */
  bucket: string | undefined
  accessKeyId: string
  secretAccessKey: string
  /** Config for an S3Client / S3StoreOptions talking to this server. */
  clientConfig(): {
    endpoint: string
    region: string
    forcePathStyle: true
    credentials: { accessKeyId: string; secretAccessKey: string }
  }
  createBucket(name: string): Promise<void>
  /**
   * The next n requests (matching the filter, if given) fail: with that HTTP status and an S3 error body
   * (503 SlowDown, 500 InternalError, ...), or 'reset' to drop the connection without an answer.
   */
  failNext(n: number, fault?: S3Fault, filter?: S3FaultFilter): void
  /** Delays the next n requests (matching the filter) by ms, e.g. to exercise client timeouts. */
  delayNext(n: number, ms: number, filter?: S3FaultFilter): void
  /**
   * Holds the next request matching the filter until released: `caught` resolves when it arrives, `release()` lets
   * it (and any later release) go on. For tests that must freeze a writer in the middle of a commit.
   */
  holdNext(filter?: S3FaultFilter): S3Hold
  /** The stored object, or undefined. */
  object(bucket: string, key: string): S3StoredObject | undefined
  /** Every request the server answered, in order (the last 10 000). */
  readonly requests: readonly S3RequestRecord[]
  close(): Promise<void>
}

export interface S3Hold {
  /** Resolves with the held request's key once one arrives. */
  readonly caught: Promise<string>
  release(): void
}

interface Bucket {
  objects: Map<string, S3StoredObject>
  uploads: Map<string, Upload>
}

interface Upload {
  key: string
  parts: Map<number, { body: Buffer; etag: string }>
  init: Omit<S3StoredObject, 'body' | 'etag' | 'lastModified' | 'parts'>
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message)
  }
}

const MIN_PART_SIZE = 5 * 1024 * 1024

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3TestServer> {
  const accessKeyId = `EVERLOG${randomBytes(6).toString('hex').toUpperCase()}`
  const secretAccessKey = randomBytes(24).toString('base64url')
  const region = 'us-east-1'
  const verify = options.verifySignatures ?? true
  const buckets = new Map<string, Bucket>()
  const faults: ({ left: number; fault: S3Fault } & S3FaultFilter)[] = []
  const delays: ({ left: number; ms: number } & S3FaultFilter)[] = []
  const holds: ({ left: number; arrived: (key: string) => void; released: Promise<void> } & S3FaultFilter)[] = []
  const requests: S3RequestRecord[] = []

  function takeMatching<T extends { left: number } & S3FaultFilter>(
    list: T[],
    method: string,
    key: string | undefined,
  ): T | undefined {
    const hit = list.find(
      (f) =>
        f.left > 0 &&
        (f.method === undefined || f.method === method) &&
        (f.key === undefined || (key !== undefined && (typeof f.key === 'string' ? f.key === key : f.key.test(key)))),
    )
    if (hit) hit.left--
    return hit
  }

  function bucketOf(name: string): Bucket {
    const b = buckets.get(name)
    if (!b) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: name })
    return b
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> {
    const method = req.method ?? 'GET'
    const [, bucketName = '', ...rest] = url.pathname.split('/')
    const bucket = decodeURIComponent(bucketName)
    const key = rest.length > 0 ? decodeURIComponent(rest.join('/')) : ''
    const q = url.searchParams

    const hold = takeMatching(holds, method, key || undefined)
    if (hold) {
      hold.arrived(key)
      await hold.released
    }
    const delay = takeMatching(delays, method, key || undefined)
    if (delay) await new Promise((r) => setTimeout(r, delay.ms))
    const fault = takeMatching(faults, method, key || undefined)
    if (fault) {
      if (fault.fault === 'reset') {
        req.socket.destroy()
        return 0
      }
      if (fault.fault === 'drop-response') {
        ;(res as ServerResponse & { [DROP_RESPONSE]?: boolean })[DROP_RESPONSE] = true
      } else {
        throw new S3Error(fault.fault, faultCode(fault.fault), 'Injected fault (failNext)')
      }
    }
    const auth = checkAuth(req, url, accessKeyId, secretAccessKey, verify)
    if (auth) throw new S3Error(403, auth.code, auth.message)
    const body = await readBody(req)

    if (bucket === '') {
      if (method !== 'GET') throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed')
      const list = [...buckets.keys()].sort().map((b) => `<Bucket><Name>${xml(b)}</Name></Bucket>`)
      return sendXml(res, 200, `<ListAllMyBucketsResult><Buckets>${list.join('')}</Buckets></ListAllMyBucketsResult>`)
    }

    if (key === '') {
      if (method === 'PUT') {
        if (buckets.has(bucket)) throw new S3Error(409, 'BucketAlreadyOwnedByYou', 'Your bucket already exists')
        buckets.set(bucket, { objects: new Map(), uploads: new Map() })
        return send(res, 200, { location: `/${bucket}` })
      }
      const b = bucketOf(bucket)
      if (method === 'HEAD') return send(res, 200)
      if (method === 'DELETE') {
        if (b.objects.size > 0) throw new S3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty')
        buckets.delete(bucket)
        return send(res, 204)
      }
      if (method === 'GET' && q.get('list-type') === '2') return listObjectsV2(res, bucket, b, q)
      if (method === 'GET' && q.has('location')) return sendXml(res, 200, '<LocationConstraint/>')
      if (method === 'POST' && q.has('delete')) return deleteObjects(res, b, body)
      throw new S3Error(501, 'NotImplemented', `this test server does not implement ${method} ${url.search}`)
    }

    const b = bucketOf(bucket)
    if (method === 'PUT' && q.has('uploadId')) return uploadPart(res, b, key, q, body)
    if (method === 'PUT') {
      if (req.headers['x-amz-copy-source']) throw new S3Error(501, 'NotImplemented', 'CopyObject is not implemented')
      checkMd5(req.headers, body)
      checkConditions(req.headers, b.objects.get(key))
      const obj = store(b, key, body, initOf(req.headers), 0)
      return send(res, 200, { etag: obj.etag, ...sseHeaders(obj) })
    }
    if (method === 'POST' && q.has('uploads')) {
      const uploadId = randomBytes(16).toString('hex')
      b.uploads.set(uploadId, { key, parts: new Map(), init: initOf(req.headers) })
      return sendXml(
        res,
        200,
        `<InitiateMultipartUploadResult><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
      )
    }
    if (method === 'POST' && q.has('uploadId')) return completeUpload(req, res, bucket, b, key, q, body)
    if (method === 'DELETE' && q.has('uploadId')) {
      if (!b.uploads.delete(q.get('uploadId')!)) throw noSuchUpload()
      return send(res, 204)
    }
    if (method === 'DELETE') {
      b.objects.delete(key)
      return send(res, 204)
    }
    if (method === 'GET' || method === 'HEAD') {
      const obj = b.objects.get(key)
      if (!obj) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key })
      const headers: Record<string, string> = {
        etag: obj.etag,
        'last-modified': obj.lastModified.toUTCString(),
        'accept-ranges': 'bytes',
        'content-type': obj.contentType ?? 'binary/octet-stream',
        ...sseHeaders(obj),
      }
      for (const [k, v] of Object.entries(obj.metadata)) headers[`x-amz-meta-${k}`] = v
      if (obj.parts > 0) headers['x-amz-mp-parts-count'] = String(obj.parts)
      const range = req.headers.range
      const resolved = range === undefined ? 'ignore' : resolveHttpRange(range, obj.body.length)
      if (resolved === 'unsatisfiable') {
        throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', {
          ActualObjectSize: String(obj.body.length),
        })
      }
      if (resolved === 'ignore') return send(res, 200, headers, obj.body, method === 'HEAD')
      const [start, end] = resolved
      headers['content-range'] = `bytes ${start}-${end}/${obj.body.length}`
      return send(res, 206, headers, obj.body.subarray(start, end + 1), method === 'HEAD')
    }
    throw new S3Error(501, 'NotImplemented', `this test server does not implement ${method} on objects`)
  }

  function store(
    b: Bucket,
    key: string,
    body: Buffer,
    init: Upload['init'],
    parts: number,
    etag = `"${createHash('md5').update(body).digest('hex')}"`,
  ): S3StoredObject {
    const obj: S3StoredObject = { body, etag, lastModified: new Date(), parts, ...init }
    b.objects.set(key, obj)
    return obj
  }

  function uploadPart(res: ServerResponse, b: Bucket, key: string, q: URLSearchParams, body: Buffer): number {
    const upload = b.uploads.get(q.get('uploadId')!)
    if (!upload || upload.key !== key) throw noSuchUpload()
    const n = Number(q.get('partNumber'))
    if (!Number.isInteger(n) || n < 1 || n > 10_000) {
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000')
    }
    const etag = `"${createHash('md5').update(body).digest('hex')}"`
    upload.parts.set(n, { body, etag })
    return send(res, 200, { etag })
  }

  function completeUpload(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    b: Bucket,
    key: string,
    q: URLSearchParams,
    body: Buffer,
  ): number {
    const uploadId = q.get('uploadId')!
    const upload = b.uploads.get(uploadId)
    if (!upload || upload.key !== key) throw noSuchUpload()
    const listed = [...body.toString('utf8').matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      n: Number(/<PartNumber>(\d+)<\/PartNumber>/.exec(m[1]!)?.[1]),
      etag: unxml(/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1]!)?.[1] ?? ''),
    }))
    if (listed.length === 0) throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed')
    const chunks: Buffer[] = []
    const md5s: Buffer[] = []
    let previous = 0
    for (const [i, part] of listed.entries()) {
      if (part.n <= previous) throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order')
      previous = part.n
      const stored = upload.parts.get(part.n)
      if (!stored || stored.etag.replace(/"/g, '') !== part.etag.replace(/"/g, '')) {
        throw new S3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found')
      }
      if (i < listed.length - 1 && stored.body.length < MIN_PART_SIZE) {
        throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size')
      }
      chunks.push(stored.body)
      md5s.push(Buffer.from(stored.etag.replace(/"/g, ''), 'hex'))
    }
    checkConditions(req.headers, b.objects.get(key))
    const etag = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${listed.length}"`
    const obj = store(b, key, Buffer.concat(chunks), upload.init, listed.length, etag)
    b.uploads.delete(uploadId)
    return sendXml(
      res,
      200,
      `<CompleteMultipartUploadResult><Location>/${xml(bucket)}/${xml(key)}</Location><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><ETag>${xml(obj.etag)}</ETag></CompleteMultipartUploadResult>`,
      sseHeaders(obj),
    )
  }

  function listObjectsV2(res: ServerResponse, bucket: string, b: Bucket, q: URLSearchParams): number {
    const prefix = q.get('prefix') ?? ''
    const delimiter = q.get('delimiter') ?? ''
    const maxKeys = q.has('max-keys') ? Number(q.get('max-keys')) : 1000
    if (!Number.isInteger(maxKeys) || maxKeys < 0) {
      throw new S3Error(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range')
    }
    const limit = Math.min(maxKeys, 1000)
    const token = q.get('continuation-token')
    let after = q.get('start-after') ?? ''
    if (token !== null) {
      after = Buffer.from(token, 'base64url').toString('utf8')
      if (!after.startsWith('k:')) {
        throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect')
      }
      after = after.slice(2)
    }
    const keys = [...b.objects.keys()]
      .filter((k) => k.startsWith(prefix) && (after === '' || compareKeys(k, after) > 0))
      .sort(compareKeys)
    const contents: string[] = []
    const prefixes: string[] = []
    let last: string | undefined
    let truncated = false
    for (const k of keys) {
      let entry = k
      let isPrefix = false
      if (delimiter !== '') {
        const i = k.indexOf(delimiter, prefix.length)
        if (i >= 0) {
          entry = k.slice(0, i + delimiter.length)
          isPrefix = true
          // Reported already on this page, or it ended the previous page.
          if (entry === last || entry === after) continue
        }
      }
      if (contents.length + prefixes.length >= limit) {
        truncated = true
        break
      }
      if (isPrefix) {
        prefixes.push(entry)
      } else {
        const obj = b.objects.get(k)!
        contents.push(
          `<Contents><Key>${xml(k)}</Key><LastModified>${obj.lastModified.toISOString()}</LastModified><ETag>${xml(obj.etag)}</ETag><Size>${obj.body.length}</Size><StorageClass>${obj.storageClass ?? 'STANDARD'}</StorageClass></Contents>`,
        )
      }
      last = entry
    }
    const next =
      truncated && last !== undefined
        ? `<NextContinuationToken>${Buffer.from(`k:${last}`).toString('base64url')}</NextContinuationToken>`
        : ''
    return sendXml(
      res,
      200,
      `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix>${
        delimiter ? `<Delimiter>${xml(delimiter)}</Delimiter>` : ''
      }<MaxKeys>${maxKeys}</MaxKeys><KeyCount>${contents.length + prefixes.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>${
        token !== null ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : ''
      }${next}${contents.join('')}${prefixes.map((p) => `<CommonPrefixes><Prefix>${xml(p)}</Prefix></CommonPrefixes>`).join('')}</ListBucketResult>`,
    )
  }

  function deleteObjects(res: ServerResponse, b: Bucket, body: Buffer): number {
    const keys = [...body.toString('utf8').matchAll(/<Object>[\s\S]*?<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Object>/g)].map(
      (m) => unxml(m[1]!),
    )
    for (const k of keys) b.objects.delete(k)
    const deleted = keys.map((k) => `<Deleted><Key>${xml(k)}</Key></Deleted>`).join('')
    return sendXml(res, 200, `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${deleted}</DeleteResult>`)
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local')
    const [, bucketName, ...rest] = url.pathname.split('/')
    const record = (status: number) => {
      requests.push({
        method: req.method ?? 'GET',
        bucket: bucketName ? decodeURIComponent(bucketName) : undefined,
        key: rest.length > 0 && rest.join('/') !== '' ? decodeURIComponent(rest.join('/')) : undefined,
        query: url.search,
        status,
      })
      if (requests.length > 10_000) requests.splice(0, requests.length - 10_000)
    }
    handle(req, res, url).then(record, (err: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const e =
        err instanceof S3Error
          ? err
          : new S3Error(500, 'InternalError', `We encountered an internal error (${String(err)}). Please try again.`)
      req.resume() // drain an unread body so the connection can be reused
      const extra = Object.entries(e.extra)
        .map(([k, v]) => `<${k}>${xml(v)}</${k}>`)
        .join('')
      const headers: Record<string, string> =
        e.status === 416 && e.extra.ActualObjectSize ? { 'content-range': `bytes */${e.extra.ActualObjectSize}` } : {}
      const body = req.method === 'HEAD' ? undefined : errorXml(e.code, e.message, extra)
      record(send(res, e.status, { 'content-type': 'application/xml', ...headers }, body))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const endpoint = `http://127.0.0.1:${port}`

  async function createBucket(name: string): Promise<void> {
    if (buckets.has(name)) throw new Error(`bucket ${name} already exists`)
    buckets.set(name, { objects: new Map(), uploads: new Map() })
  }
  const bucket = options.bucket === undefined ? 'everlog-test' : (options.bucket ?? undefined)
  if (bucket) await createBucket(bucket)

  let closed = false
  return {
    endpoint,
    region,
    bucket,
    accessKeyId,
    secretAccessKey,
    clientConfig: () => ({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } }),
    createBucket,
    failNext(n, fault = 503, filter = {}) {
      faults.push({ left: n, fault, ...filter })
    },
    delayNext(n, ms, filter = {}) {
      delays.push({ left: n, ms, ...filter })
    },
    holdNext(filter = {}) {
      let arrived!: (key: string) => void
      let release!: () => void
      const caught = new Promise<string>((r) => (arrived = r))
      const released = new Promise<void>((r) => (release = r))
      holds.push({ left: 1, arrived, released, ...filter })
      return { caught, release }
    },
    object: (bucketName, key) => buckets.get(bucketName)?.objects.get(key),
    requests,
    async close() {
      if (closed) return
      closed = true
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function noSuchUpload(): S3Error {
  return new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist')
}

function initOf(headers: IncomingHttpHeaders): Upload['init'] {
  const metadata: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice('x-amz-meta-'.length)] = v
  }
  const str = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : undefined)
  return {
    contentType: str('content-type'),
    serverSideEncryption: str('x-amz-server-side-encryption'),
    sseKmsKeyId: str('x-amz-server-side-encryption-aws-kms-key-id'),
    storageClass: str('x-amz-storage-class'),
    metadata,
  }
}

function sseHeaders(obj: S3StoredObject): Record<string, string> {
  const out: Record<string, string> = {}
  if (obj.serverSideEncryption) out['x-amz-server-side-encryption'] = obj.serverSideEncryption
  if (obj.sseKmsKeyId) out['x-amz-server-side-encryption-aws-kms-key-id'] = obj.sseKmsKeyId
  if (obj.storageClass && obj.storageClass !== 'STANDARD') out['x-amz-storage-class'] = obj.storageClass
  return out
}

/** S3's conditional-write rules: If-None-Match: * fails on any object, If-Match fails on another ETag or none. */
function checkConditions(headers: IncomingHttpHeaders, current: S3StoredObject | undefined): void {
  const ifNoneMatch = headers['if-none-match']
  const ifMatch = headers['if-match']
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new S3Error(501, 'NotImplemented', 'If-None-Match on PUT only supports "*"')
    if (current) throw preconditionFailed('If-None-Match')
  }
  if (ifMatch !== undefined) {
    // Like AWS: If-Match on a missing key answers 404 NoSuchKey, on another ETag 412.
    if (!current) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.')
    if (!etagMatches(ifMatch, current.etag)) throw preconditionFailed('If-Match')
  }
}

function preconditionFailed(condition: string): S3Error {
  return new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
    Condition: condition,
  })
}

function checkMd5(headers: IncomingHttpHeaders, body: Buffer): void {
  const md5 = headers['content-md5']
  if (typeof md5 === 'string' && md5 !== createHash('md5').update(body).digest('base64')) {
    throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.')
  }
}

function faultCode(status: number): string {
  if (status === 503) return 'SlowDown'
  if (status === 500) return 'InternalError'
  if (status === 403) return 'AccessDenied'
  if (status === 404) return 'NoSuchKey'
  if (status === 409) return 'ConditionalRequestConflict'
  if (status === 412) return 'PreconditionFailed'
  return 'InjectedFault'
}

function etagMatches(header: string, etag: string): boolean {
  const norm = (s: string) => s.trim().replace(/^W\//, '').replace(/"/g, '')
  return header.split(',').some((h) => h.trim() === '*' || norm(h) === norm(etag))
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const raw = Buffer.concat(chunks)
  const sha = String(req.headers['x-amz-content-sha256'] ?? '')
  const encoding = String(req.headers['content-encoding'] ?? '')
  return sha.startsWith('STREAMING-') || encoding.includes('aws-chunked') ? decodeAwsChunked(raw) : raw
}

/** aws-chunked: `<hex size>[;chunk-signature=...]\r\n<bytes>\r\n` ... `0\r\n<trailers>\r\n\r\n`. */
function decodeAwsChunked(raw: Buffer): Buffer {
  const out: Buffer[] = []
  let pos = 0
  for (;;) {
    const eol = raw.indexOf('\r\n', pos)
    if (eol < 0) break
    const size = parseInt(raw.subarray(pos, eol).toString('latin1').split(';')[0]!, 16)
    if (!Number.isFinite(size) || size === 0) break
    out.push(raw.subarray(eol + 2, eol + 2 + size))
    pos = eol + 2 + size + 2
  }
  return Buffer.concat(out)
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string> = {},
  body?: Buffer | string,
  headOnly = false,
): number {
  if ((res as ServerResponse & { [DROP_RESPONSE]?: boolean })[DROP_RESPONSE]) {
    res.socket?.destroy()
    return 0
  }
  const length = body === undefined ? 0 : Buffer.byteLength(body)
  res.writeHead(status, {
    'content-length': String(length),
    'x-amz-request-id': randomBytes(8).toString('hex'),
    ...headers,
  })
  res.end(headOnly ? undefined : body)
  return status
}

function sendXml(res: ServerResponse, status: number, xmlBody: string, headers: Record<string, string> = {}): number {
  return send(
    res,
    status,
    { 'content-type': 'application/xml', ...headers },
    `<?xml version="1.0" encoding="UTF-8"?>\n${xmlBody}`,
  )
}

function errorXml(code: string, message: string, extra: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message>${extra}</Error>`
}

function xml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function unxml(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
}

/** RFC 9110 single byte range against a size: [first, last] inclusive, or why it cannot be served. */
export function resolveHttpRange(header: string, size: number): [number, number] | 'unsatisfiable' | 'ignore' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return 'ignore' // malformed or multi-range: S3 serves the whole object
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return [Math.max(0, size - suffix), size - 1]
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (m[2] !== '' && Number(m[2]) < start) return 'ignore'
  if (start >= size) return 'unsatisfiable'
  return [start, end]
}

// ---- SigV4 -------------------------------------------------------------------------------------------------

function checkAuth(
  req: IncomingMessage,
  url: URL,
  accessKeyId: string,
  secret: string,
  verify: boolean,
): { code: string; message: string } | undefined {
  const header = req.headers.authorization
  if (!header) return { code: 'AccessDenied', message: 'Anonymous access is not allowed by this test server' }
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      header,
    )
  if (!m) return { code: 'AccessDenied', message: 'Only SigV4 header authentication is supported' }
  const [, keyId, date, region, signedHeaders, signature] = m
  if (keyId !== accessKeyId) {
    return { code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' }
  }
  if (!verify) return undefined
  const amzDate = String(req.headers['x-amz-date'] ?? '')
  const rawPath = (req.url ?? '/').split('?')[0]!
  const canonical = canonicalRequest(req.method ?? 'GET', rawPath, url, req.headers, signedHeaders!.split(';'))
  const expected = sign(secret, date!, region!, amzDate, canonical)
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))) {
    return {
      code: 'SignatureDoesNotMatch',
      message:
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    }
  }
  return undefined
}

function canonicalRequest(
  method: string,
  rawPath: string,
  url: URL,
  headers: IncomingHttpHeaders,
  signed: string[],
): string {
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const canonicalHeaders = signed
    .map((name) => {
      const value = headers[name]
      const text = Array.isArray(value) ? value.join(',') : String(value ?? '')
      return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`
    })
    .join('')
  const payload = String(headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD')
  return [method, rawPath, query, canonicalHeaders, signed.join(';'), payload].join('\n')
}

function sign(secret: string, date: string, region: string, amzDate: string, canonical: string): string {
  const scope = `${date}/${region}/s3/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
  let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest()
  for (const part of [region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest()
  return createHmac('sha256', key).update(toSign).digest('hex')
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

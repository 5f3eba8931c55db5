// Object store on Amazon S3 or any S3-compatible service (`s3://bucket/prefix`). HEAD fencing relies on S3's
// conditional writes: If-None-Match: * creates, If-Match: <etag> compares-and-swaps.
// The SDK is imported when a store first talks to S3 (every method is async anyway): it costs about 20 MiB in each
// thread that loads it, which processes and worker threads using other stores should not pay.
import type * as S3Sdk from '@aws-sdk/client-s3'
import type { PutObjectCommandInput, S3Client, S3ClientConfig } from '@aws-sdk/client-s3'
import type * as LibStorage from '@aws-sdk/lib-storage'
import {
  EverlogError,
  InvalidArgumentError,
  ObjectNotFoundError,
  PreconditionFailedError,
  StoreAccessDeniedError,
  StoreUnavailableError,
} from '../errors.js'
import { BucketNotFoundError, StoreRangeMismatchError } from './errors.js'
import {
  compareKeys,
  rangeHeader,
  rangeNotSatisfiable,
  resolveRange,
  validateKey,
  validatePrefix,
  validateRange,
} from './keys.js'
import type { ByteRange, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from './types.js'

export interface S3StoreOptions {
  /** A ready client; endpoint, region, credentials and path-style options below are then ignored. */
  client?: S3Client
  /** Overrides AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. */
  endpoint?: string
  /** Overrides AWS_REGION / the profile's region; us-east-1 when none is set anywhere. */
  region?: string
  /** Overrides the default credential chain (env, profile, SSO, instance role, ...). */
  credentials?: S3ClientConfig['credentials']
  /** Path-style addressing (http://host/bucket/key). Default: on when a custom endpoint is set, off for AWS. */
  forcePathStyle?: boolean
  /** Keys per ListObjectsV2 page (1-1000). Default 1000. */
  pageSize?: number
  /** Unconditional puts larger than this use multipart upload. Default 64 MiB. */
  multipartThreshold?: number
  /** Multipart part size (>= 5 MiB). Default 16 MiB. */
  partSize?: number
  /** Attempts per request including the first, retried by the SDK with backoff. Default: the SDK's (3). */
  maxAttempts?: number
  /** Abandon one request (attempt) after this long; a hung endpoint then fails retriably. Default 120 s. */
  requestTimeoutMs?: number
  /** Abandon connecting after this long. Default 10 s. */
  connectionTimeoutMs?: number
  serverSideEncryption?: 'AES256' | 'aws:kms'
  sseKmsKeyId?: string
  storageClass?: PutObjectCommandInput['StorageClass']
}

const MiB = 1024 * 1024

export class S3Store implements ObjectStore {
  readonly url: string
  readonly bucket: string
  /** Root prefix inside the bucket: empty or ending with '/'. */
  readonly prefix: string
  /** The endpoint requests go to when not AWS's own (from the options or AWS_ENDPOINT_URL*), for messages. */
  readonly endpoint: string | undefined
  private readonly given: S3Client | undefined
  private readonly config: S3ClientConfig
  private connecting: Promise<{ client: S3Client; sdk: Sdk }> | undefined
  private created: S3Client | undefined
  private readonly pageSize: number
  private readonly multipartThreshold: number
  private readonly partSize: number
  private readonly putParams: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId' | 'StorageClass'>

  constructor(location: { bucket: string; prefix?: string }, options: S3StoreOptions = {}) {
    const prefix = location.prefix ?? ''
    validatePrefix(prefix)
    if (prefix !== '' && !prefix.endsWith('/')) {
      throw new InvalidArgumentError(`S3 store prefix must be empty or end with "/", got ${JSON.stringify(prefix)}`)
    }
    this.bucket = location.bucket
    this.prefix = prefix
    this.url = `s3://${location.bucket}/${prefix}`
    this.pageSize = options.pageSize ?? 1000
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > 1000) {
      throw new InvalidArgumentError(`S3 store pageSize must be an integer 1-1000, got ${options.pageSize}`)
    }
    this.multipartThreshold = options.multipartThreshold ?? 64 * MiB
    this.partSize = Math.max(options.partSize ?? 16 * MiB, 5 * MiB)
    if (options.sseKmsKeyId !== undefined && options.serverSideEncryption !== 'aws:kms') {
      throw new InvalidArgumentError(`S3 store option sseKmsKeyId needs serverSideEncryption: 'aws:kms'`)
    }
    this.putParams = {
      ...(options.serverSideEncryption ? { ServerSideEncryption: options.serverSideEncryption } : {}),
      ...(options.sseKmsKeyId ? { SSEKMSKeyId: options.sseKmsKeyId } : {}),
      ...(options.storageClass ? { StorageClass: options.storageClass } : {}),
    }
    this.given = options.client
    this.config = clientConfig(options)
    this.endpoint = options.client ? undefined : (this.config.endpoint as string | undefined)
  }

  /** The SDK and the client, loaded and made on first use. */
  private s3(): Promise<{ client: S3Client; sdk: Sdk }> {
    return (this.connecting ??= loadSdk().then((sdk) => {
      const client = this.given ?? (this.created = new sdk.S3Client(this.config))
      return { client, sdk }
    }))
  }

  async get(key: string, range?: ByteRange): Promise<GetResult> {
    validateKey(key)
    validateRange(key, range)
    if (range === undefined) {
      const whole = await this.getObject(key, undefined)
      return { body: whole.body, etag: whole.etag, size: whole.total ?? whole.body.length }
    }
    // Some S3-compatible servers answer a range with other bytes (a suffix read as a prefix, a range ignored): what
    // came back is checked against what was asked, so a store's wrong answer never reaches a Parquet decoder.
    const asked = rangeHeader(range)
    const first = await this.getObject(key, range, asked)
    if (first.empty) return { body: Buffer.alloc(0), etag: first.etag, size: 0 }
    const ok = this.rangeAnswer(key, range, first)
    if (ok) return ok
    // Once more with explicit start and end computed from the object's size, which every server gets right or not
    // at all.
    const size = first.total ?? (await this.head(key))?.size
    if (size === undefined) throw new ObjectNotFoundError(key, `object not found: ${key} in ${this.url}`)
    const [start, end] = resolveRange(key, range, size)
    const explicit: ByteRange = { start, end: end - 1 }
    const second = await this.getObject(key, explicit, rangeHeader(explicit))
    const retried = second.empty ? undefined : this.rangeAnswer(key, explicit, second)
    if (retried && retried.size === size) return retried
    throw new StoreRangeMismatchError(
      key,
      `the store answered a ranged read wrongly: ${this.where(key)} asked for ${asked}, got ${describeAnswer(first)}; ` +
        `asked again for ${rangeHeader(explicit)}, got ${describeAnswer(second)}. The object is not at fault: ` +
        `the S3-compatible server${this.endpoint ? ` at ${this.endpoint}` : ''} does not serve byte ranges correctly`,
    )
  }

  /** The bytes the range asked for, or undefined when the answer does not match the request. */
  private rangeAnswer(key: string, range: ByteRange, answer: RawGet): GetResult | undefined {
    if (answer.contentRange) {
      const { start, end, total } = answer.contentRange
      let want: [number, number]
      try {
        want = resolveRange(key, range, total)
      } catch {
        return undefined
      }
      // More than asked is fine when the answer says truthfully which bytes it holds (one server sends the whole
      // object for bytes=0-0); other bytes than asked, or a body that is not what Content-Range says, is not.
      if (answer.body.length !== end - start + 1 || start > want[0] || end + 1 < want[1]) return undefined
      const body =
        start === want[0] && end + 1 === want[1] ? answer.body : answer.body.subarray(want[0] - start, want[1] - start)
      return { body, etag: answer.etag, size: total }
    }
    // A 200 without Content-Range is the whole object (HTTP lets a server ignore Range): cut the range out of it.
    if (answer.status === 200 && answer.total === undefined) {
      const [start, end] = resolveRange(key, range, answer.body.length)
      return { body: answer.body.subarray(start, end), etag: answer.etag, size: answer.body.length }
    }
    return undefined
  }

  private async getObject(key: string, range: ByteRange | undefined, header?: string): Promise<RawGet> {
    try {
      const { client, sdk } = await this.s3()
      const res = await client.send(
        new sdk.GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          ...(header ? { Range: header } : {}),
        }),
      )
      const body = await collectBody(res.Body, res.ContentLength)
      const contentRange = parseContentRange(res.ContentRange)
      const total = contentRange?.total ?? totalOf(res.ContentRange)
      return {
        body,
        etag: res.ETag ?? '',
        status: res.$metadata.httpStatusCode,
        contentRange,
        rawContentRange: res.ContentRange,
        total,
        empty: false,
      }
    } catch (err) {
      if (range && statusOf(err) === 416) {
        // S3 refuses any range on an empty object; the other stores read it as empty.
        const info = await this.head(key)
        if (info?.size === 0) return { body: Buffer.alloc(0), etag: info.etag, status: 416, total: 0, empty: true }
        throw rangeNotSatisfiable(key, range, info?.size)
      }
      throw this.mapError('read', key, err)
    }
  }

  private where(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    validateKey(key)
    try {
      const { client, sdk } = await this.s3()
      const res = await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }))
      return { key, size: res.ContentLength ?? 0, etag: res.ETag ?? '' }
    } catch (err) {
      // HEAD responses have no body, so a missing bucket looks like a missing key here; get/put/list tell them apart.
      if (statusOf(err) === 404) return undefined
      throw this.mapError('head', key, err)
    }
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    validateKey(key)
    if (body.length > this.multipartThreshold) return this.putMultipart(key, body, options)
    return this.putObject(key, body, options, {})
  }

  async putIfAbsent(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    validateKey(key)
    return this.putObject(key, body, options, { IfNoneMatch: '*' })
  }

  async putIfMatch(key: string, body: Uint8Array, etag: string, options?: PutOptions): Promise<{ etag: string }> {
    validateKey(key)
    if (typeof etag !== 'string' || etag === '') {
      throw new InvalidArgumentError(
        `putIfMatch on ${key} needs the etag last read from it, got ${JSON.stringify(etag)}`,
      )
    }
    return this.putObject(key, body, options, { IfMatch: etag })
  }

  async delete(key: string): Promise<void> {
    validateKey(key)
    try {
      const { client, sdk } = await this.s3()
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }))
    } catch (err) {
      if (statusOf(err) === 404 && errorName(err) !== 'NoSuchBucket') return
      throw this.mapError('delete', key, err)
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix)
    let token: string | undefined
    do {
      let res
      try {
        const { client, sdk } = await this.s3()
        res = await client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.pageSize,
            ...(token
              ? { ContinuationToken: token }
              : options.startAfter !== undefined
                ? { StartAfter: this.prefix + options.startAfter }
                : {}),
          }),
        )
      } catch (err) {
        throw this.mapError('list', prefix, err)
      }
      for (const obj of res.Contents ?? []) {
        if (obj.Key === undefined) continue
        yield {
          key: obj.Key.slice(this.prefix.length),
          size: obj.Size ?? 0,
          etag: obj.ETag ?? '',
          ...(obj.LastModified ? { lastModified: obj.LastModified } : {}),
        }
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined
    } while (token)
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    validatePrefix(prefix)
    const out: string[] = []
    let token: string | undefined
    do {
      let res
      try {
        const { client, sdk } = await this.s3()
        res = await client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            Delimiter: '/',
            MaxKeys: this.pageSize,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        )
      } catch (err) {
        throw this.mapError('list', prefix, err)
      }
      for (const p of res.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix.slice(this.prefix.length))
      token = res.IsTruncated ? res.NextContinuationToken : undefined
    } while (token)
    return out.sort(compareKeys)
  }

  async close(): Promise<void> {
    this.created?.destroy()
  }

  private async putObject(
    key: string,
    body: Uint8Array,
    options: PutOptions | undefined,
    condition: { IfNoneMatch?: string; IfMatch?: string },
  ): Promise<{ etag: string }> {
    try {
      const { client, sdk } = await this.s3()
      const res = await client.send(
        new sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: body,
          ContentLength: body.length,
          ...(options?.contentType ? { ContentType: options.contentType } : {}),
          ...this.putParams,
          ...condition,
        }),
      )
      return { etag: res.ETag ?? '' }
    } catch (err) {
      const status = statusOf(err)
      const conditional = condition.IfMatch !== undefined || condition.IfNoneMatch !== undefined
      if (conditional && attemptsOf(err) > 1 && (status === 412 || status === 409 || status === 404)) {
        // An earlier attempt may have succeeded with its answer lost, and the retry then lost against our own
        // write. If the object now holds exactly our bytes, that is what happened (or someone wrote the very same
        // state): report success rather than a false fencing.
        const mine = await this.ownWrite(key, body)
        if (mine) return mine
      }
      if (conditional && (status === 412 || status === 409 || errorName(err) === 'ConditionalRequestConflict')) {
        const why =
          condition.IfNoneMatch !== undefined
            ? `${key} already exists in ${this.url}`
            : `${key} in ${this.url} changed or is gone (expected etag ${condition.IfMatch})`
        throw new PreconditionFailedError(key, `conditional write failed: ${why}`, { cause: err })
      }
      // If-Match on a missing object is a 404 on AWS: for a compare-and-swap it is a lost race like any other.
      if (condition.IfMatch !== undefined && status === 404 && errorName(err) !== 'NoSuchBucket') {
        throw new PreconditionFailedError(key, `conditional write failed: ${key} no longer exists in ${this.url}`, {
          cause: err,
        })
      }
      throw this.mapError('write', key, err)
    }
  }

  private async ownWrite(key: string, body: Uint8Array): Promise<{ etag: string } | undefined> {
    try {
      const current = await this.get(key)
      return Buffer.from(body.buffer, body.byteOffset, body.byteLength).equals(current.body)
        ? { etag: current.etag }
        : undefined
    } catch {
      return undefined
    }
  }

  private async putMultipart(
    key: string,
    body: Uint8Array,
    options: PutOptions | undefined,
  ): Promise<{ etag: string }> {
    const { client, sdk } = await this.s3()
    const upload = new sdk.Upload({
      client,
      partSize: this.partSize,
      queueSize: 4,
      leavePartsOnError: false,
      params: {
        Bucket: this.bucket,
        Key: this.prefix + key,
        Body: body,
        ...(options?.contentType ? { ContentType: options.contentType } : {}),
        ...this.putParams,
      },
    })
    try {
      const res = await upload.done()
      return { etag: res.ETag ?? '' }
    } catch (err) {
      throw this.mapError('write', key, err)
    }
  }

  /** Turns an SDK or network error into a typed Everlog error naming the object; never includes credentials. */
  private mapError(op: string, key: string, err: unknown): EverlogError {
    if (err instanceof EverlogError) return err
    const status = statusOf(err)
    const name = errorName(err) ?? 'Error'
    const where = `s3://${this.bucket}/${this.prefix}${key}`
    const detail = status === undefined ? name : `${name}, HTTP ${status}`
    if (name === 'NoSuchBucket') {
      return new BucketNotFoundError(
        this.bucket,
        `cannot ${op} ${where}: bucket "${this.bucket}" does not exist (check the store URL, the endpoint and the region)`,
        { cause: err },
      )
    }
    if (name === 'NoSuchKey' || (status === 404 && op === 'read')) {
      return new ObjectNotFoundError(key, `object not found: ${key} in ${this.url}`, { cause: err })
    }
    if (status === 403 || ACCESS_DENIED.has(name)) {
      return new StoreAccessDeniedError(
        `cannot ${op} ${where}: access denied (${detail}); check the credentials and the bucket policy`,
        { cause: err },
      )
    }
    if (status === 416) return new InvalidArgumentError(`cannot ${op} ${where}: invalid byte range`, { cause: err })
    const retriable = status === undefined || status >= 500 || status === 429 || THROTTLING.has(name)
    return new StoreUnavailableError(`cannot ${op} ${where}: ${detail}${messageOf(err)}`, { cause: err, retriable })
  }
}

interface RawGet {
  body: Buffer
  etag: string
  status: number | undefined
  contentRange?: { start: number; end: number; total: number }
  rawContentRange?: string | undefined
  /** Size of the whole object when the answer says it. */
  total: number | undefined
  /** An empty object, which S3 answers with 416 to any range. */
  empty: boolean
}

/** `bytes START-END/TOTAL`; undefined for anything else (absent, unsatisfied, garbage). */
function parseContentRange(value: string | undefined): { start: number; end: number; total: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value?.trim() ?? '')
  if (!m) return undefined
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])]
  return end >= start && end < total ? { start, end, total } : undefined
}

function totalOf(value: string | undefined): number | undefined {
  const total = /\/(\d+)$/.exec(value ?? '')
  return total ? Number(total[1]) : undefined
}

function describeAnswer(answer: RawGet): string {
  const range = answer.rawContentRange ? `Content-Range "${answer.rawContentRange}"` : 'no Content-Range'
  return `HTTP ${answer.status ?? '?'} with ${range} and ${answer.body.length} bytes`
}

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'AllAccessDisabled',
])
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed'])

function clientConfig(options: S3StoreOptions): S3ClientConfig {
  const endpoint = options.endpoint ?? env('AWS_ENDPOINT_URL_S3') ?? env('AWS_ENDPOINT_URL')
  const region = options.region ?? env('AWS_REGION') ?? env('AWS_DEFAULT_REGION')
  return {
    // Without a region anywhere (env or profile), fall back to us-east-1 instead of failing every request.
    region: region ?? profileRegionOr('us-east-1'),
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    requestHandler: {
      requestTimeout: options.requestTimeoutMs ?? 120_000,
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      throwOnRequestTimeout: true,
    },
  }
}

/** The region from the shared AWS config/profile as the SDK resolves it, or the fallback when there is none. */
function profileRegionOr(fallback: string): () => Promise<string> {
  let resolved: Promise<string> | undefined
  return () =>
    (resolved ??= (async () => {
      const probe = new (await loadSdk()).S3Client({})
      try {
        return await probe.config.region()
      } catch {
        return fallback
      } finally {
        probe.destroy()
      }
    })())
}

function env(name: string): string | undefined {
  const value = process.env[name]
  return value === undefined || value === '' ? undefined : value
}

/**
 * A GET's body as one Buffer. With a Content-Length, each chunk is copied into one buffer of that size as it
 * arrives and can be collected at once, so an object's bytes are held once; the SDK's own collector
 * (transformToByteArray) keeps every chunk until the end and then copies them into a second buffer, holding twice
 * the object at its peak, for every segment a reader prefetches.
 */
export async function collectBody(body: unknown, length: number | undefined): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0)
  const chunks = body as Partial<AsyncIterable<Uint8Array>> & { transformToByteArray?: () => Promise<Uint8Array> }
  if (length === undefined || typeof chunks[Symbol.asyncIterator] !== 'function') {
    const bytes = await chunks.transformToByteArray!()
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  const out = Buffer.allocUnsafe(length)
  let at = 0
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    // HTTP/1.1 framing makes these impossible from a sound server; a retry reads the object again.
    if (at + chunk.byteLength > length) throw bodyLengthMismatch(length, 'more')
    out.set(chunk, at)
    at += chunk.byteLength
  }
  if (at !== length) throw bodyLengthMismatch(length, `${at}`)
  return out
}

function bodyLengthMismatch(length: number, got: string): Error {
  const err = new Error(`the response body held ${got} bytes where Content-Length said ${length}`)
  err.name = 'ResponseBodyLengthMismatch'
  return err
}

function statusOf(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata
  return meta?.httpStatusCode
}

function attemptsOf(err: unknown): number {
  const meta = (err as { $metadata?: { attempts?: number } } | null)?.$metadata
  return meta?.attempts ?? 1
}

function errorName(err: unknown): string | undefined {
  const e = err as { name?: unknown; Code?: unknown; code?: unknown } | null
  if (typeof e?.Code === 'string') return e.Code
  if (typeof e?.name === 'string' && e.name !== 'Error') return e.name
  if (typeof e?.code === 'string') return e.code
  return undefined
}

function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message
  if (typeof message !== 'string' || message === '' || message === 'UnknownError') return ''
  return `: ${message}`
}

type Sdk = typeof S3Sdk & Pick<typeof LibStorage, 'Upload'>

let sdk: Promise<Sdk> | undefined

function loadSdk(): Promise<Sdk> {
  return (sdk ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(([s3, storage]) => ({
    ...s3,
    Upload: storage.Upload,
  })))
}

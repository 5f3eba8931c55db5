// HEAD, the only mutable object of a partition: canonical JSON encoding, strict parsing, and reading it with its etag.
import { FormatError, ObjectNotFoundError, UnsupportedFormatVersionError } from './errors.js'
import type { Head } from './index/types.js'
import { FORMAT_VERSION, READABLE_FORMAT_VERSIONS, headKey } from './layout.js'
import type { ObjectStore } from './store/types.js'

/** A HEAD as read from the store: the etag is what the next conditional write must match. */
export interface HeadRead {
  head: Head
  etag: string
}

/** The HEAD of a partition before anything was committed: what a writer resumes from when no HEAD exists. */
export function emptyHead(writer: string): Head {
  return {
    format: FORMAT_VERSION,
    root: null,
    nextOffset: 0n,
    firstOffset: null,
    records: 0,
    bytes: 0,
    segments: 0,
    gaps: 0,
    minTimestamp: null,
    maxTimestamp: null,
    writer,
  }
}

const big = (v: bigint | null): string | null => (v === null ? null : v.toString())

/** Canonical bytes: fixed key order, bigints as decimal strings, so equal HEADs are equal bytes. */
export function encodeHead(head: Head): Uint8Array {
  const json = {
    format: head.format,
    root: head.root,
    nextOffset: head.nextOffset.toString(),
    firstOffset: big(head.firstOffset),
    records: head.records,
    bytes: head.bytes,
    segments: head.segments,
    gaps: head.gaps,
    minTimestamp: big(head.minTimestamp),
    maxTimestamp: big(head.maxTimestamp),
    writer: head.writer,
  }
  return Buffer.from(JSON.stringify(json) + '\n', 'utf8')
}

const HASH = /^[0-9a-f]{64}$/
const DECIMAL = /^-?(0|[1-9][0-9]{0,19})$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * Parses and validates HEAD bytes. `key` only names the object in error messages.
 * @throws FormatError for anything that is not a well-formed HEAD, UnsupportedFormatVersionError for a newer format.
 */
export function parseHead(bytes: Uint8Array, key = 'HEAD'): Head {
  const fail = (what: string): never => {
    throw new FormatError(`${key} is not a valid Everlog HEAD: ${what}`)
  }
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    throw new FormatError(`${key} is not a valid Everlog HEAD: not JSON (${(err as Error).message})`, { cause: err })
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('expected a JSON object')
  const o = json as Record<string, unknown>

  if (typeof o.format !== 'number' || !Number.isInteger(o.format)) return fail('"format" must be an integer')
  if (!READABLE_FORMAT_VERSIONS.includes(o.format)) {
    throw new UnsupportedFormatVersionError(
      `${key} has format version ${o.format}; this Everlog reads versions ${READABLE_FORMAT_VERSIONS.join(', ')}` +
        (o.format > FORMAT_VERSION ? ' (upgrade Everlog to read it)' : ''),
    )
  }
  const int64 = (field: string, nullable: boolean): bigint | null => {
    const v = o[field]
    if (v === null && nullable) return null
    if (typeof v !== 'string' || !DECIMAL.test(v)) {
      return fail(`"${field}" must be a decimal string${nullable ? ' or null' : ''}, got ${JSON.stringify(v)}`)
    }
    const n = BigInt(v)
    if (n < INT64_MIN || n > INT64_MAX) return fail(`"${field}" is out of the int64 range`)
    return n
  }
  const count = (field: string): number => {
    const v = o[field]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      return fail(`"${field}" must be a non-negative integer, got ${JSON.stringify(v)}`)
    }
    return v
  }
  const root = o.root
  if (root !== null && (typeof root !== 'string' || !HASH.test(root))) {
    return fail('"root" must be null or a lowercase hex sha256')
  }
  if (typeof o.writer !== 'string') return fail('"writer" must be a string')

  const head: Head = {
    format: o.format,
    root,
    nextOffset: int64('nextOffset', false)!,
    firstOffset: int64('firstOffset', true),
    records: count('records'),
    bytes: count('bytes'),
    segments: count('segments'),
    gaps: count('gaps'),
    minTimestamp: int64('minTimestamp', true),
    maxTimestamp: int64('maxTimestamp', true),
    writer: o.writer,
  }
  if (head.nextOffset < 0n) fail('"nextOffset" must be >= 0')
  if (head.firstOffset !== null && (head.firstOffset < 0n || head.firstOffset >= head.nextOffset)) {
    fail(`"firstOffset" ${head.firstOffset} must be >= 0 and below nextOffset ${head.nextOffset}`)
  }
  if ((root === null) !== (head.firstOffset === null)) fail('"root" and "firstOffset" must be both null or both set')
  if (root === null && (head.records || head.bytes || head.segments || head.gaps)) {
    fail('an empty HEAD (root null) must have zero records, bytes, segments and gaps')
  }
  if ((head.minTimestamp === null) !== (head.maxTimestamp === null)) {
    fail('"minTimestamp" and "maxTimestamp" must be both null or both set')
  }
  if ((head.segments === 0) !== (head.minTimestamp === null)) {
    fail('timestamps must be set exactly when the partition has segments')
  }
  if (head.minTimestamp !== null && head.maxTimestamp !== null && head.minTimestamp > head.maxTimestamp) {
    fail('"minTimestamp" is after "maxTimestamp"')
  }
  return head
}

/** Reads a partition's HEAD; undefined when the partition has none yet. */
export async function readHead(store: ObjectStore, topic: string, partition: number): Promise<HeadRead | undefined> {
  const key = headKey(topic, partition)
  let got
  try {
    got = await store.get(key)
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined
    throw err
  }
  return { head: parseHead(got.body, key), etag: got.etag }
}

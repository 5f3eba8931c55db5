// The manifest of one partition's offset map: its chunks in source-offset order and the restore's resume point.
// It is the only mutable object of a map and is replaced with conditional writes, like a partition's HEAD.
import { FormatError, ObjectNotFoundError, UnsupportedFormatVersionError } from '../errors.js'
import { FORMAT_VERSION, READABLE_FORMAT_VERSIONS } from '../layout.js'
import type { ObjectStore } from '../store/types.js'
import { offsetMapManifestKey } from './layout.js'

export interface OffsetMapChunkRef {
  /** Object key of the chunk (content addressed: `<firstSource20>-<sha256>.parquet`). */
  key: string
  sha256: string
  bytes: number
  records: number
  firstSourceOffset: bigint
  lastSourceOffset: bigint
  firstTargetOffset: bigint
  lastTargetOffset: bigint
}

export interface OffsetMapManifest {
  format: number
  sourceTopic: string
  targetTopic: string
  partition: number
  /**
   * Every source offset below this was restored (or was a hole, e.g. compacted away): the restore resumes here.
   * Records the map does not list below it were never in the archive's range.
   */
  sourceNext: bigint
  /** The target partition's offset right after the last record the map accounts for. */
  targetNext: bigint
  /** The first source offset the restore was asked for; offsets below it map to the first restored record. */
  sourceStart: bigint
  /** Total entries over all chunks. */
  records: number
  chunks: OffsetMapChunkRef[]
  /** Who wrote it last, e.g. "everlog-restore@host:pid". */
  writer: string
  /** ISO time of the last update. */
  updatedAt: string
}

export interface OffsetMapManifestRead {
  manifest: OffsetMapManifest
  etag: string
}

const s = (v: bigint) => v.toString()

export function encodeOffsetMapManifest(m: OffsetMapManifest): Uint8Array {
  const json = {
    format: m.format,
    sourceTopic: m.sourceTopic,
    targetTopic: m.targetTopic,
    partition: m.partition,
    sourceStart: s(m.sourceStart),
    sourceNext: s(m.sourceNext),
    targetNext: s(m.targetNext),
    records: m.records,
    writer: m.writer,
    updatedAt: m.updatedAt,
    chunks: m.chunks.map((c) => ({
      key: c.key,
      sha256: c.sha256,
      bytes: c.bytes,
      records: c.records,
      firstSourceOffset: s(c.firstSourceOffset),
      lastSourceOffset: s(c.lastSourceOffset),
      firstTargetOffset: s(c.firstTargetOffset),
      lastTargetOffset: s(c.lastTargetOffset),
    })),
  }
  return Buffer.from(JSON.stringify(json) + '\n', 'utf8')
}

const DECIMAL = /^(0|[1-9][0-9]{0,18})$/
const HASH = /^[0-9a-f]{64}$/

export function parseOffsetMapManifest(bytes: Uint8Array, key: string): OffsetMapManifest {
  const fail = (msg: string): never => {
    throw new FormatError(`${key} is not a valid offset map manifest: ${msg}`)
  }
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    throw new FormatError(`${key} is not valid JSON (${(err as Error).message})`, { cause: err })
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('expected a JSON object')
  const o = json as Record<string, unknown>
  if (typeof o.format !== 'number' || !READABLE_FORMAT_VERSIONS.includes(o.format)) {
    if (typeof o.format === 'number') {
      throw new UnsupportedFormatVersionError(
        `${key} has format version ${o.format}; this Everlog reads versions ${READABLE_FORMAT_VERSIONS.join(', ')}`,
      )
    }
    fail('"format" must be an integer')
  }
  const offset = (obj: Record<string, unknown>, field: string): bigint => {
    const v = obj[field]
    if (typeof v !== 'string' || !DECIMAL.test(v)) return fail(`"${field}" must be a decimal string`)
    return BigInt(v)
  }
  const count = (obj: Record<string, unknown>, field: string): number => {
    const v = obj[field]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(`"${field}" must be an integer >= 0`)
    return v
  }
  const str = (obj: Record<string, unknown>, field: string): string => {
    const v = obj[field]
    if (typeof v !== 'string') return fail(`"${field}" must be a string`)
    return v
  }
  if (!Array.isArray(o.chunks)) fail('"chunks" must be an array')
  const chunks = (o.chunks as unknown[]).map((c, i): OffsetMapChunkRef => {
    if (typeof c !== 'object' || c === null) return fail(`chunk ${i} must be an object`)
    const co = c as Record<string, unknown>
    const sha256 = str(co, 'sha256')
    if (!HASH.test(sha256)) fail(`chunk ${i} has no valid sha256`)
    return {
      key: str(co, 'key'),
      sha256,
      bytes: count(co, 'bytes'),
      records: count(co, 'records'),
      firstSourceOffset: offset(co, 'firstSourceOffset'),
      lastSourceOffset: offset(co, 'lastSourceOffset'),
      firstTargetOffset: offset(co, 'firstTargetOffset'),
      lastTargetOffset: offset(co, 'lastTargetOffset'),
    }
  })
  const m: OffsetMapManifest = {
    format: o.format as number,
    sourceTopic: str(o, 'sourceTopic'),
    targetTopic: str(o, 'targetTopic'),
    partition: count(o, 'partition'),
    sourceStart: offset(o, 'sourceStart'),
    sourceNext: offset(o, 'sourceNext'),
    targetNext: offset(o, 'targetNext'),
    records: count(o, 'records'),
    writer: str(o, 'writer'),
    updatedAt: str(o, 'updatedAt'),
    chunks,
  }
  let prev: OffsetMapChunkRef | undefined
  for (const c of chunks) {
    if (c.firstSourceOffset > c.lastSourceOffset || c.firstTargetOffset > c.lastTargetOffset) {
      fail(`chunk ${c.key} has inverted offset bounds`)
    }
    if (prev && (c.firstSourceOffset <= prev.lastSourceOffset || c.firstTargetOffset <= prev.lastTargetOffset)) {
      fail(`chunk ${c.key} overlaps the chunk before it`)
    }
    prev = c
  }
  if (prev && (m.sourceNext <= prev.lastSourceOffset || m.targetNext <= prev.lastTargetOffset)) {
    fail('"sourceNext"/"targetNext" must lie after the last chunk')
  }
  return m
}

export async function readOffsetMapManifest(
  store: ObjectStore,
  targetTopic: string,
  sourceTopic: string,
  partition: number,
): Promise<OffsetMapManifestRead | undefined> {
  const key = offsetMapManifestKey(targetTopic, sourceTopic, partition)
  try {
    const got = await store.get(key)
    return { manifest: parseOffsetMapManifest(got.body, key), etag: got.etag }
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined
    throw err
  }
}

export function newOffsetMapManifest(init: {
  sourceTopic: string
  targetTopic: string
  partition: number
  sourceStart: bigint
  targetNext: bigint
  writer: string
}): OffsetMapManifest {
  return {
    format: FORMAT_VERSION,
    sourceTopic: init.sourceTopic,
    targetTopic: init.targetTopic,
    partition: init.partition,
    sourceStart: init.sourceStart,
    sourceNext: init.sourceStart,
    targetNext: init.targetNext,
    records: 0,
    chunks: [],
    writer: init.writer,
    updatedAt: new Date().toISOString(),
  }
}

// Canonical bytes of an index node: a 4-byte magic, then the node in Avro binary encoding of NODE_SCHEMA. The
// node's key is the sha256 of these bytes, so the same node always encodes to the same bytes, and the decoder
// treats its input as hostile: every count and length is bounded by the bytes left, so garbage costs O(bytes).
import { FormatError, InvalidArgumentError, UnsupportedFormatVersionError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { FORMAT_VERSION, READABLE_FORMAT_VERSIONS } from '../layout.js'
import type { ChildEntry, GapEntry, IndexNode, LeafEntry, SegmentEntry } from './types.js'

/** 'ELIX' (EverLog IndeX): tells an index node from any other object before the Avro payload is read. */
export const NODE_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x45, 0x4c, 0x49, 0x58)

/** No node may hold more entries than this, whatever the fan-out (it bounds what a decoder accepts). */
export const MAX_NODE_ENTRIES = 65536
/** 2^64 nodes of fan-out 2 would not fill this many levels. */
export const MAX_NODE_LEVEL = 64

/**
 * The Avro schema of the payload after NODE_MAGIC. Longs are int64 (offsets and timestamps up to 2^63-1 are
 * exact); a leaf (level 0) fills `entries` and leaves `children` empty, an internal node the reverse.
 */
export const NODE_SCHEMA = {
  type: 'record',
  name: 'IndexNode',
  namespace: 'everlog.index',
  fields: [
    { name: 'format', type: 'int' },
    { name: 'level', type: 'int' },
    {
      name: 'entries',
      type: {
        type: 'array',
        items: [
          {
            type: 'record',
            name: 'SegmentEntry',
            fields: [
              { name: 'firstOffset', type: 'long' },
              { name: 'lastOffset', type: 'long' },
              { name: 'records', type: 'long' },
              { name: 'bytes', type: 'long' },
              { name: 'minTimestamp', type: 'long' },
              { name: 'maxTimestamp', type: 'long' },
              { name: 'key', type: 'string' },
            ],
          },
          {
            type: 'record',
            name: 'GapEntry',
            fields: [
              { name: 'firstOffset', type: 'long' },
              { name: 'lastOffset', type: 'long' },
              { name: 'reason', type: 'string' },
            ],
          },
        ],
      },
    },
    {
      name: 'children',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'ChildEntry',
          fields: [
            { name: 'firstOffset', type: 'long' },
            { name: 'lastOffset', type: 'long' },
            { name: 'records', type: 'long' },
            { name: 'bytes', type: 'long' },
            { name: 'segments', type: 'long' },
            { name: 'gaps', type: 'long' },
            { name: 'minTimestamp', type: ['null', 'long'] },
            { name: 'maxTimestamp', type: ['null', 'long'] },
            { name: 'hash', type: { type: 'fixed', name: 'Sha256', size: 32 } },
          ],
        },
      },
    },
  ],
} as const

export interface EncodedNode {
  /** sha256 of `bytes`: the node's address. */
  hash: string
  bytes: Uint8Array
  node: IndexNode
}

const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n
const SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const HALF_SAFE = 1n << 52n
const HASH_HEX = /^[0-9a-f]{64}$/
// The smallest encodings of one array item: a gap (union index, two longs, empty string) and a child entry.
const MIN_LEAF_ENTRY_BYTES = 4
const MIN_CHILD_ENTRY_BYTES = 40

type Fail = (message: string) => never

// ---------------------------------------------------------------------------------------------------------------
// Validation shared by the encoder (a caller's bug: InvalidArgumentError) and the decoder (bad bytes: FormatError).

function checkLeafEntries(entries: readonly LeafEntry[], fail: Fail): void {
  let previousLast = -1n
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    if (typeof e.firstOffset !== 'bigint' || typeof e.lastOffset !== 'bigint') fail(`entry ${i} offsets are not bigint`)
    if (e.firstOffset < 0n || e.firstOffset > e.lastOffset) {
      fail(`entry ${i} has offsets ${e.firstOffset}..${e.lastOffset}; expected 0 <= firstOffset <= lastOffset`)
    }
    if (e.firstOffset <= previousLast) {
      fail(`entry ${i} starts at offset ${e.firstOffset}, not after the previous entry's last offset ${previousLast}`)
    }
    previousLast = e.lastOffset
    if (e.kind === 'segment') {
      if (typeof e.minTimestamp !== 'bigint' || typeof e.maxTimestamp !== 'bigint' || typeof e.key !== 'string') {
        fail(`segment entry ${i} needs bigint timestamps and a string key`)
      }
      checkCount(e.records, `entry ${i} records`, fail)
      checkCount(e.bytes, `entry ${i} bytes`, fail)
      if (BigInt(e.records) > e.lastOffset - e.firstOffset + 1n) {
        fail(`entry ${i} claims ${e.records} records in offsets ${e.firstOffset}..${e.lastOffset}`)
      }
      if (e.minTimestamp > e.maxTimestamp) {
        fail(`entry ${i} has minTimestamp ${e.minTimestamp} > maxTimestamp ${e.maxTimestamp}`)
      }
    } else if (e.kind !== 'gap' || typeof e.reason !== 'string') {
      fail(`entry ${i} is neither a segment nor a gap with a string reason`)
    }
  }
}

function checkChildren(children: readonly ChildEntry[], fail: Fail): void {
  let previousLast = -1n
  for (let i = 0; i < children.length; i++) {
    const c = children[i]!
    if (typeof c.firstOffset !== 'bigint' || typeof c.lastOffset !== 'bigint') fail(`child ${i} offsets are not bigint`)
    if (c.firstOffset < 0n || c.firstOffset > c.lastOffset) {
      fail(`child ${i} has offsets ${c.firstOffset}..${c.lastOffset}; expected 0 <= firstOffset <= lastOffset`)
    }
    if (c.firstOffset <= previousLast) {
      fail(`child ${i} starts at offset ${c.firstOffset}, not after the previous child's last offset ${previousLast}`)
    }
    previousLast = c.lastOffset
    checkCount(c.records, `child ${i} records`, fail)
    checkCount(c.bytes, `child ${i} bytes`, fail)
    checkCount(c.segments, `child ${i} segments`, fail)
    checkCount(c.gaps, `child ${i} gaps`, fail)
    if (c.segments + c.gaps < 1) fail(`child ${i} covers no entries`)
    for (const t of [c.minTimestamp, c.maxTimestamp]) {
      if (t !== null && typeof t !== 'bigint') fail(`child ${i} timestamps must be bigint or null`)
    }
    const hasTimestamps = c.segments > 0
    if ((c.minTimestamp !== null) !== hasTimestamps || (c.maxTimestamp !== null) !== hasTimestamps) {
      fail(`child ${i} timestamps must be set exactly when it holds segments`)
    }
    if (c.minTimestamp !== null && c.maxTimestamp !== null && c.minTimestamp > c.maxTimestamp) {
      fail(`child ${i} has minTimestamp ${c.minTimestamp} > maxTimestamp ${c.maxTimestamp}`)
    }
    if (typeof c.hash !== 'string' || !HASH_HEX.test(c.hash)) {
      fail(`child ${i} hash ${JSON.stringify(c.hash)} is not 64 lowercase hex digits`)
    }
  }
}

function checkCount(n: number, what: string, fail: Fail): void {
  if (!Number.isSafeInteger(n) || n < 0) fail(`${what} is ${n}; expected an integer 0..2^53-1`)
}

// ---------------------------------------------------------------------------------------------------------------
// Encoder

class Writer {
  buf: Buffer
  pos = 0
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size)
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }
  /** Avro long: zigzag, then base-128 varint, least significant group first. */
  long(v: bigint): void {
    if (v >= -HALF_SAFE && v <= HALF_SAFE) {
      this.number(Number(v))
      return
    }
    if (v < INT64_MIN || v > INT64_MAX) throw new InvalidArgumentError(`value ${v} does not fit a 64-bit long`)
    this.ensure(10)
    const buf = this.buf
    let z = v >= 0n ? v << 1n : (-v << 1n) - 1n
    while (z >= 128n) {
      buf[this.pos++] = Number(z & 0x7fn) | 0x80
      z >>= 7n
    }
    buf[this.pos++] = Number(z)
  }
  /** The same encoding for |n| <= 2^52, where the zigzag value is still exact in a double. */
  number(n: number): void {
    this.ensure(8)
    let z = n >= 0 ? n * 2 : -n * 2 - 1
    while (z >= 128) {
      this.buf[this.pos++] = (z % 128) | 0x80
      z = Math.floor(z / 128)
    }
    this.buf[this.pos++] = z
  }
  small(n: number): void {
    this.number(n)
  }
  count(n: number): void {
    if (n <= 2 ** 52) this.number(n)
    else this.long(BigInt(n))
  }
  string(s: string): void {
    const len = Buffer.byteLength(s)
    this.small(len)
    this.ensure(len)
    this.pos += this.buf.write(s, this.pos, 'utf8')
  }
  fixedHex(hex: string): void {
    this.ensure(32)
    this.pos += this.buf.write(hex, this.pos, 'hex')
  }
}

const encodeFail: Fail = (message) => {
  throw new InvalidArgumentError(`cannot encode index node: ${message}`)
}

/** Encodes a node canonically and computes its address. @throws InvalidArgumentError for a malformed node */
export function encodeNode(node: IndexNode): EncodedNode {
  if (!Number.isInteger(node.level) || node.level < 0 || node.level > MAX_NODE_LEVEL) {
    encodeFail(`level ${node.level} is not an integer 0..${MAX_NODE_LEVEL}`)
  }
  if (node.format !== FORMAT_VERSION) encodeFail(`format ${node.format}; this writer only writes ${FORMAT_VERSION}`)
  const w = new Writer(node.level === 0 ? 4096 : 1024)
  w.ensure(NODE_MAGIC.length)
  w.buf.set(NODE_MAGIC, 0)
  w.pos = NODE_MAGIC.length
  w.small(node.format)
  w.small(node.level)
  const level: number = node.level
  if ('entries' in node) {
    const entries = node.entries
    if (level !== 0) encodeFail(`a node with entries must be level 0, not ${level}`)
    if (entries.length < 1 || entries.length > MAX_NODE_ENTRIES) {
      encodeFail(`a leaf holds 1..${MAX_NODE_ENTRIES} entries, not ${entries.length}`)
    }
    checkLeafEntries(entries, encodeFail)
    w.count(entries.length)
    for (const e of entries) {
      if (e.kind === 'segment') {
        w.small(0)
        w.long(e.firstOffset)
        w.long(e.lastOffset)
        w.count(e.records)
        w.count(e.bytes)
        w.long(e.minTimestamp)
        w.long(e.maxTimestamp)
        w.string(e.key)
      } else if (e.kind === 'gap') {
        w.small(1)
        w.long(e.firstOffset)
        w.long(e.lastOffset)
        w.string(e.reason)
      } else {
        encodeFail(`entry kind ${JSON.stringify((e as { kind: unknown }).kind)} is neither segment nor gap`)
      }
    }
    w.small(0)
    w.small(0) // no children
  } else {
    const children = node.children
    if (level === 0) encodeFail('a level-0 node must hold entries, not children')
    if (children.length < 1 || children.length > MAX_NODE_ENTRIES) {
      encodeFail(`an internal node holds 1..${MAX_NODE_ENTRIES} children, not ${children.length}`)
    }
    checkChildren(children, encodeFail)
    w.small(0) // no entries
    w.count(children.length)
    for (const c of children) {
      w.long(c.firstOffset)
      w.long(c.lastOffset)
      w.count(c.records)
      w.count(c.bytes)
      w.count(c.segments)
      w.count(c.gaps)
      if (c.minTimestamp === null) w.small(0)
      else {
        w.small(1)
        w.long(c.minTimestamp)
      }
      if (c.maxTimestamp === null) w.small(0)
      else {
        w.small(1)
        w.long(c.maxTimestamp)
      }
      w.fixedHex(c.hash)
    }
    w.small(0)
  }
  const bytes = new Uint8Array(w.buf.buffer, w.buf.byteOffset, w.pos).slice()
  return { hash: sha256Hex(bytes), bytes, node }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoder

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

class Reader {
  pos: number
  constructor(
    readonly buf: Uint8Array,
    start: number,
  ) {
    this.pos = start
  }
  fail(message: string): never {
    throw new FormatError(`index node is malformed at byte ${this.pos}: ${message}`)
  }
  get remaining(): number {
    return this.buf.length - this.pos
  }
  /** An Avro long; rejects overlong encodings so that exactly one byte string decodes to each node. */
  long(): bigint {
    const buf = this.buf
    const start = this.pos
    let b = 0
    let f = 0
    let scale = 1
    let i = 0
    // Up to 7 groups (49 bits) stay exact in a double.
    for (; i < 7; i++) {
      if (this.pos >= buf.length) this.fail('truncated number')
      b = buf[this.pos++]!
      f += (b & 0x7f) * scale
      scale *= 128
      if ((b & 0x80) === 0) break
    }
    let z: bigint
    if (i < 7) {
      z = BigInt(f)
    } else {
      z = BigInt(f)
      let shift = 49n
      for (;;) {
        if (this.pos >= buf.length) this.fail('truncated number')
        if (this.pos - start >= 10) this.fail('number longer than 10 bytes')
        b = buf[this.pos++]!
        z |= BigInt(b & 0x7f) << shift
        shift += 7n
        if ((b & 0x80) === 0) break
      }
      if (z >= 1n << 64n) this.fail('number does not fit 64 bits')
    }
    if (b === 0 && this.pos - start > 1) this.fail('non-canonical number encoding')
    return z & 1n ? -((z + 1n) >> 1n) : z >> 1n
  }
  small(min: number, max: number, what: string): number {
    const v = this.long()
    if (v < BigInt(min) || v > BigInt(max)) this.fail(`${what} ${v} is outside ${min}..${max}`)
    return Number(v)
  }
  count(what: string): number {
    const v = this.long()
    if (v < 0n || v > SAFE) this.fail(`${what} ${v} is outside 0..2^53-1`)
    return Number(v)
  }
  string(what: string): string {
    const len = this.long()
    if (len < 0n || len > BigInt(this.remaining))
      this.fail(`${what} length ${len} exceeds the ${this.remaining} bytes left`)
    const n = Number(len)
    const start = this.pos
    this.pos += n
    try {
      return utf8.decode(this.buf.subarray(start, start + n))
    } catch (err) {
      this.pos = start
      return this.fail(`${what} is not valid UTF-8 (${(err as Error).message})`)
    }
  }
  fixedHex(): string {
    if (this.remaining < 32) this.fail('truncated hash')
    const hex = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 32).toString('hex')
    this.pos += 32
    return hex
  }
  arrayCount(minItemBytes: number, what: string): number {
    const n = this.long()
    // Avro allows negative (sized) and several blocks; the canonical writer never emits them.
    if (n < 0n) this.fail(`${what} block count ${n}: only one positive block is canonical`)
    if (n > BigInt(MAX_NODE_ENTRIES)) this.fail(`${what} count ${n} exceeds ${MAX_NODE_ENTRIES}`)
    if (n * BigInt(minItemBytes) > BigInt(this.remaining)) {
      this.fail(`${what} count ${n} cannot fit in the ${this.remaining} bytes left`)
    }
    return Number(n)
  }
  endArray(what: string): void {
    if (this.long() !== 0n) this.fail(`${what}: only one block is canonical`)
  }
}

const decodeFail: Fail = (message) => {
  throw new FormatError(`index node is invalid: ${message}`)
}

/**
 * Decodes and validates a node. Accepts the current format version and the one before.
 * @throws FormatError for anything that is not a well-formed node (never a crash, hang or large allocation)
 * @throws UnsupportedFormatVersionError for a well-framed node of a format this reader does not know
 */
export function decodeNode(bytes: Uint8Array): IndexNode {
  if (!(bytes instanceof Uint8Array)) throw new FormatError('index node must be bytes')
  if (bytes.length < NODE_MAGIC.length + 4) throw new FormatError(`index node is too short (${bytes.length} bytes)`)
  for (let i = 0; i < NODE_MAGIC.length; i++) {
    if (bytes[i] !== NODE_MAGIC[i]) throw new FormatError('not an index node: the magic bytes do not match')
  }
  const r = new Reader(bytes, NODE_MAGIC.length)
  const format = r.small(1, 0x7fffffff, 'format')
  if (!READABLE_FORMAT_VERSIONS.includes(format)) {
    throw new UnsupportedFormatVersionError(
      `index node format ${format} is not readable by this version (reads ${READABLE_FORMAT_VERSIONS.join(', ')}); upgrade Everlog`,
    )
  }
  const level = r.small(0, MAX_NODE_LEVEL, 'level')
  let node: IndexNode
  const entryCount = r.arrayCount(MIN_LEAF_ENTRY_BYTES, 'entries')
  if (level === 0) {
    if (entryCount === 0) r.fail('a leaf must hold at least one entry')
    const entries: LeafEntry[] = new Array(entryCount)
    for (let i = 0; i < entryCount; i++) {
      const branch = r.small(0, 1, 'entry kind')
      const firstOffset = r.long()
      const lastOffset = r.long()
      if (branch === 0) {
        const records = r.count('records')
        const bytesCount = r.count('bytes')
        const minTimestamp = r.long()
        const maxTimestamp = r.long()
        const key = r.string('segment key')
        const e: SegmentEntry = {
          kind: 'segment',
          firstOffset,
          lastOffset,
          records,
          bytes: bytesCount,
          minTimestamp,
          maxTimestamp,
          key,
        }
        entries[i] = e
      } else {
        const e: GapEntry = { kind: 'gap', firstOffset, lastOffset, reason: r.string('gap reason') }
        entries[i] = e
      }
    }
    r.endArray('entries')
    if (r.arrayCount(MIN_CHILD_ENTRY_BYTES, 'children') !== 0) r.fail('a leaf must not hold children')
    checkLeafEntries(entries, decodeFail)
    node = { format, level: 0, entries }
  } else {
    if (entryCount !== 0) r.fail(`a level-${level} node must not hold leaf entries`)
    const childCount = r.arrayCount(MIN_CHILD_ENTRY_BYTES, 'children')
    if (childCount === 0) r.fail('an internal node must hold at least one child')
    const children: ChildEntry[] = new Array(childCount)
    for (let i = 0; i < childCount; i++) {
      const firstOffset = r.long()
      const lastOffset = r.long()
      const records = r.count('records')
      const bytesCount = r.count('bytes')
      const segments = r.count('segments')
      const gaps = r.count('gaps')
      const minTimestamp = r.small(0, 1, 'union branch') === 0 ? null : r.long()
      const maxTimestamp = r.small(0, 1, 'union branch') === 0 ? null : r.long()
      const hash = r.fixedHex()
      children[i] = {
        firstOffset,
        lastOffset,
        records,
        bytes: bytesCount,
        segments,
        gaps,
        minTimestamp,
        maxTimestamp,
        hash,
      }
    }
    r.endArray('children')
    checkChildren(children, decodeFail)
    node = { format, level, children }
  }
  if (r.remaining !== 0) r.fail(`${r.remaining} unexpected bytes after the node`)
  return node
}

// The index node codec: canonical round trips, byte-for-byte agreement with avsc on NODE_SCHEMA, and hostile input.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import avro from 'avsc'
import fc from 'fast-check'
import { decodeNode, encodeNode, MAX_NODE_ENTRIES, NODE_MAGIC, NODE_SCHEMA } from '../src/index/codec.js'
import type { ChildEntry, IndexNode, LeafEntry } from '../src/index/types.js'
import { ErrorCodes, EverlogError, FormatError, InvalidArgumentError } from '../src/errors.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const runs = (bounded: number) => (LONG ? bounded * 20 : bounded)

const INT64_MAX = (1n << 63n) - 1n
const int64 = fc.bigInt({ min: -(1n << 63n), max: INT64_MAX })
const count = fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))

// Offsets are laid out from (start, span) pairs so that entries are ordered and disjoint, as the format requires.
function layout(start: bigint, spans: readonly bigint[]): [bigint, bigint][] {
  const out: [bigint, bigint][] = []
  let next = start
  for (const s of spans) {
    out.push([next, next + s])
    next += s + 1n
  }
  return out
}

const spanArb = fc.oneof(fc.bigInt({ min: 0n, max: 10n }), fc.bigInt({ min: 0n, max: 1n << 40n }))

const leafArb: fc.Arbitrary<IndexNode> = fc
  .tuple(
    fc.bigInt({ min: 0n, max: 1n << 60n }),
    fc.array(
      fc.tuple(
        spanArb,
        fc.boolean(),
        fc.tuple(int64, int64),
        fc.nat(50),
        count,
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme' })),
      ),
      { minLength: 1, maxLength: 20 },
    ),
  )
  .map(([start, items]) => {
    const ranges = layout(
      start,
      items.map((i) => i[0]),
    )
    const entries: LeafEntry[] = items.map(([, gap, [t1, t2], records, bytes, text], i) => {
      const [firstOffset, lastOffset] = ranges[i]!
      if (gap) return { kind: 'gap', firstOffset, lastOffset, reason: text }
      const n = BigInt(records) > lastOffset - firstOffset + 1n ? 1 : records
      const [minTimestamp, maxTimestamp] = t1 <= t2 ? [t1, t2] : [t2, t1]
      return {
        kind: 'segment',
        firstOffset,
        lastOffset,
        records: n,
        bytes,
        minTimestamp,
        maxTimestamp,
        key: text || 'k',
      }
    })
    return { format: 1, level: 0, entries }
  })

const internalArb: fc.Arbitrary<IndexNode> = fc
  .tuple(
    fc.integer({ min: 1, max: 10 }),
    fc.bigInt({ min: 0n, max: 1n << 60n }),
    fc.array(fc.tuple(spanArb, count, count, fc.nat(300), fc.nat(3), fc.tuple(int64, int64), hashArb), {
      minLength: 1,
      maxLength: 20,
    }),
  )
  .map(([level, start, items]) => {
    const ranges = layout(
      start,
      items.map((i) => i[0]),
    )
    const children: ChildEntry[] = items.map(([, records, bytes, segments, gaps, [t1, t2], hash], i) => {
      const [firstOffset, lastOffset] = ranges[i]!
      const g = segments === 0 && gaps === 0 ? 1 : gaps
      const [lo, hi] = t1 <= t2 ? [t1, t2] : [t2, t1]
      return {
        firstOffset,
        lastOffset,
        records,
        bytes,
        segments,
        gaps: g,
        minTimestamp: segments > 0 ? lo : null,
        maxTimestamp: segments > 0 ? hi : null,
        hash,
      }
    })
    return { format: 1, level, children }
  })

const nodeArb = fc.oneof(leafArb, internalArb)

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

/** Only typed, documented errors may come out of decodeNode. */
function decodesOrFormatError(bytes: Uint8Array): IndexNode | undefined {
  try {
    return decodeNode(bytes)
  } catch (err) {
    assert.ok(err instanceof EverlogError, `decodeNode threw a non-Everlog error: ${String(err)}`)
    assert.ok(
      err.code === ErrorCodes.FORMAT || err.code === ErrorCodes.UNSUPPORTED_FORMAT_VERSION,
      `decodeNode threw ${err.code}`,
    )
    return undefined
  }
}

test('decodeNode(encodeNode(node)) is the node, and re-encoding gives the same bytes and hash', () => {
  fc.assert(
    fc.property(nodeArb, (node) => {
      const enc = encodeNode(node)
      assert.equal(enc.hash, sha256(enc.bytes))
      assert.deepEqual([...enc.bytes.subarray(0, 4)], [...NODE_MAGIC])
      const back = decodeNode(enc.bytes)
      assert.deepEqual(back, node)
      const again = encodeNode(back)
      assert.equal(again.hash, enc.hash)
      assert.deepEqual(again.bytes, enc.bytes)
    }),
    { numRuns: runs(300) },
  )
})

// A bigint long for avsc, so the cross-check covers the full int64 range.
const bigintLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(0),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8)
    buf.writeBigInt64LE(n)
    return buf
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => n.toString(),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
})
const avscType = avro.Type.forSchema(NODE_SCHEMA as unknown as avro.Schema, {
  registry: { long: bigintLong },
  wrapUnions: true,
})

function toAvsc(node: IndexNode): unknown {
  const entries = 'entries' in node ? node.entries : []
  const children = 'children' in node ? node.children : []
  return {
    format: node.format,
    level: node.level,
    entries: entries.map((e) =>
      e.kind === 'segment'
        ? {
            'everlog.index.SegmentEntry': {
              firstOffset: e.firstOffset,
              lastOffset: e.lastOffset,
              records: BigInt(e.records),
              bytes: BigInt(e.bytes),
              minTimestamp: e.minTimestamp,
              maxTimestamp: e.maxTimestamp,
              key: e.key,
            },
          }
        : { 'everlog.index.GapEntry': { firstOffset: e.firstOffset, lastOffset: e.lastOffset, reason: e.reason } },
    ),
    children: children.map((c) => ({
      firstOffset: c.firstOffset,
      lastOffset: c.lastOffset,
      records: BigInt(c.records),
      bytes: BigInt(c.bytes),
      segments: BigInt(c.segments),
      gaps: BigInt(c.gaps),
      minTimestamp: c.minTimestamp === null ? null : { long: c.minTimestamp },
      maxTimestamp: c.maxTimestamp === null ? null : { long: c.maxTimestamp },
      hash: Buffer.from(c.hash, 'hex'),
    })),
  }
}

test('the payload after the magic is exactly what avsc writes for NODE_SCHEMA (other Avro readers can read it)', () => {
  fc.assert(
    fc.property(nodeArb, (node) => {
      const enc = encodeNode(node)
      const expected = avscType.toBuffer(toAvsc(node))
      assert.deepEqual(Buffer.from(enc.bytes.subarray(NODE_MAGIC.length)), expected)
      assert.deepEqual(
        avscType.fromBuffer(Buffer.from(enc.bytes.subarray(NODE_MAGIC.length))),
        avscType.fromBuffer(expected),
      )
    }),
    { numRuns: runs(200) },
  )
})

test('random bytes only ever give FormatError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (tail, withMagic) => {
      const bytes = withMagic ? Buffer.concat([NODE_MAGIC, Uint8Array.of(2, 0), tail]) : tail
      const node = decodesOrFormatError(bytes)
      // Anything that does decode must be canonical: re-encoding gives back the very same bytes.
      if (node) assert.deepEqual(encodeNode(node).bytes, new Uint8Array(bytes))
    }),
    { numRuns: runs(2000) },
  )
})

type Mutation =
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
)

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = m.at % (bytes.length + 1)
  switch (m.op) {
    case 'set': {
      const out = bytes.slice()
      if (at < out.length) out[at] = m.value
      return out
    }
    case 'truncate':
      return bytes.slice(0, at)
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)])
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)])
  }
}

test('mutated nodes decode to a canonical node or fail with FormatError, never a crash', () => {
  let rejected = 0
  fc.assert(
    fc.property(nodeArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (node, mutations) => {
      let bytes = encodeNode(node).bytes
      for (const m of mutations) bytes = mutate(bytes, m)
      const back = decodesOrFormatError(bytes)
      if (back) assert.deepEqual(Buffer.from(encodeNode(back).bytes), Buffer.from(bytes))
      else rejected++
    }),
    { numRuns: runs(2000) },
  )
  assert.ok(rejected > 1000, `only ${rejected} mutated nodes were rejected`)
})

/** Avro zigzag varint of a bigint, written by hand so hostile encodings can be built. */
function varint(v: bigint): number[] {
  let z = v >= 0n ? v << 1n : (-v << 1n) - 1n
  const out: number[] = []
  while (z >= 128n) {
    out.push(Number(z & 0x7fn) | 0x80)
    z >>= 7n
  }
  out.push(Number(z))
  return out
}

test('hostile counts, lengths and numbers fail fast with FormatError instead of allocating or looping', () => {
  const head = [...NODE_MAGIC, ...varint(1n)]
  const cases: [string, number[]][] = [
    ['2^31 leaf entries', [...head, ...varint(0n), ...varint(2n ** 31n), 1, 2, 3]],
    ['2^62 leaf entries', [...head, ...varint(0n), ...varint(2n ** 62n), 1, 2, 3]],
    ['more entries than a node may hold', [...head, ...varint(0n), ...varint(BigInt(MAX_NODE_ENTRIES + 1))]],
    ['1000 entries in 3 bytes', [...head, ...varint(0n), ...varint(1000n), 0, 0, 0]],
    ['negative block count', [...head, ...varint(0n), ...varint(-3n), ...varint(100n), 0, 0, 0]],
    ['2^40 children', [...head, ...varint(1n), 0, ...varint(2n ** 40n), ...new Array(100).fill(0)]],
    [
      'a 2^40-byte segment key',
      [...head, ...varint(0n), ...varint(1n), 0, 0, 2, 2, 0, 0, 0, ...varint(2n ** 40n), 97, 98, 0, 0],
    ],
    ['an 11-byte number', [...head, ...new Array(10).fill(0xff), 0x01, 0, 0, 0]],
    ['a number past 2^64', [...head, ...new Array(9).fill(0xff), 0x7f, 0, 0, 0]],
    ['an overlong zero', [...NODE_MAGIC, 0x82, 0x00, 0, 0, 0]],
    ['level 2^40', [...head, ...varint(2n ** 40n), 0, 0, 0]],
    ['trailing bytes', [...encodeNode({ format: 1, level: 0, entries: [gapAt(0n)] }).bytes, 0]],
    ['invalid UTF-8 in a gap reason', [...head, ...varint(0n), ...varint(1n), 2, 0, 0, 2, 0xc3, 0x28, 0, 0]],
    ['union branch 2', [...head, ...varint(0n), ...varint(1n), 4, 0, 0, 0, 0, 0]],
    ['a leaf with no entries', [...head, ...varint(0n), 0, 0]],
    ['an internal node with no children', [...head, ...varint(1n), 0, 0]],
    ['not an index node', [0x50, 0x41, 0x52, 0x31, 0, 0, 0, 0]],
    ['empty', []],
  ]
  for (const [what, bytes] of cases) {
    const started = performance.now()
    assert.throws(() => decodeNode(Uint8Array.from(bytes)), FormatError, what)
    assert.ok(performance.now() - started < 50, `${what} took ${performance.now() - started} ms`)
  }
  // A newer format is a different error: the bytes may be fine, this reader is too old.
  assert.throws(
    () => decodeNode(Uint8Array.from([...NODE_MAGIC, ...varint(2n), 0, 0, 0])),
    (err: unknown) => err instanceof EverlogError && err.code === ErrorCodes.UNSUPPORTED_FORMAT_VERSION,
  )
})

function gapAt(offset: bigint): LeafEntry {
  return { kind: 'gap', firstOffset: offset, lastOffset: offset, reason: 'retention' }
}

test('encodeNode refuses nodes a reader would reject, with InvalidArgumentError', () => {
  const child: ChildEntry = {
    firstOffset: 0n,
    lastOffset: 9n,
    records: 3,
    bytes: 10,
    segments: 1,
    gaps: 0,
    minTimestamp: 1n,
    maxTimestamp: 2n,
    hash: 'a'.repeat(64),
  }
  const bad: [string, IndexNode][] = [
    ['empty leaf', { format: 1, level: 0, entries: [] }],
    ['unordered entries', { format: 1, level: 0, entries: [gapAt(5n), gapAt(5n)] }],
    ['negative offset', { format: 1, level: 0, entries: [gapAt(-1n)] }],
    ['offset past int64', { format: 1, level: 0, entries: [gapAt(1n << 63n)] }],
    ['unknown format', { format: 7, level: 0, entries: [gapAt(1n)] }],
    ['leaf entries at level 1', { format: 1, level: 1, entries: [gapAt(1n)] } as unknown as IndexNode],
    ['children at level 0', { format: 1, level: 0, children: [child] } as unknown as IndexNode],
    ['upper-case hash', { format: 1, level: 1, children: [{ ...child, hash: 'A'.repeat(64) }] }],
    ['short hash', { format: 1, level: 1, children: [{ ...child, hash: 'ab' }] }],
    ['timestamps on a gap-only child', { format: 1, level: 1, children: [{ ...child, segments: 0, gaps: 1 }] }],
    ['fractional records', { format: 1, level: 1, children: [{ ...child, records: 1.5 }] }],
    ['overlapping children', { format: 1, level: 1, children: [child, child] }],
  ]
  for (const [what, node] of bad) assert.throws(() => encodeNode(node), InvalidArgumentError, what)
})

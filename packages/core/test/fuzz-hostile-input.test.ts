// Hostile bytes in the bucket: random and structure-aware mutations of segments (Thrift footer values, lengths,
// truncation), HEAD, everlog.json and topic.json. Each must fail with a typed Everlog error (or parse), never hang,
// crash the process, or allocate without bound; and a corrupted object is always caught by its hash.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { describeTopic, parseDescriptor, parseTopicMeta } from '../src/catalog.js'
import { EverlogError, FormatError, IntegrityError, UnsupportedFormatVersionError } from '../src/errors.js'
import { encodeHead, parseHead } from '../src/head.js'
import type { Head } from '../src/index/types.js'
import type { ArchiveRecord } from '../src/record.js'
import { decodeSegment } from '../src/segment/decode.js'
import { encodeSegment } from '../src/segment/encode.js'
import { decodeThriftStruct, encodeThriftStruct } from '../src/segment/thrift.js'
import type { TStruct, TValue } from '../src/segment/thrift.js'
import { MemoryStore } from '../src/store/memory.js'
import { verifyArchive } from '../src/verify.js'

const LONG = process.env.EVERLOG_LONG_TESTS === '1'
const RUNS = LONG ? 5000 : 300

/** The only acceptable ways to refuse hostile bytes. */
function typed(err: unknown): boolean {
  return err instanceof FormatError || err instanceof UnsupportedFormatVersionError
}

function expectTypedOrValue<T>(fn: () => T): T | undefined {
  try {
    return fn()
  } catch (err) {
    assert.ok(typed(err), `untyped failure: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
    return undefined
  }
}

const records: ArchiveRecord[] = Array.from({ length: 300 }, (_, i) => ({
  offset: 1000n + BigInt(i * 2),
  timestamp: 1_700_000_000_000n + BigInt(i),
  key: i % 5 === 0 ? null : Buffer.from(`key-${i}`),
  value: i % 7 === 0 ? null : Buffer.from('v'.repeat(i % 50)),
  headers: i % 3 === 0 ? [['h', Buffer.from(`x${i}`)]] : [],
}))
const segment = encodeSegment(records, { topic: 'orders', partition: 2, rowGroupBytes: 1500 })
const bytes = Buffer.from(segment.bytes)
const footerLen = bytes.readUInt32LE(bytes.length - 8)
const dataEnd = bytes.length - 8 - footerLen
const footer = decodeThriftStruct(bytes.subarray(dataEnd, bytes.length - 8))

/** A file whose data part is the original and whose footer is `meta`. */
function withFooter(meta: TStruct): Buffer {
  const f = Buffer.from(encodeThriftStruct(meta))
  const tail = Buffer.alloc(8)
  tail.writeUInt32LE(f.length, 0)
  tail.write('PAR1', 4)
  return Buffer.concat([bytes.subarray(0, dataEnd), f, tail])
}

type Slot = { get: () => TValue; set: (v: TValue) => void; remove?: () => void }

/** Every value in the footer tree with a way to replace it (and to drop it, for struct fields and list items). */
function slots(v: TValue, out: Slot[] = []): Slot[] {
  if (typeof v !== 'object' || v instanceof Uint8Array) return out
  if (v.kind === 'struct') {
    for (const f of v.fields) {
      out.push({
        get: () => f.value,
        set: (x) => (f.value = x),
        remove: () => v.fields.splice(v.fields.indexOf(f), 1),
      })
      slots(f.value, out)
    }
  } else if (v.kind === 'list') {
    v.items.forEach((item, i) => {
      out.push({
        get: () => v.items[i]!,
        set: (x) => (v.items[i] = x),
        remove: () => v.items.splice(i, 1),
      })
      slots(item, out)
    })
  } else {
    for (const e of v.entries) slots(e[1], out)
  }
  return out
}

const interestingInts = [0n, 1n, -1n, 3n, 4n, 127n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 53n + 1n, 2n ** 63n - 1n]
const footerMutation = fc.record({
  at: fc.nat(),
  how: fc.constantFrom('int', 'bytes', 'remove', 'duplicate', 'empty-list'),
  int: fc.oneof(fc.constantFrom(...interestingInts), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
  bytes: fc.uint8Array({ maxLength: 40 }),
})

describe('segment reader (decodeSegment, footer and Thrift parser)', () => {
  test('structure-aware footer mutations: records or FormatError, never a crash or an untyped error', () => {
    let refused = 0
    fc.assert(
      fc.property(fc.array(footerMutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const meta = structuredClone(footer)
        for (const m of mutations) {
          const all = slots(meta)
          const slot = all[m.at % all.length]!
          const cur = slot.get()
          if (m.how === 'int' && typeof cur === 'bigint') slot.set(m.int)
          else if (m.how === 'bytes' && cur instanceof Uint8Array) slot.set(m.bytes)
          else if (m.how === 'remove') slot.remove?.()
          else if (
            m.how === 'duplicate' &&
            typeof cur === 'object' &&
            !(cur instanceof Uint8Array) &&
            cur.kind === 'list'
          )
            cur.items.push(...cur.items)
          else if (
            m.how === 'empty-list' &&
            typeof cur === 'object' &&
            !(cur instanceof Uint8Array) &&
            cur.kind === 'list'
          )
            cur.items.length = 0
        }
        const file = withFooter(meta)
        if (expectTypedOrValue(() => decodeSegment(file)) === undefined) refused++
        if (!file.equals(bytes)) {
          assert.throws(() => decodeSegment(file, { expectedSha256: segment.sha256 }), IntegrityError)
        }
      }),
      { numRuns: RUNS, seed: 11 },
    )
    assert.ok(refused > 0)
  })

  test('byte-level mutations and truncations anywhere: records or FormatError; the hash catches every change', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        b: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
      fc.record({ kind: fc.constant('footer-length' as const), len: fc.nat() }),
    )
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        let b = Buffer.from(bytes)
        for (const m of ms) {
          if (b.length === 0) break
          const at = 'at' in m ? m.at % b.length : 0
          if (m.kind === 'flip') b[at]! ^= m.xor
          else if (m.kind === 'truncate') b = b.subarray(0, at)
          else if (m.kind === 'cut') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)])
          else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.b, b.subarray(at)])
          else if (b.length >= 8) b.writeUInt32LE(m.len % 2 ** 32, b.length - 8)
        }
        expectTypedOrValue(() => decodeSegment(b))
        if (!b.equals(bytes)) assert.throws(() => decodeSegment(b, { expectedSha256: segment.sha256 }), IntegrityError)
      }),
      { numRuns: RUNS, seed: 12 },
    )
  })

  test('random Thrift bytes: FormatError or a struct, quickly, even when sizes claim gigabytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expectTypedOrValue(() => decodeThriftStruct(b))
      }),
      { numRuns: RUNS * 3, seed: 13 },
    )
    // A binary field claiming 2^62 bytes, a list claiming 2^31 items, and 100 000 nested structs.
    const hostile = [
      Uint8Array.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]),
      Uint8Array.from([0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07]),
      new Uint8Array(100_000).fill(0x1c),
    ]
    for (const h of hostile) {
      const started = Date.now()
      assert.throws(() => decodeThriftStruct(h), FormatError)
      assert.ok(Date.now() - started < 1000)
    }
  })
})

const head: Head = {
  format: 1,
  root: 'a'.repeat(64),
  nextOffset: 100n,
  firstOffset: 0n,
  records: 90,
  bytes: 5000,
  segments: 3,
  gaps: 1,
  minTimestamp: 5n,
  maxTimestamp: 9n,
  writer: 'archiver@h:1',
}

const jsonValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 30 }),
  fc.constantFrom('-1', '9223372036854775808', '0x10', '01', '1e3', ' 5', 'a'.repeat(64), 'A'.repeat(64)),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
)

describe('HEAD, everlog.json and topic.json parsers', () => {
  test('parseHead: mutated fields give a Head that round-trips, or FormatError / UnsupportedFormatVersionError', () => {
    const base = JSON.parse(Buffer.from(encodeHead(head)).toString()) as Record<string, unknown>
    const fields = [...Object.keys(base), '__proto__', 'constructor', 'extra']
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...fields), fc.option(jsonValue, { nil: undefined })), (changes) => {
        const o: Record<string, unknown> = { ...base }
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined) delete o[k]
          else Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true })
        }
        const parsed = expectTypedOrValue(() =>
          parseHead(Buffer.from(JSON.stringify(o)), 'orders/index/partition=0/HEAD'),
        )
        if (parsed) {
          assert.deepEqual(parseHead(encodeHead(parsed)), parsed)
          assert.ok(parsed.nextOffset >= 0n)
          assert.ok(parsed.firstOffset === null || parsed.firstOffset < parsed.nextOffset)
          assert.equal(Object.getPrototypeOf(parsed), Object.prototype)
        }
      }),
      { numRuns: RUNS * 2, seed: 21 },
    )
  })

  test('parseHead, parseDescriptor, parseTopicMeta: arbitrary bytes and JSON never fail untyped', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.string().map((s) => Buffer.from(s)),
    )
    fc.assert(
      fc.property(input, (b) => {
        expectTypedOrValue(() => parseHead(b))
        expectTypedOrValue(() => parseDescriptor(b))
        expectTypedOrValue(() => parseTopicMeta(b, 'orders/topic.json'))
      }),
      { numRuns: RUNS * 3, seed: 22 },
    )
  })

  test('parseTopicMeta: hostile field values give FormatError naming the object, or sane metadata', () => {
    const base = {
      format: 1,
      topic: 'orders',
      partitions: 3,
      cleanupPolicy: 'delete',
      configs: { 'retention.ms': '1' },
    }
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(
            'format',
            'topic',
            'partitions',
            'cleanupPolicy',
            'topicId',
            'configs',
            'schemaHints',
            '__proto__',
          ),
          jsonValue,
        ),
        (changes) => {
          const o: Record<string, unknown> = { ...base }
          for (const [k, v] of Object.entries(changes)) {
            Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true })
          }
          try {
            const meta = parseTopicMeta(Buffer.from(JSON.stringify(o)), 'orders/topic.json')
            assert.ok(Number.isSafeInteger(meta.partitions) && meta.partitions >= 0)
            for (const v of Object.values(meta.configs ?? {})) assert.equal(typeof v, 'string')
            assert.ok(meta.topicId === undefined || typeof meta.topicId === 'string')
          } catch (err) {
            assert.ok(typed(err), String(err))
            assert.match((err as Error).message, /orders\/topic\.json/)
          }
        },
      ),
      { numRuns: RUNS * 2, seed: 23 },
    )
  })

  test('a topic.json claiming two billion partitions cannot make describe or verify hang or run out of memory', async () => {
    const store = new MemoryStore()
    await store.put('everlog.json', Buffer.from('{"format":1}\n'))
    await store.put(
      'orders/topic.json',
      Buffer.from(JSON.stringify({ format: 1, topic: 'orders', partitions: 2 ** 31 - 1 })),
    )
    const started = Date.now()
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await fn()
      } catch (err) {
        assert.ok(err instanceof EverlogError, String(err))
      }
    }
    await check(() => describeTopic(store, 'orders'))
    const v = await verifyArchive(store)
    assert.equal(v.ok, false, 'verify must flag the implausible topic.json')
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
  })
})

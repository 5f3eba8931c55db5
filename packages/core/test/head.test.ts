import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FormatError, UnsupportedFormatVersionError } from '../src/errors.js'
import { emptyHead, encodeHead, parseHead, readHead } from '../src/head.js'
import type { Head } from '../src/index/types.js'
import { headKey } from '../src/layout.js'
import { MemoryStore } from '../src/store/memory.js'

const full: Head = {
  format: 1,
  root: 'ab'.repeat(32),
  nextOffset: 9_223_372_036_854_775_807n,
  firstOffset: 5n,
  records: 1234,
  bytes: 99_000,
  segments: 3,
  gaps: 1,
  minTimestamp: -5n,
  maxTimestamp: 1_700_000_000_000n,
  writer: 'archiver@host:42',
}

test('HEAD round-trips through canonical JSON with bigints as decimal strings', () => {
  const bytes = encodeHead(full)
  const text = Buffer.from(bytes).toString()
  assert.match(text, /"nextOffset":"9223372036854775807"/)
  assert.match(text, /"minTimestamp":"-5"/)
  assert.deepEqual(parseHead(bytes), full)
  // Canonical: re-encoding the parsed value gives the same bytes.
  assert.deepEqual(Buffer.from(encodeHead(parseHead(bytes))), Buffer.from(bytes))
  assert.deepEqual(parseHead(encodeHead(emptyHead('w'))), emptyHead('w'))
})

test('parseHead rejects malformed HEADs with a FormatError naming the field', () => {
  const base = JSON.parse(Buffer.from(encodeHead(full)).toString())
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, nextOffset: 5 }, /"nextOffset" must be a decimal string/],
    [{ ...base, nextOffset: '01' }, /"nextOffset"/],
    [{ ...base, nextOffset: '9223372036854775808' }, /int64/],
    [{ ...base, records: -1 }, /"records"/],
    [{ ...base, bytes: 1.5 }, /"bytes"/],
    [{ ...base, root: 'xyz' }, /"root"/],
    [{ ...base, writer: 7 }, /"writer"/],
    [{ ...base, firstOffset: '9223372036854775807' }, /"firstOffset"/],
    [{ ...base, root: null }, /both null or both set/],
    [{ ...base, minTimestamp: null }, /both null or both set/],
    [{ ...base, minTimestamp: '10', maxTimestamp: '9' }, /after/],
    [{ ...base, format: 'one' }, /"format"/],
  ]
  for (const [obj, re] of cases) {
    assert.throws(
      () => parseHead(Buffer.from(JSON.stringify(obj)), 't/index/partition=0/HEAD'),
      (err: unknown) => {
        assert.ok(err instanceof FormatError, String(err))
        assert.match(err.message, /t\/index\/partition=0\/HEAD/)
        assert.match(err.message, re)
        return true
      },
    )
  }
  assert.throws(() => parseHead(Buffer.from('{"format":1,')), FormatError)
  assert.throws(() => parseHead(Buffer.from('[]')), FormatError)
  assert.throws(() => parseHead(Buffer.from([0xff, 0x00, 0x12])), FormatError)
})

test('parseHead refuses a newer format version with UnsupportedFormatVersionError', () => {
  const obj = { ...JSON.parse(Buffer.from(encodeHead(full)).toString()), format: 99 }
  assert.throws(
    () => parseHead(Buffer.from(JSON.stringify(obj))),
    (err: unknown) => {
      assert.ok(err instanceof UnsupportedFormatVersionError)
      assert.match(err.message, /version 99/)
      assert.match(err.message, /upgrade/)
      return true
    },
  )
})

test('readHead returns the HEAD with its etag, undefined when absent, FormatError when corrupt', async () => {
  const store = new MemoryStore()
  assert.equal(await readHead(store, 'orders', 0), undefined)
  const { etag } = await store.put(headKey('orders', 0), encodeHead(full))
  assert.deepEqual(await readHead(store, 'orders', 0), { head: full, etag })
  await store.put(headKey('orders', 1), Buffer.from('garbage'))
  await assert.rejects(readHead(store, 'orders', 1), /orders\/index\/partition=1\/HEAD is not a valid Everlog HEAD/)
})

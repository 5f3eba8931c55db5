import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeRowGroupColumns, encodeSegment, parseFooter, recordsToColumns } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { ArchiveMessages, MessageBatch, toKafkaMessages } from '../src/message.js'

const toKafkaMessage = (r: ArchiveRecord) => toKafkaMessages(recordsToColumns([r]), 0)[0]!

const rec = (offset: bigint, headers: ArchiveRecord['headers'] = []): ArchiveRecord => ({
  offset,
  timestamp: 1_700_000_000_123n,
  key: offset % 2n === 0n ? Buffer.from(`k${offset}`) : null,
  value: Buffer.from(`v${offset}`),
  headers,
})

test('a record becomes a kafkajs message with string offset and timestamp and the same Buffers', () => {
  const r = rec(9_007_199_254_740_993n, [['trace', Buffer.from('abc')]])
  const m = toKafkaMessage(r)
  assert.equal(m.offset, '9007199254740993')
  assert.equal(m.timestamp, '1700000000123')
  assert.equal(m.key, null)
  assert.equal(m.value, r.value)
  assert.equal(m.attributes, 0)
  assert.deepEqual(m.headers, { trace: Buffer.from('abc') })
})

test('headers fold like kafkajs: repeated keys become arrays in order, null values stay null', () => {
  const h = toKafkaMessage(
    rec(1n, [
      ['a', Buffer.from('1')],
      ['b', null],
      ['a', null],
      ['a', Buffer.from('3')],
    ]),
  ).headers
  assert.deepEqual(h, { a: [Buffer.from('1'), null, Buffer.from('3')], b: null })
  assert.deepEqual(toKafkaMessage(rec(2n)).headers, {})
})

test('messages from columns: every int64 size and sign as kafkajs strings, rows from `from` on, kafkajs field order', () => {
  const offsets = [0n, 1n, 4_294_967_295n, 4_294_967_296n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n - 1n]
  const timestamps = [-1n, 0n, -4_294_967_297n, 1_700_000_000_000n, -(2n ** 53n) - 3n, 2n ** 62n, -(2n ** 63n)]
  const records = offsets.map((offset, i) => ({
    ...rec(offset, i % 2 === 0 ? [['h', Buffer.from(String(i))]] : []),
    timestamp: timestamps[i]!,
  }))
  const messages = toKafkaMessages(recordsToColumns(records), 2)
  assert.deepEqual(
    messages.map((m) => [m.offset, m.timestamp]),
    records.slice(2).map((r) => [r.offset.toString(), r.timestamp.toString()]),
  )
  assert.deepEqual(
    messages.map((m) => m.headers),
    records.slice(2).map((r) => Object.fromEntries(r.headers)),
  )
  assert.equal(messages[0]!.value, records[2]!.value, 'the same Buffer, not a copy')
  assert.deepEqual(Object.keys(messages[0]!), [
    'magicByte',
    'attributes',
    'timestamp',
    'offset',
    'key',
    'value',
    'headers',
    'isControlRecord',
    'batchContext',
  ])
})

test('decoded columns (Buffers made on demand) give the same messages, one at a time or all at once', () => {
  const records = Array.from({ length: 50 }, (_, i) =>
    rec(
      1000n + BigInt(i),
      i % 3 === 0
        ? []
        : [
            ['a', Buffer.from(`x${i}`)],
            ['b', null],
            ['a', Buffer.from('again')],
          ],
    ),
  )
  const { bytes } = encodeSegment(records, { topic: 't', partition: 0 })
  const layout = parseFooter(bytes, bytes.length, 'seg')
  const rg = layout.rowGroups[0]!
  const decoded = decodeRowGroupColumns(layout, 0, bytes.subarray(rg.byteStart, rg.byteEnd), 'seg')
  assert.ok(decoded.bytes, 'the native decoder keeps byte arrays as positions')
  const expected = toKafkaMessages(recordsToColumns(records), 4)
  assert.deepEqual(toKafkaMessages(decoded, 4), expected)
  const lazy = new ArchiveMessages(decoded, 4)
  assert.equal(lazy.length, expected.length)
  for (let j = 0; j < lazy.length; j++) assert.deepEqual(lazy.at(j), expected[j])
})

test('batch helpers compute offsets and lag as kafkajs does', () => {
  const messages = [rec(10n), rec(12n), rec(15n)].map(toKafkaMessage)
  const b = new MessageBatch('t', 3, '40', messages)
  assert.equal(b.isEmpty(), false)
  assert.equal(b.firstOffset(), '10')
  assert.equal(b.lastOffset(), '15')
  assert.equal(b.offsetLag(), '24')
  assert.equal(b.offsetLagLow(), '29')

  const empty = new MessageBatch('t', 3, '40', [])
  assert.equal(empty.isEmpty(), true)
  assert.equal(empty.firstOffset(), null)
  assert.equal(empty.lastOffset(), '39')
  assert.equal(empty.offsetLag(), '0')
  assert.equal(empty.offsetLagLow(), '0')

  // The tail of a live batch keeps the live batch's end (control records after the last message).
  const tail = new MessageBatch('t', 3, '40', messages.slice(1), '17')
  assert.equal(tail.firstOffset(), '12')
  assert.equal(tail.lastOffset(), '17')
  assert.equal(tail.offsetLag(), '22')
})

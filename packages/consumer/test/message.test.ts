import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ArchiveRecord } from '@everlog/core'
import { MessageBatch, toHeaders, toKafkaMessage } from '../src/message.js'

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
  const h = toHeaders([
    ['a', Buffer.from('1')],
    ['b', null],
    ['a', null],
    ['a', Buffer.from('3')],
  ])
  assert.deepEqual(h, { a: [Buffer.from('1'), null, Buffer.from('3')], b: null })
  assert.deepEqual(toHeaders([]), {})
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

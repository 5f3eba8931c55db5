import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, test } from 'node:test'
import {
  ArchiveReader,
  assembleSegment,
  decodeSegment,
  encodePackedRowGroup,
  encodeSegment,
  openStore,
  rawRecordBytes,
  unpackRecords,
} from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'
import { Archiver } from '../src/archiver.js'
import { PackedRecordsBuilder, packRecords } from '../src/packed-records.js'
import { BatchRecords, forEachArchivableBatch } from '../src/fetch/record-batches.js'
import { decodeInto, encodeBatch } from './record-batches.js'

const rec = (offset: number, key: string | null, value: string | null, headers: [string, string | null][]) => ({
  offset: BigInt(offset),
  timestamp: 1_700_000_000_000n + BigInt(offset),
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  headers: headers.map(([k, v]) => [k, v === null ? null : Buffer.from(v)] as const),
})

describe('PackedRecordsBuilder', () => {
  test('a header name that is not UTF-8 is archived as its decoding (U+FFFD), so every engine can read the segment', async () => {
    // kafkajs writes header names as UTF-8: 'hé' then 'ok'; the é (c3 a9) is patched into bytes no UTF-8 has.
    const batch = await encodeBatch({
      baseOffset: 0,
      baseTimestamp: 1_700_000_000_000,
      records: [
        rec(0, 'k', 'v', [
          ['hé', 'x'],
          ['ok', 'y'],
        ]),
        rec(1, 'k', 'w', [['plain', 'z']]),
      ],
    })
    const at = batch.indexOf(Buffer.from('hé'))
    batch[at + 1] = 0xff
    batch[at + 2] = 0xfe
    const b = new PackedRecordsBuilder()
    const sizes: number[] = []
    const cursor = new BatchRecords()
    forEachArchivableBatch(batch, null, (bt) => {
      cursor.start(bt)
      while (cursor.next()) b.addWireRecord(cursor, (raw) => sizes.push(raw))
    })
    const packed = b.finish()
    const records = unpackRecords(packed)
    assert.deepEqual(
      records.map((r) => r.headers.map(([k]) => k)),
      [['h\ufffd\ufffd', 'ok'], ['plain']],
    )
    // What the row-group cut was told is what was written, and what encodeSegment counts for the same records.
    assert.deepEqual(sizes, records.map(rawRecordBytes))
    const group = encodePackedRowGroup(packed)
    const segment = assembleSegment([group], { topic: 't', partition: 0 })
    assert.ok(Buffer.from(segment.bytes).equals(encodeSegment(records, { topic: 't', partition: 0 }).bytes))
    assert.deepEqual(decodeSegment(segment.bytes, { strict: true }), records)
  })

  test('offsets and timestamps of every safe-integer size are packed as numbers; minTimestamp finds the smallest', async () => {
    const offsets = [0, 1, 4294967295, 4294967296, 2 ** 52 + 7, 999_999_999_999_999, 2 ** 53 - 1]
    const timestamps = [1_700_000_000_000, -1, 4294967296, -4294967297, 2 ** 53 - 1, -(2 ** 53 - 1), 0]
    const b = new PackedRecordsBuilder()
    for (const [i, offset] of offsets.entries()) {
      const r = {
        offset: BigInt(offset),
        timestamp: BigInt(timestamps[i]!),
        key: null,
        value: Buffer.from('v'),
        headers: [],
      }
      decodeInto(b, await encodeBatch({ baseOffset: offset, baseTimestamp: timestamps[i]!, records: [r] }))
    }
    assert.equal(b.minTimestamp, -(2n ** 53n - 1n))
    const records = unpackRecords(b.finish())
    assert.deepEqual(
      records.map((r) => r.offset),
      offsets.map((o) => BigInt(o)),
    )
    assert.deepEqual(
      records.map((r) => r.timestamp),
      timestamps.map((t) => BigInt(t)),
    )
  })

  test('fetched records are copied once: nulls, empty bytes, UTF-8 header keys, raw bytes as rawRecordBytes', async () => {
    const b = new PackedRecordsBuilder()
    const expected = [
      rec(5, 'k', 'v1', [['trace', 'x']]),
      rec(6, null, null, []),
      // (kafkajs' encoder cannot write a null header value; null keys and values take the same path)
      rec(7, '', '', [['ключ', '']]),
    ]
    const response = await encodeBatch({ baseOffset: 5, baseTimestamp: 1_700_000_000_005, records: expected })
    decodeInto(b, response)
    assert.equal(b.count, 3)
    assert.equal(b.minTimestamp, 1_700_000_000_005n)
    assert.equal(
      b.rawBytes,
      expected.reduce((n, r) => n + rawRecordBytes(r), 0),
    )
    response.fill(0)
    const packed = b.finish()
    assert.equal(b.count, 0, 'finish() leaves the builder empty')
    assert.deepEqual(unpackRecords(packed), expected, 'the records do not share memory with the fetch response')
  })

  test('records larger than a chunk and many records across chunks round-trip in offset order', () => {
    const records: ArchiveRecord[] = []
    for (let i = 0; i < 3000; i++) {
      const size = i % 500 === 0 ? 300_000 : 700
      records.push({
        offset: BigInt(i * 2),
        timestamp: 1_700_000_000_000n - BigInt(i % 7),
        key: i % 9 === 0 ? null : Buffer.from(`key-${i}`),
        value: Buffer.alloc(size, i % 251),
        headers: i % 4 === 0 ? [['h', Buffer.from(String(i))]] : [],
      })
    }
    const packed = packRecords(records)
    assert.ok(packed.chunks.length > 1, 'several chunks')
    assert.deepEqual(unpackRecords(packed), records)
  })
})

// A real client that writes headers in any order: librdkafka's kcat (Debian package kcat).
const probe = spawnSync('kcat', ['-V'], { encoding: 'utf8' })

describe('header order through Kafka and the archiver', { skip: probe.error ? 'kcat is not installed' : false }, () => {
  let broker: TestBroker
  const dirs: string[] = []
  before(async () => {
    broker = await startTestBroker()
  })
  after(async () => {
    await broker?.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  /** Runs kcat without blocking the event loop (the broker lives in this process). */
  function kcat(args: string[], input: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('kcat', ['-b', broker.brokers[0]!, ...args], { stdio: ['pipe', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.on('error', reject)
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`kcat exited ${code}: ${stderr}`))))
      child.stdin.end(input)
    })
  }

  for (const codec of ['none', 'lz4']) {
    test(`headers a, b, a, ..., 9 produced by kcat are archived in that order (compression ${codec})`, async () => {
      const topic = `headers-${codec}`
      await broker.createTopic(topic, { partitions: 1 })
      const headers = ['-H', 'a=1', '-H', 'b=2', '-H', 'a=3', '-H', 'c=', '-H', 'b=5', '-H', '9=n']
      await kcat(['-P', '-t', topic, '-p', '0', '-z', codec, ...headers], 'first\nsecond\n')
      const dir = mkdtempSync(join(tmpdir(), 'everlog-archiver-headers-'))
      dirs.push(dir)
      const archiver = new Archiver(
        {
          brokers: broker.brokers,
          topics: [topic],
          store: pathToFileURL(dir).href,
          once: true,
          http: { port: 0, host: '127.0.0.1' },
          logLevel: 'silent',
          progressIntervalMs: 0,
          kafka: { maxWaitTimeInMs: 100 },
        },
        { processMetrics: false },
      )
      await archiver.start()
      await archiver.done
      const store = openStore(pathToFileURL(dir).href)
      const out: ArchiveRecord[] = []
      for await (const r of new ArchiveReader(store).read({ topic, partition: 0 })) out.push(r)
      await store.close()
      assert.deepEqual(
        out.map((r) => r.value?.toString()),
        ['first', 'second'],
      )
      for (const r of out) {
        assert.deepEqual(
          r.headers.map(([k, v]) => `${k}=${v?.toString() ?? 'null'}`),
          ['a=1', 'b=2', 'a=3', 'c=', 'b=5', '9=n'],
        )
      }
    })
  }
})

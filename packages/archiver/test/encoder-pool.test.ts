import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { decodeSegment, encodeSegment } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { EncoderPool } from '../src/encoder-pool.js'
import { packRecords, unpackRecords } from '../src/packed-records.js'

const pool = new EncoderPool(2)
after(() => pool.close())

function records(from: number, count: number): ArchiveRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const offset = from + i
    return {
      offset: BigInt(offset),
      timestamp: 1_700_000_000_000n + BigInt(offset * 7),
      key: offset % 4 === 0 ? null : offset % 4 === 1 ? Buffer.alloc(0) : Buffer.from(`k-${offset}`),
      value: offset % 5 === 0 ? null : Buffer.alloc(100 + (offset % 50), offset % 256),
      headers:
        offset % 3 === 0
          ? [
              ['b', Buffer.from('1')],
              ['a', null],
              ['b', Buffer.from('2')],
              ['ü-key', Buffer.alloc(0)],
            ]
          : [],
    }
  })
}

describe('EncoderPool', () => {
  test('packing keeps every field exactly: null vs empty, header order, duplicate and non-ASCII keys', () => {
    const input = records(0, 500)
    assert.deepEqual(unpackRecords(packRecords(input)), input)
  })

  test('segments encoded in worker threads are byte-identical to inline encoding, also many at once', async () => {
    const batches = [records(0, 2000), records(2000, 10), records(2010, 3000), records(5010, 1)]
    const options = { topic: 'pool', partition: 3, compression: 'zstd' as const }
    const encoded = await Promise.all(batches.map((b) => pool.encode(b, options)))
    for (const [i, e] of encoded.entries()) {
      const inline = encodeSegment(batches[i]!, options)
      assert.equal(e.sha256, inline.sha256)
      assert.ok(Buffer.from(e.bytes).equals(Buffer.from(inline.bytes)))
      assert.equal(e.firstOffset, batches[i]![0]!.offset)
      assert.equal(e.records, batches[i]!.length)
      assert.deepEqual(decodeSegment(e.bytes), batches[i])
    }
  })

  test('an encoding error in a worker rejects that segment only', async () => {
    const bad = records(0, 3).reverse()
    const options = { topic: 'pool', partition: 0 }
    const [failed, ok] = await Promise.allSettled([pool.encode(bad, options), pool.encode(records(10, 3), options)])
    assert.equal(failed.status, 'rejected')
    assert.match(String((failed as PromiseRejectedResult).reason.message), /strictly increasing offset order/)
    assert.equal(ok.status, 'fulfilled')
  })

  test('with 0 workers it encodes inline', async () => {
    const inline = new EncoderPool(0)
    const e = await inline.encode(records(0, 20), { topic: 'pool', partition: 0 })
    assert.equal(e.records, 20)
    await inline.close()
  })
})

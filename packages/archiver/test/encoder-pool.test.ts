import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { assembleSegment, decodeSegment, encodeRowGroup, unpackRecords } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { EncoderPool } from '../src/encoder-pool.js'
import { packRecords } from '../src/packed-records.js'

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

  test('row groups encoded in worker threads are byte-identical to inline encoding, also many at once', async () => {
    const batches = [records(0, 2000), records(2000, 10), records(2010, 3000), records(5010, 1)]
    const encoded = await Promise.all(batches.map((b) => pool.encodeRowGroup(b, 'zstd')))
    for (const [i, g] of encoded.entries()) {
      const inline = encodeRowGroup(batches[i]!, { compression: 'zstd' })
      assert.ok(Buffer.from(g.bytes).equals(Buffer.from(inline.bytes)))
      // Stats arrive as Uint8Arrays after the thread hop; their bytes must match.
      assert.deepEqual({ ...g, bytes: undefined }, structuredClone({ ...inline, bytes: undefined }))
      assert.equal(g.firstOffset, batches[i]![0]!.offset)
      assert.equal(g.rows, batches[i]!.length)
    }
    // Assembled, the groups are one segment holding every record in order.
    const segment = assembleSegment(encoded, { topic: 'pool', partition: 3, compression: 'zstd' })
    assert.deepEqual(decodeSegment(segment.bytes), batches.flat())
  })

  test('an encoding error in a worker rejects that row group only', async () => {
    const bad = records(0, 3).reverse()
    const [failed, ok] = await Promise.allSettled([
      pool.encodeRowGroup(bad, 'zstd'),
      pool.encodeRowGroup(records(10, 3), 'zstd'),
    ])
    assert.equal(failed.status, 'rejected')
    assert.match(String((failed as PromiseRejectedResult).reason.message), /strictly increasing offset order/)
    assert.equal(ok.status, 'fulfilled')
  })

  test('with 0 workers it encodes inline', async () => {
    const inline = new EncoderPool(0)
    const g = await inline.encodeRowGroup(records(0, 20), 'snappy')
    assert.equal(g.rows, 20)
    assert.ok(Buffer.from(g.bytes).equals(Buffer.from(encodeRowGroup(records(0, 20), { compression: 'snappy' }).bytes)))
    await inline.close()
  })
})

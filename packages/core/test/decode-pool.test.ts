// Row groups decoded with page decompression in the decode worker: the same records, the same typed errors, and
// a process that ends on its own (an idle worker never keeps it alive).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { FormatError } from '../src/errors.js'
import { PartitionWriter } from '../src/partition-writer.js'
import { ArchiveReader } from '../src/reader.js'
import type { ArchiveRecord } from '../src/record.js'
import { decodeRowGroup, layoutOf } from '../src/segment/decode.js'
import { decodeRowGroupAsync } from '../src/segment/decode-pool.js'
import { encodeSegment } from '../src/segment/encode.js'
import type { SegmentCompression } from '../src/segment/types.js'
import { MemoryStore } from '../src/store/memory.js'

// Half random (incompressible), half repetitive: every row group is far above the worker threshold compressed.
function records(n: number, from = 0): ArchiveRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: BigInt(from + i),
    timestamp: 1_700_000_000_000n + BigInt(i),
    key: i % 7 === 0 ? null : Buffer.from(`customer-${i % 50}`),
    value: i % 11 === 0 ? null : Buffer.concat([randomBytes(600), Buffer.alloc(600, i % 251)]),
    headers:
      i % 3 === 0
        ? []
        : [
            ['trace', Buffer.from(String(i))],
            ['a', null],
            ['trace', Buffer.from('again')],
          ],
  }))
}

test('the worker path decodes every codec to the same records as decoding in place', async () => {
  const input = records(3000)
  for (const compression of ['zstd', 'snappy', 'lz4', 'gzip', 'none'] as SegmentCompression[]) {
    const enc = encodeSegment(input, { topic: 't', partition: 0, compression, rowGroupBytes: 1 << 20 })
    const layout = layoutOf(enc.bytes, 'seg')
    assert.ok(layout.rowGroups.length >= 3, compression)
    const out: ArchiveRecord[] = []
    for (const rg of layout.rowGroups) {
      const chunk = enc.bytes.subarray(rg.byteStart, rg.byteEnd)
      assert.ok(chunk.length >= 64 * 1024, `${compression}: row group of ${chunk.length} bytes stays in place`)
      const viaWorker = await decodeRowGroupAsync(layout, rg.index, chunk, 'seg')
      assert.deepEqual(viaWorker, decodeRowGroup(layout, rg.index, chunk, 'seg'))
      out.push(...viaWorker)
    }
    assert.deepEqual(out, input, compression)
  }
})

test('a corrupt page through the worker is a FormatError naming the object, and the caller keeps working', async () => {
  const input = records(1000)
  const isFormatError = (err: unknown) => {
    assert.ok(err instanceof FormatError, String(err))
    assert.match(err.message, /orders\/seg\.parquet/)
    return true
  }
  // Decompression fails in the worker: the value page's zstd frame loses its magic number.
  const enc = encodeSegment(input, { topic: 't', partition: 0, compression: 'zstd' })
  const layout = layoutOf(enc.bytes, 'seg')
  const rg = layout.rowGroups[0]!
  const clean = enc.bytes.subarray(rg.byteStart, rg.byteEnd)
  const chunk = Buffer.from(clean)
  const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])
  let at = -1
  for (let frame = 0; frame < 4; frame++) at = chunk.indexOf(magic, at + 1) // offset, timestamp, key, value
  assert.ok(at > 0)
  chunk[at] ^= 0xff
  await assert.rejects(decodeRowGroupAsync(layout, 0, chunk, 'orders/seg.parquet'), isFormatError)
  assert.equal((await decodeRowGroupAsync(layout, 0, clean, 'seg')).length, rg.records)

  // Building records fails on the caller's thread: a value's length runs past its page.
  const plain = encodeSegment(input, { topic: 't', partition: 0, compression: 'none' })
  const pl = layoutOf(plain.bytes, 'seg')
  const prg = pl.rowGroups[0]!
  const pchunk = Buffer.from(plain.bytes.subarray(prg.byteStart, prg.byteEnd))
  const value = pchunk.indexOf(input[1]!.value!)
  assert.ok(value > 4)
  pchunk.writeUInt32LE(0x7fffffff, value - 4)
  await assert.rejects(decodeRowGroupAsync(pl, 0, pchunk, 'orders/seg.parquet'), isFormatError)
})

test('ArchiveReader hands out one row group at a time, in order, decoded ahead in the worker', async () => {
  const store = new MemoryStore()
  const w = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 't', rowGroupBytes: 1 << 20 })
  const a = records(2000)
  const b = records(1500, 2000)
  await w.appendSegment(a)
  await w.appendSegment(b)
  const reader = new ArchiveReader(store)
  const sizes: number[] = []
  const seen: ArchiveRecord[] = []
  for await (const batch of reader.readBatches({ topic: 'orders', partition: 0 })) {
    sizes.push(batch.records.length)
    seen.push(...batch.records)
  }
  assert.deepEqual(seen, [...a, ...b])
  assert.ok(sizes.length >= 4, `chunks of one row group each, got ${sizes.join(',')}`)
  assert.ok(Math.max(...sizes) < 2000)
  // A range starting mid-segment reads only the row groups it needs, through the same path.
  const tail: ArchiveRecord[] = []
  for await (const r of reader.read({ topic: 'orders', partition: 0, fromOffset: 1900n, toOffset: 2100n })) tail.push(r)
  assert.deepEqual(
    tail.map((r) => r.offset),
    Array.from({ length: 201 }, (_, i) => BigInt(1900 + i)),
  )
})

test('a process that decoded through the worker exits on its own once done', () => {
  const pool = fileURLToPath(new URL('../src/segment/decode-pool.js', import.meta.url))
  const encode = fileURLToPath(new URL('../src/segment/encode.js', import.meta.url))
  const decode = fileURLToPath(new URL('../src/segment/decode.js', import.meta.url))
  const script = `
    import { randomBytes } from 'node:crypto'
    import { decodeRowGroupAsync } from ${JSON.stringify(pool)}
    import { encodeSegment } from ${JSON.stringify(encode)}
    import { layoutOf } from ${JSON.stringify(decode)}
    const records = Array.from({ length: 500 }, (_, i) => ({ offset: BigInt(i), timestamp: 0n, key: null, value: randomBytes(1000), headers: [] }))
    const enc = encodeSegment(records, { topic: 't', partition: 0 })
    const layout = layoutOf(enc.bytes, 'seg')
    const rg = layout.rowGroups[0]
    const out = await decodeRowGroupAsync(layout, 0, enc.bytes.subarray(rg.byteStart, rg.byteEnd), 'seg')
    console.log(out.length)`
  const child = spawnSync(
    process.execPath,
    ['--conditions=everlog-source', '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 60_000 },
  )
  assert.equal(child.signal, null, `the process did not end by itself: ${child.stderr}`)
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), '500')
})

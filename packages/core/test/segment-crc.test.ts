import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { crc32 } from 'node:zlib'
import { EverlogError, encodeSegment, MemoryStore, readRowGroup, readSegmentLayout } from '../src/index.js'
import type { ArchiveRecord, SegmentCompression } from '../src/index.js'

const records: ArchiveRecord[] = Array.from({ length: 600 }, (_, i) => ({
  offset: BigInt(i),
  timestamp: 1_700_000_000_000n + BigInt(i),
  key: Buffer.from(`key-${i}`),
  value: Buffer.from(`{"n":${i},"note":"a value that is long enough to be worth compressing ${i % 7}"}`),
  headers: [['h', Buffer.from(String(i))]],
}))

describe('page CRCs', () => {
  for (const compression of ['zstd', 'snappy', 'lz4', 'gzip', 'none'] as SegmentCompression[]) {
    it(`a byte flipped inside a ${compression} page is caught when its row group is read on its own`, async () => {
      const segment = encodeSegment(records, { topic: 't', partition: 0, compression, rowGroupBytes: 8 * 1024 })
      const store = new MemoryStore()
      await store.put('seg', segment.bytes)
      const layout = await readSegmentLayout(store, 'seg')
      assert.ok(layout.rowGroups.length >= 3)
      const rg = layout.rowGroups[1]!
      // Untouched, the group reads back (its pages' CRCs check out).
      assert.deepEqual(
        await readRowGroup(store, 'seg', layout, 1),
        records.filter((r) => r.offset >= rg.firstOffset && r.offset <= rg.lastOffset),
      )
      // The last page of the group is the header values' page; its last byte is page data, not a header.
      const bad = Buffer.from(segment.bytes)
      bad[rg.byteEnd - 1]! ^= 0x01
      const corrupt = new MemoryStore()
      await corrupt.put('seg', bad)
      await assert.rejects(
        readRowGroup(corrupt, 'seg', layout, 1),
        (err: unknown) =>
          err instanceof EverlogError && /seg/.test(err.message) && /CRC|checksum|corrupt/i.test(err.message),
      )
    })
  }

  it('the CRC written is CRC-32 of the stored page bytes (as Parquet defines it)', () => {
    // A page header ends right before its page bytes; with 'none' the page bytes are the plain values, so the header of
    // the values page can be found by searching for the CRC of the bytes after it.
    const segment = encodeSegment(records.slice(0, 5), { topic: 't', partition: 0, compression: 'none' })
    const bytes = Buffer.from(segment.bytes)
    const value = records[4]!.value!
    const end = bytes.indexOf(value) + value.length
    let found = false
    for (let start = 4; start < end && !found; start++) {
      const crc = crc32(bytes.subarray(start, end)) | 0
      // Thrift compact: field 4 (delta 1 after field 3) of type i32 (5) -> header byte 0x15, then a zigzag varint.
      const zigzag = crc >= 0 ? crc * 2 : -crc * 2 - 1
      const varint: number[] = []
      for (let v = zigzag; ; v = Math.floor(v / 128)) {
        if (v < 128) {
          varint.push(v)
          break
        }
        varint.push((v % 128) | 0x80)
      }
      const field = Buffer.from([0x15, ...varint])
      const at = bytes.lastIndexOf(field, start)
      if (at > 0 && start - at < 40) found = true
    }
    assert.ok(found, 'a page header carries the CRC-32 of the value page bytes that follow it')
  })
})

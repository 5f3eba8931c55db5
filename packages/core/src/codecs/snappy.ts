// Kafka's snappy: raw snappy from librdkafka and most clients, or the xerial framing the Java client writes
// (magic header, then 4-byte big-endian length + raw snappy block, repeated).
import * as snappy from 'snappyjs'
import { FormatError } from '../errors.js'

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const XERIAL_HEADER_BYTES = 16

export function snappyCompress(input: Uint8Array): Buffer {
  const out = snappy.compress(input)
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
}

export function snappyDecompress(input: Buffer): Buffer {
  try {
    if (input.length < XERIAL_HEADER_BYTES || !input.subarray(0, 8).equals(XERIAL_MAGIC)) {
      const out = snappy.uncompress(input)
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
    }
    const blocks: Uint8Array[] = []
    let pos = XERIAL_HEADER_BYTES
    while (pos + 4 <= input.length) {
      const size = input.readUInt32BE(pos)
      pos += 4
      if (pos + size > input.length) throw new Error(`xerial block of ${size} bytes overruns the input`)
      blocks.push(snappy.uncompress(input.subarray(pos, pos + size)))
      pos += size
    }
    return Buffer.concat(blocks)
  } catch (err) {
    throw new FormatError(`invalid snappy data: ${(err as Error).message}`, { cause: err })
  }
}

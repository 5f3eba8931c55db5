// Kafka's snappy: raw snappy from librdkafka and most clients, or the xerial framing the Java client writes
// (magic header, then 4-byte big-endian length + raw snappy block, repeated). snappyjs compresses; decoding is
// ours, bounds-checked at every step: snappyjs' decoder reads a 4-byte literal length as a signed number and then
// walks backwards through hostile input, looping for tens of seconds on a few hundred bytes.
import * as snappy from 'snappyjs'
import { FormatError } from '../errors.js'

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const XERIAL_HEADER_BYTES = 16
// Snappy expands at most ~21x (a 3-byte copy tag yields 64 bytes); a larger declared length is garbage.
const MAX_EXPANSION = 32

export function snappyCompress(input: Uint8Array): Buffer {
  const out = snappy.compress(input)
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
}

export function snappyDecompress(input: Buffer): Buffer {
  if (input.length < XERIAL_HEADER_BYTES || !input.subarray(0, 8).equals(XERIAL_MAGIC))
    return snappyDecompressBlock(input)
  const blocks: Buffer[] = []
  let pos = XERIAL_HEADER_BYTES
  while (pos + 4 <= input.length) {
    const size = input.readUInt32BE(pos)
    pos += 4
    if (pos + size > input.length) fail(`xerial block of ${size} bytes overruns the input`)
    blocks.push(snappyDecompressBlock(input.subarray(pos, pos + size)))
    pos += size
  }
  return Buffer.concat(blocks)
}

function fail(why: string): never {
  throw new FormatError(`invalid snappy data: ${why}`)
}

/** One raw snappy block (Parquet's SNAPPY): a varint length, then literal and copy elements. */
export function snappyDecompressBlock(input: Uint8Array): Buffer {
  let pos = 0
  let length = 0
  for (let shift = 0; ; shift += 7) {
    if (pos >= input.length || shift > 28) fail('bad length header')
    const b = input[pos++]!
    length += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) break
  }
  if (length > input.length * MAX_EXPANSION + 1024)
    fail(`declared length ${length} is impossible for ${input.length} bytes`)
  const out = Buffer.allocUnsafe(length)
  const end = input.length
  let op = 0
  // Elements are mostly a few bytes long: plain byte loops beat a subarray or copyWithin call per element (twice
  // the throughput on JSON-like values).
  while (pos < end) {
    const tag = input[pos++]!
    const kind = tag & 3
    if (kind === 0) {
      let len = (tag >>> 2) + 1
      if (len > 60) {
        const n = len - 60
        if (pos + n > end) fail('truncated literal length')
        len = 1
        for (let i = 0; i < n; i++) len += input[pos + i]! * 2 ** (8 * i)
        pos += n
      }
      if (len > end - pos || len > length - op) fail('literal overruns its bounds')
      if (len < 64) for (let i = 0; i < len; i++) out[op + i] = input[pos + i]!
      else out.set(input.subarray(pos, pos + len), op)
      pos += len
      op += len
      continue
    }
    let len: number
    let offset: number
    if (kind === 1) {
      if (pos >= end) fail('truncated copy')
      len = ((tag >>> 2) & 7) + 4
      offset = ((tag >>> 5) << 8) | input[pos++]!
    } else if (kind === 2) {
      if (pos + 2 > end) fail('truncated copy')
      len = (tag >>> 2) + 1
      offset = input[pos]! | (input[pos + 1]! << 8)
      pos += 2
    } else {
      if (pos + 4 > end) fail('truncated copy')
      len = (tag >>> 2) + 1
      offset = input[pos]! + input[pos + 1]! * 2 ** 8 + input[pos + 2]! * 2 ** 16 + input[pos + 3]! * 2 ** 24
      pos += 4
    }
    if (offset === 0 || offset > op || len > length - op) fail('copy refers outside the output')
    // At most 64 bytes; forwards, so an overlapping copy repeats the last `offset` bytes as the format defines.
    for (let i = op - offset, stop = op + len; op < stop;) out[op++] = out[i++]!
  }
  if (op !== length) fail(`decoded ${op} bytes, header declared ${length}`)
  return out
}

// Kafka's lz4 is the LZ4 frame format. lz4js compresses frames correctly, but its frame decoder misplaces
// block checksums and cannot bound output size, so frames are parsed here and only blocks are delegated.
import * as lz4 from 'lz4js'
import { FormatError } from '../errors.js'

const MAGIC = 0x184d2204
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 }

export function lz4Compress(input: Uint8Array): Buffer {
  const out = lz4.compress(input)
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
}

/**
 * One raw LZ4 block (no frame): Parquet's LZ4_RAW. lz4js gives up (returns 0) on input without a single match; a
 * literal-only block is still valid LZ4, so that case is written here.
 */
export function lz4CompressBlock(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(lz4.compressBound(input.length))
  const n = lz4.compressBlock(input, out, 0, input.length, new Uint32Array(1 << 16))
  if (n > 0) return out.subarray(0, n)
  let pos = 0
  const literals = input.length
  if (literals >= 15) {
    out[pos++] = 0xf0
    let rest = literals - 15
    for (; rest >= 255; rest -= 255) out[pos++] = 255
    out[pos++] = rest
  } else out[pos++] = literals << 4
  out.set(input, pos)
  return out.subarray(0, pos + literals)
}

export function lz4Decompress(input: Buffer): Buffer {
  const fail = (why: string): never => {
    throw new FormatError(`invalid lz4 frame: ${why}`)
  }
  if (input.length < 7 || input.readUInt32LE(0) !== MAGIC) fail('bad magic number')
  const flg = input[4]!
  const bd = input[5]!
  if (flg >> 6 !== 1) fail(`unsupported frame version ${flg >> 6}`)
  const blockChecksum = (flg & 0x10) !== 0
  const contentSize = (flg & 0x08) !== 0
  const contentChecksum = (flg & 0x04) !== 0
  const dictId = (flg & 0x01) !== 0
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 0x7] ?? fail(`bad block size code ${(bd >> 4) & 0x7}`)
  let pos = 6 + (contentSize ? 8 : 0) + (dictId ? 4 : 0) + 1 // + header checksum byte
  const scratch = Buffer.allocUnsafe(blockMax)
  const parts: Buffer[] = []
  for (;;) {
    if (pos + 4 > input.length) fail('truncated before end mark')
    const word = input.readUInt32LE(pos)
    pos += 4
    if (word === 0) break
    const size = word & 0x7fffffff
    if (size > blockMax || pos + size > input.length) fail(`block of ${size} bytes overruns the frame`)
    if (word & 0x80000000) {
      parts.push(Buffer.from(input.subarray(pos, pos + size)))
    } else {
      let n: number
      try {
        n = lz4.decompressBlock(input, scratch, pos, size, 0)
      } catch (err) {
        return fail(`corrupt block: ${(err as Error).message}`)
      }
      if (n < 0 || n > blockMax) fail('block decompressed beyond its declared maximum')
      parts.push(Buffer.from(scratch.subarray(0, n)))
    }
    pos += size + (blockChecksum ? 4 : 0)
  }
  if (contentChecksum && pos + 4 > input.length) fail('truncated content checksum')
  return Buffer.concat(parts)
}

// LZ4_RAW: a match token and one 0xff length byte regenerate 255 bytes: no block expands further.
const MAX_EXPANSION = 255
const MIN_MATCH = 4

/**
 * One raw LZ4 block of known size (Parquet's LZ4_RAW), every length checked: lz4js' block decoder reads and
 * writes past its buffers without noticing, so corrupt input would come back as silently wrong bytes.
 */
export function lz4DecompressBlock(input: Uint8Array, size: number): Buffer {
  const fail = (why: string): never => {
    throw new FormatError(`invalid lz4 block: ${why}`)
  }
  if (!Number.isSafeInteger(size) || size < 0 || size > input.length * MAX_EXPANSION + 16) {
    fail(`${input.length} bytes cannot hold ${size} decompressed bytes`)
  }
  const out = Buffer.allocUnsafe(size)
  const end = input.length
  let pos = 0
  let op = 0
  while (pos < end) {
    const token = input[pos++]!
    let literals = token >>> 4
    if (literals === 15) {
      for (;;) {
        if (pos >= end) fail('truncated literal length')
        const b = input[pos++]!
        literals += b
        if (b !== 255) break
      }
    }
    if (literals > end - pos || literals > size - op) fail('literals overrun the block')
    // Short runs are the common case: a byte loop beats a subarray + set call per run (several times over).
    if (literals < 64) for (let i = 0; i < literals; i++) out[op + i] = input[pos + i]!
    else out.set(input.subarray(pos, pos + literals), op)
    pos += literals
    op += literals
    // The last sequence is literals only.
    if (pos === end) break
    if (pos + 2 > end) fail('truncated match offset')
    const offset = input[pos]! | (input[pos + 1]! << 8)
    pos += 2
    let length = token & 15
    if (length === 15) {
      for (;;) {
        if (pos >= end) fail('truncated match length')
        const b = input[pos++]!
        length += b
        if (b !== 255) break
      }
    }
    length += MIN_MATCH
    if (offset === 0 || offset > op || op + length > size) fail('match refers outside the output')
    if (length < 64) {
      // Forwards, so an overlapping match repeats the last `offset` bytes as the format defines.
      for (let i = 0; i < length; i++) out[op + i] = out[op - offset + i]!
    } else {
      // Long overlapping runs (zeros, padding): copy whole periods, each from a source twice as far back.
      for (let done = 0; done < length;) {
        const n = Math.min(offset + done, length - done)
        out.copyWithin(op + done, op - offset, op - offset + n)
        done += n
      }
    }
    op += length
  }
  if (op !== size) fail(`decoded ${op} bytes, expected ${size}`)
  return out
}

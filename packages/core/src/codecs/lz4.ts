// Kafka's lz4 is the LZ4 frame format. lz4js' frame encoder chains blocks and its frame decoder misplaces block
// checksums and cannot bound output size, so frames are written and parsed here and only blocks are delegated.
import * as lz4 from 'lz4js'
import * as xxh32 from 'lz4js/xxh32.js'
import { FormatError } from '../errors.js'

const MAGIC = 0x184d2204
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 }

// The frame Kafka's own producer writes: version 01, independent blocks, no checksums, 64 KiB blocks. lz4js'
// compressFrame marks its blocks dependent (and chains matches across them), which Apache Kafka rejects ("Dependent
// block stream is unsupported"); its block compressor also lets a block's last match start fewer than 12 bytes
// before the end, which the reference decoder rejects in a full block. So frames and their blocks are written here.
const FLG_INDEPENDENT = 0x60
const BD_64K = 0x40
const BLOCK_SIZE = 64 << 10
const HEADER_CHECKSUM = (xxh32.hash(0, Uint8Array.of(FLG_INDEPENDENT, BD_64K), 0, 2) >>> 8) & 0xff
// LZ4's end-of-block rules: the last 5 bytes are literals, and the last match starts at least 12 bytes before the end.
const LAST_LITERALS = 5
const MF_LIMIT = 12
const MIN_MATCH = 4

export function lz4Compress(input: Uint8Array): Buffer {
  const header = Buffer.alloc(7)
  header.writeUInt32LE(MAGIC, 0)
  header[4] = FLG_INDEPENDENT
  header[5] = BD_64K
  header[6] = HEADER_CHECKSUM
  const parts: Buffer[] = [header]
  const table = new Int32Array(1 << 16)
  const scratch = Buffer.allocUnsafe(BLOCK_SIZE + (BLOCK_SIZE >> 8) + 16)
  for (let pos = 0; pos < input.length; pos += BLOCK_SIZE) {
    const raw = input.subarray(pos, Math.min(pos + BLOCK_SIZE, input.length))
    const n = compressBlock(raw, scratch, table)
    const size = Buffer.alloc(4)
    // A block that does not shrink is stored as is, flagged by the size's high bit.
    if (n < raw.length) {
      size.writeUInt32LE(n, 0)
      parts.push(size, Buffer.from(scratch.subarray(0, n)))
    } else {
      size.writeUInt32LE((raw.length | 0x80000000) >>> 0, 0)
      parts.push(size, Buffer.from(raw))
    }
  }
  parts.push(Buffer.alloc(4)) // end mark
  return Buffer.concat(parts)
}

/** Greedy LZ4 block compression of `src` into `dst` (sized for the worst case); returns the bytes written. */
function compressBlock(src: Uint8Array, dst: Uint8Array, table: Int32Array): number {
  const len = src.length
  table.fill(-1)
  let op = 0
  let anchor = 0
  const writeLength = (n: number): void => {
    for (; n >= 255; n -= 255) dst[op++] = 255
    dst[op++] = n
  }
  const read32 = (i: number): number => (src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24)) >>> 0
  if (len > MF_LIMIT) {
    const matchStartLimit = len - MF_LIMIT
    const matchEndLimit = len - LAST_LITERALS
    let ip = 0
    while (ip < matchStartLimit) {
      const seq = read32(ip)
      const h = Math.imul(seq, 2654435761) >>> 16
      const ref = table[h]!
      table[h] = ip
      if (ref < 0 || ip - ref > 0xffff || read32(ref) !== seq) {
        // Skip faster through data that does not compress.
        ip += 1 + ((ip - anchor) >> 6)
        continue
      }
      let end = ip + MIN_MATCH
      while (end < matchEndLimit && src[end] === src[ref + end - ip]) end++
      const literals = ip - anchor
      const matchExtra = end - ip - MIN_MATCH
      dst[op++] = (Math.min(literals, 15) << 4) | Math.min(matchExtra, 15)
      if (literals >= 15) writeLength(literals - 15)
      for (let i = 0; i < literals; i++) dst[op++] = src[anchor + i]!
      const offset = ip - ref
      dst[op++] = offset & 0xff
      dst[op++] = offset >> 8
      if (matchExtra >= 15) writeLength(matchExtra - 15)
      ip = end
      anchor = end
    }
  }
  const literals = len - anchor
  dst[op++] = Math.min(literals, 15) << 4
  if (literals >= 15) writeLength(literals - 15)
  for (let i = 0; i < literals; i++) dst[op++] = src[anchor + i]!
  return op
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

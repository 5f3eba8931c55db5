// Kafka's lz4 is the LZ4 frame format; Parquet's LZ4_RAW is one raw LZ4 block. Both are compressed by lz4-napi
// (lz4_flex, native): lz4js, used before, could start the last match 10 or 11 bytes before the end of a block, which
// the block format forbids (the last 12 bytes hold no match start). liblz4 rejects such a block when it decodes into
// exactly the block's size, as Parquet readers do (DuckDB, pyarrow, polars); frame readers (Kafka clients, the lz4
// tool) decode into a max-block-sized buffer and never noticed. Frames are parsed here and their blocks decoded by
// lz4js, whose frame decoder misplaces block checksums and cannot bound output size; raw blocks are decoded here
// (lz4DecompressBlock).
import { compressFrameSync, compressSync } from 'lz4-napi'
import * as lz4 from 'lz4js'
import { FormatError } from '../errors.js'

const MAGIC = 0x184d2204
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 }

function asBuffer(input: Uint8Array): Buffer {
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength)
}

/** An LZ4 frame (independent 64 KiB blocks, no checksums), as Kafka's clients write and read for codec lz4. */
export function lz4Compress(input: Uint8Array): Buffer {
  return compressFrameSync(asBuffer(input))
}

/** One raw LZ4 block (no frame, no size prefix): Parquet's LZ4_RAW. Deterministic: the same input, the same bytes. */
export function lz4CompressBlock(input: Uint8Array): Buffer {
  // lz4-napi's block API prefixes the block with its u32 LE decompressed size, which LZ4_RAW does not have.
  return compressSync(asBuffer(input)).subarray(4)
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
// The block format's end-of-block rules, which liblz4's decoder (and so DuckDB, pyarrow, polars, Kafka's Java
// clients) enforces: the last match starts at least 12 bytes before the end, and the last 5 bytes are literals.
const MATCH_START_LIMIT = 12
const LAST_LITERALS = 5

/**
 * One raw LZ4 block of known size (Parquet's LZ4_RAW), every length checked: lz4js' block decoder reads and
 * writes past its buffers without noticing, so corrupt input would come back as silently wrong bytes. `strict` also
 * enforces the end-of-block rules that liblz4 enforces: reading tolerates blocks that break them (older Everlog
 * segments have some), `everlog verify --deep` does not, since other engines cannot read such a block.
 */
export function lz4DecompressBlock(input: Uint8Array, size: number, strict = false): Buffer {
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
    if (strict && op > size - MATCH_START_LIMIT) {
      fail(`a match starts ${size - op} bytes before the end of the block; the format requires at least 12`)
    }
    if (strict && op + length > size - LAST_LITERALS) {
      fail(`a match ends ${size - op - length} bytes before the end of the block; the last 5 bytes must be literals`)
    }
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

// zstd: fzstd (pure JS) decompresses frames with or without a declared content size, which streaming
// compressors such as librdkafka's omit; @bokuweb/zstd-wasm compresses. Its WASM is initialised when this module
// loads (a few ms), so segment encoding can compress synchronously.
import { decompress as fzstdDecompress } from 'fzstd'
import { init as zstdInit, compress as zstdWasmCompress } from '@bokuweb/zstd-wasm'
import { FormatError } from '../errors.js'

await zstdInit()

export function zstdCompressSync(input: Uint8Array, level = 3): Buffer {
  const out = zstdWasmCompress(input, level)
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
}

export async function zstdCompress(input: Uint8Array, level = 3): Promise<Buffer> {
  return zstdCompressSync(input, level)
}

export function zstdDecompress(input: Buffer): Buffer {
  try {
    const out = fzstdDecompress(input)
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  } catch (err) {
    throw new FormatError(`invalid zstd data: ${(err as Error).message}`, { cause: err })
  }
}

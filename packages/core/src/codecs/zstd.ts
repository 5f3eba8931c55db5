// zstd. Native libzstd through the optional zstd-napi binding when it built at install (2-3x WASM's speed both
// ways); otherwise @bokuweb/zstd-wasm, whose WASM is initialised when this module loads (a few ms) so segment
// encoding can compress synchronously. fzstd (pure JS) decompresses frames of unknown content size, which
// streaming compressors such as librdkafka's write. EVERLOG_ZSTD=wasm forces the WASM path (tests, comparisons).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { decompress as fzstdDecompress } from 'fzstd'
import { compress as zstdWasmCompress, decompress as zstdWasmDecompress } from '@bokuweb/zstd-wasm'
import { FormatError } from '../errors.js'

/** The part of zstd-napi's low-level binding used here. */
interface NativeZstd {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number }
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number }
  compressBound(size: number): number
}

function loadNative(): NativeZstd | undefined {
  if (process.env.EVERLOG_ZSTD === 'wasm') return undefined
  try {
    return createRequire(import.meta.url)('zstd-napi/binding') as NativeZstd
  } catch {
    // Not built (no compiler at install, or an unsupported platform): the WASM build does the same job, slower.
    return undefined
  }
}

interface WasmInstance {
  exports: object
}
/** Node's WebAssembly global (the project's type libraries leave it out). */
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object
      Instance: new (module: object, imports: object) => WasmInstance
    }
  }
).WebAssembly

/** The Emscripten module object behind @bokuweb/zstd-wasm, as far as the synchronous set-up below uses it. */
interface EmscriptenModule {
  calledRun?: boolean
  instantiateWasm?: (imports: object, receive: (instance: WasmInstance) => void) => unknown
  init(): void
}

/**
 * Sets the WASM build up synchronously, through Emscripten's documented `instantiateWasm` hook, instead of its
 * asynchronous init(): a top-level await here would make every package that imports core impossible to require()
 * from CommonJS. Node compiles a module of this size synchronously without complaint.
 */
function initWasmSync(): void {
  const require = createRequire(import.meta.url)
  // The package's exports map hides its module object; its files sit next to the resolved entry point.
  const dir = dirname(require.resolve('@bokuweb/zstd-wasm'))
  const { Module } = require(join(dir, 'module.js')) as { Module: EmscriptenModule }
  if (Module.calledRun) return
  const wasm = new Wasm.Module(readFileSync(join(dir, 'zstd.wasm')))
  Module.instantiateWasm = (imports, receive) => {
    const instance = new Wasm.Instance(wasm, imports)
    receive(instance)
    return instance.exports
  }
  try {
    Module.init()
  } finally {
    delete Module.instantiateWasm
  }
  if (!Module.calledRun) throw new Error('zstd: the WASM build did not initialise')
}

const native = loadNative()
// The WASM build's memory (about 10 MiB per thread) is only set up when it is the one in use.
if (!native) initWasmSync()

/** Which zstd compresses and decompresses pages in this process. */
export const zstdImplementation: 'native' | 'wasm' = native ? 'native' : 'wasm'

// One context each per thread (this module is loaded once per worker): contexts keep their tables between calls.
const cctx = native ? new native.CCtx() : undefined
const dctx = native ? new native.DCtx() : undefined
// Compression writes into this scratch buffer, grown to the largest bound seen, then copies out exactly the bytes
// written: a bound-sized result per call would hold ~7x the compressed size until the segment is assembled.
let scratch = Buffer.alloc(0)

export function zstdCompressSync(input: Uint8Array, level = 3): Buffer {
  if (native && cctx) {
    const bound = native.compressBound(input.length)
    if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(Math.max(bound, 1 << 16))
    const n = cctx.compress(scratch, input, level)
    // allocUnsafeSlow: the result owns its ArrayBuffer, so a worker can transfer it without copying a shared pool.
    const out = Buffer.allocUnsafeSlow(n)
    scratch.copy(out, 0, 0, n)
    return out
  }
  const out = zstdWasmCompress(input, level)
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
}

export async function zstdCompress(input: Uint8Array, level = 3): Promise<Buffer> {
  return zstdCompressSync(input, level)
}

export function zstdDecompress(input: Buffer): Buffer {
  if (dctx) {
    const declared = frameContentSize(input)
    // A declared size up to the same expansion bound as sized pages is trusted for the allocation; zstd still
    // refuses to write past it. Anything else (no size declared, several frames) is left to fzstd.
    if (typeof declared === 'number' && declared <= input.length * MAX_EXPANSION + 64) {
      try {
        const out = Buffer.allocUnsafeSlow(declared)
        if (dctx.decompress(out, input) === declared) return out
      } catch {
        // Fall through: fzstd's message names the problem as well as any, and it reads multi-frame input.
      }
    }
  }
  try {
    const out = fzstdDecompress(input)
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  } catch (err) {
    throw new FormatError(`invalid zstd data: ${(err as Error).message}`, { cause: err })
  }
}

const FRAME_MAGIC = 0xfd2fb528
// An RLE block of 4 bytes regenerates up to 128 KiB: no valid frame expands more, so a larger declared size is
// garbage and is refused before anything is allocated.
const MAX_EXPANSION = 32768
// The WASM allocator cannot report failure through zstd-wasm's API (a failed malloc would write at address 0), so
// only sizes it can surely grow to go through WASM; anything larger is left to fzstd.
const WASM_MAX_OUTPUT = 64 << 20
// zstd's limit on 32-bit targets: a frame asking for more makes its header "invalid" to the WASM build.
const WASM_MAX_WINDOW_LOG = 30

/**
 * Decompresses zstd data whose decompressed size is known (a Parquet page), synchronously, through WASM (about
 * three times fzstd's speed). The result is exactly `size` bytes, or FormatError.
 */
export function zstdDecompressSized(input: Uint8Array, size: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0 || size > input.length * MAX_EXPANSION + 64) {
    throw new FormatError(`invalid zstd data: ${input.length} bytes cannot hold ${size} decompressed bytes`)
  }
  const declared = frameContentSize(input)
  if (typeof declared === 'number' && declared !== size) {
    throw new FormatError(`invalid zstd data: the frame declares ${declared} bytes, expected ${size}`)
  }
  if (dctx) {
    // libzstd checks the frame itself and never writes past `out`.
    const out = Buffer.allocUnsafeSlow(size)
    let n: number
    try {
      n = dctx.decompress(out, input)
    } catch (err) {
      throw new FormatError(`invalid zstd data: ${(err as Error).message}`, { cause: err })
    }
    if (n !== size) throw new FormatError(`invalid zstd data: decompressed to ${n} bytes, expected ${size}`)
    return out
  }
  let out: Buffer
  if (declared !== 'unreadable' && size <= WASM_MAX_OUTPUT) {
    try {
      // Without a declared content size, zstd-wasm allocates defaultHeapSize and zstd refuses to write past it.
      const d = zstdWasmDecompress(input, { defaultHeapSize: Math.max(size, 1) })
      out = Buffer.from(d.buffer, d.byteOffset, d.byteLength)
    } catch (err) {
      throw new FormatError(`invalid zstd data: ${(err as Error).message}`, { cause: err })
    }
  } else {
    out = zstdDecompress(Buffer.from(input.buffer, input.byteOffset, input.byteLength))
  }
  if (out.length !== size) {
    throw new FormatError(`invalid zstd data: decompressed to ${out.length} bytes, expected ${size}`)
  }
  return out
}

/**
 * The first frame's content size as zstd would read it: a number, undefined when the frame omits it, or
 * 'unreadable' for anything zstd-wasm would turn into a bogus allocation (not a zstd frame, truncated header,
 * reserved bit, too large a window).
 */
function frameContentSize(b: Uint8Array): number | undefined | 'unreadable' {
  if (b.length < 6 || readU32(b, 0) !== FRAME_MAGIC) {
    return 'unreadable'
  }
  const fhd = b[4]!
  const single = (fhd & 0x20) !== 0
  if ((fhd & 0x08) !== 0) return 'unreadable'
  let pos = 5
  if (!single) {
    if ((b[pos++]! >> 3) + 10 > WASM_MAX_WINDOW_LOG) return 'unreadable'
  }
  pos += [0, 1, 2, 4][fhd & 3]!
  const fcsFlag = fhd >> 6
  const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!
  if (pos + fcsBytes > b.length) return 'unreadable'
  if (fcsBytes === 0) return undefined
  let n = 0
  for (let i = fcsBytes - 1; i >= 0; i--) n = n * 256 + b[pos + i]!
  return fcsBytes === 2 ? n + 256 : n
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
}

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import {
  lz4Compress,
  lz4Decompress,
  snappyCompress,
  snappyDecompress,
  zstdCompress,
  zstdDecompress,
  registerKafkaCodecs,
  KafkaCompression,
} from '../src/codecs/index.js'
import { FormatError } from '../src/errors.js'
import { zstdCompressSync, zstdDecompressSized, zstdImplementation } from '../src/codecs/zstd.js'
import { compress as wasmCompress, decompress as wasmDecompress, init as wasmInit } from '@bokuweb/zstd-wasm'
import { createRequire } from 'node:module'
import { spawnSync } from 'node:child_process'
import * as lz4js from 'lz4js'
import { missingTool, testPython } from '@everlog/testkit'
import { lz4CompressBlock, lz4DecompressBlock } from '../src/codecs/lz4.js'

// Compressible, record-like payload: JSON lines with repetition plus some random bytes.
function sample(size: number): Buffer {
  const parts: Buffer[] = []
  let n = 0
  for (let i = 0; n < size; i++) {
    const line = Buffer.from(JSON.stringify({ id: i, sku: `sku-${i % 97}`, note: randomBytes(8).toString('hex') }))
    parts.push(line)
    n += line.length
  }
  return Buffer.concat(parts).subarray(0, size)
}

function cli(cmd: string, args: string[], input: Buffer): Buffer {
  return execFileSync(cmd, args, { input, maxBuffer: 64 << 20 })
}

test('lz4 frames round-trip and interoperate with the reference lz4 tool', () => {
  for (const size of [0, 1, 1000, 70_000, 3 << 20]) {
    const data = sample(size)
    assert.deepEqual(lz4Decompress(lz4Compress(data)), data, `own round trip of ${size} bytes`)
    // The reference tool writes block and content checksums when asked; both must be skipped correctly.
    const ref = cli('lz4', ['-c', '-q', '-B4', '--content-size', '-BX'], data)
    assert.deepEqual(lz4Decompress(ref), data, `reference frame of ${size} bytes`)
    assert.deepEqual(cli('lz4', ['-d', '-c', '-q'], lz4Compress(data)), data, `reference decodes ours (${size})`)
    // Apache Kafka refuses frames whose blocks depend on earlier ones ("Dependent block stream is unsupported").
    assert.equal(lz4Compress(data)[4]! & 0x20, 0x20, 'the frame declares independent blocks')
  }
})

// Small blocks over a 4-letter alphabet: matches everywhere, including near the end of the block, where the block
// format forbids them (lz4js, the encoder Everlog used before, put some there).
function tailMatchInputs(): Buffer[] {
  let seed = 1
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
  const inputs: Buffer[] = []
  for (let i = 0; i < 400; i++) {
    const b = Buffer.alloc(13 + Math.floor(rand() * 200))
    for (let j = 0; j < b.length; j++) b[j] = 0x61 + Math.floor(rand() * 4)
    inputs.push(b)
  }
  return [...inputs, sample(0), sample(5), sample(4 << 20), Buffer.alloc(100_000)]
}

/** The blocks lz4js wrote, for showing the checks below catch what went wrong (it returns 0 for no match). */
function lz4jsBlock(input: Buffer): Buffer | undefined {
  const out = Buffer.alloc(lz4js.compressBound(input.length))
  const n = lz4js.compressBlock(input, out, 0, input.length, new Uint32Array(1 << 16))
  return n > 0 ? out.subarray(0, n) : undefined
}

function strictlyValid(block: Buffer, size: number): boolean {
  try {
    lz4DecompressBlock(block, size, true)
    return true
  } catch {
    return false
  }
}

test('LZ4 blocks (Parquet LZ4_RAW) follow the end-of-block rules: no match starts in the last 12 bytes', () => {
  const inputs = tailMatchInputs()
  for (const input of inputs) {
    const block = lz4CompressBlock(input)
    assert.deepEqual(lz4DecompressBlock(block, input.length, true), input, `${input.length} bytes`)
  }
  // The same inputs did trip the previous encoder, so the check above is not vacuous.
  const broken = inputs.filter((i) => {
    const old = lz4jsBlock(i)
    return old !== undefined && !strictlyValid(old, i.length)
  })
  assert.ok(broken.length > 10, `${broken.length} of ${inputs.length} inputs broke the rules with lz4js`)
  // Read tolerantly, such blocks still decode (segments written before the fix stay readable).
  for (const input of broken) assert.deepEqual(lz4DecompressBlock(lz4jsBlock(input)!, input.length), input)
})

test('the strict LZ4 block check rejects a match starting 10 bytes before the end, and a match into the last 5', () => {
  // 10 literals "0123456789", a 4-byte match at offset 10 (starting 10 bytes before the end), 6 literals.
  const late = Buffer.concat([
    Buffer.from([0xa0]),
    Buffer.from('0123456789'),
    Buffer.from([10, 0, 0x60]),
    Buffer.from('abcdef'),
  ])
  assert.equal(lz4DecompressBlock(late, 20).toString(), '01234567890123abcdef')
  assert.throws(() => lz4DecompressBlock(late, 20, true), /starts 10 bytes before the end/)
  // 20 literals, then a 16-byte match at offset 20 (starting 19 bytes before the end, ending 3 before it), 3 literals.
  const tail = Buffer.concat([
    Buffer.from([0xfc, 5]),
    Buffer.from('abcdefghijklmnopqrst'),
    Buffer.from([20, 0, 0x30]),
    Buffer.from('xyz'),
  ])
  assert.equal(lz4DecompressBlock(tail, 39).toString(), 'abcdefghijklmnopqrstabcdefghijklmnopxyz')
  assert.throws(() => lz4DecompressBlock(tail, 39, true), /the last 5 bytes must be literals/)
})

test('liblz4 (the decoder DuckDB, pyarrow and polars use) decodes every LZ4 block Everlog writes', (t) => {
  const python = testPython()
  const missing = missingTool(python, 'the test Python virtualenv')
  if (missing) return t.skip(missing)
  const inputs = tailMatchInputs()
  // One Python process judges every block: [u32 size][u32 length][block] records on stdin; it prints one verdict
  // per block, 1 when liblz4 decoded it to exactly `size` bytes equal to the input.
  const judge = (blocks: Buffer[]): string => {
    const framed = blocks.flatMap((b, i) => {
      const head = Buffer.alloc(8)
      head.writeUInt32LE(inputs[i]!.length, 0)
      head.writeUInt32LE(b.length, 4)
      return [head, b, inputs[i]!]
    })
    const script = [
      'import lz4.block, struct, sys',
      'data = sys.stdin.buffer.read(); pos = 0; out = []',
      'while pos < len(data):',
      '    size, n = struct.unpack_from("<II", data, pos); pos += 8',
      '    block = data[pos:pos + n]; pos += n; want = data[pos:pos + size]; pos += size',
      '    try: out.append("1" if lz4.block.decompress(block, uncompressed_size=size) == want else "0")',
      '    except Exception: out.append("0")',
      'print("".join(out))',
    ].join('\n')
    const r = spawnSync(python, ['-c', script], { input: Buffer.concat(framed), maxBuffer: 1 << 20 })
    assert.equal(r.status, 0, r.stderr.toString())
    return r.stdout.toString().trim()
  }
  assert.equal(judge(inputs.map((i) => lz4CompressBlock(i))), '1'.repeat(inputs.length))
  // liblz4 does reject what the previous encoder wrote for some of these inputs.
  const old = judge(inputs.map((i) => lz4jsBlock(i) ?? lz4CompressBlock(i)))
  assert.ok(old.includes('0'), 'liblz4 accepted every lz4js block: the inputs no longer exercise the rule')
})

test('zstd frames round-trip and interoperate with the reference zstd tool (also without content size)', async () => {
  for (const size of [0, 1, 100_000, 2 << 20]) {
    const data = sample(size)
    assert.deepEqual(zstdDecompress(await zstdCompress(data)), data)
    // --no-content-size mimics streaming compressors (librdkafka) that omit the frame's content size.
    assert.deepEqual(zstdDecompress(cli('zstd', ['-c', '-q', '--no-content-size'], data)), data)
    assert.deepEqual(cli('zstd', ['-d', '-c', '-q'], await zstdCompress(data)), data)
  }
})

test('zstd uses the native binding whenever it is installed, and its frames interoperate with the WASM build', async () => {
  let installed = true
  try {
    createRequire(import.meta.url)('zstd-napi/binding')
  } catch {
    installed = false
  }
  // A silent fallback would halve the archiver's speed unnoticed; EVERLOG_ZSTD=wasm asks for it on purpose.
  const expected = installed && process.env.EVERLOG_ZSTD !== 'wasm' ? 'native' : 'wasm'
  assert.equal(zstdImplementation, expected)
  await wasmInit()
  for (const size of [0, 1, 100_000, 2 << 20]) {
    const data = sample(size)
    const ours = zstdCompressSync(data, 3)
    // Results own their memory: the encode and decode workers transfer them without a copy.
    assert.equal(ours.byteOffset, 0)
    assert.equal(ours.buffer.byteLength, ours.length)
    assert.deepEqual(Buffer.from(wasmDecompress(ours)), data, `WASM reads ours (${size} bytes)`)
    const page = zstdDecompressSized(Buffer.from(wasmCompress(data, 3)), size)
    assert.deepEqual(page, data, `ours reads WASM's (${size} bytes)`)
    assert.equal(page.buffer.byteLength, page.length)
  }
})

test('snappy round-trips raw and decodes the xerial framing of the Java client', () => {
  const data = sample(200_000)
  assert.deepEqual(snappyDecompress(snappyCompress(data)), data)
  const a = snappyCompress(data.subarray(0, 100_000))
  const b = snappyCompress(data.subarray(100_000))
  const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])
  const len = (n: number) => {
    const x = Buffer.alloc(4)
    x.writeUInt32BE(n)
    return x
  }
  const xerial = Buffer.concat([header, len(a.length), a, len(b.length), b])
  assert.deepEqual(snappyDecompress(xerial), data)
})

test('a hostile snappy literal length cannot send the decoder backwards (it once looped for seconds)', () => {
  // Declared length 10, then a literal tag with a 4-byte length of 0xffffffff.
  const hostile = Buffer.from([0x0a, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01])
  assert.throws(() => snappyDecompress(hostile), FormatError)
  // Overlapping copies (a run) decode as the format defines.
  const run = Buffer.alloc(1000, 0x61)
  assert.deepEqual(snappyDecompress(snappyCompress(run)), run)
})

test('every decoder rejects garbage with FormatError, never a crash', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
      const buf = Buffer.from(bytes)
      for (const decode of [lz4Decompress, snappyDecompress, zstdDecompress]) {
        try {
          decode(buf)
        } catch (err) {
          assert.ok(
            err instanceof FormatError,
            `${decode.name} threw ${(err as Error).name}: ${(err as Error).message}`,
          )
        }
      }
    }),
    { numRuns: 300 },
  )
})

test('registerKafkaCodecs fills the snappy, lz4 and zstd slots of a kafkajs-style table', async () => {
  const table: Record<number, unknown> = {}
  registerKafkaCodecs(table)
  const data = sample(10_000)
  for (const type of [KafkaCompression.Snappy, KafkaCompression.LZ4, KafkaCompression.ZSTD]) {
    const codec = (
      table[type] as () => {
        compress: (e: { buffer: Buffer }) => Promise<Buffer>
        decompress: (b: Buffer) => Promise<Buffer>
      }
    )()
    assert.deepEqual(await codec.decompress(await codec.compress({ buffer: data })), data, `codec ${type}`)
  }
})

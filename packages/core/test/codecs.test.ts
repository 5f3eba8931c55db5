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

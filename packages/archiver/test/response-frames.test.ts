import assert from 'node:assert/strict'
import { test } from 'node:test'
import { frameResponses, ResponseBuffers } from '../src/fetch/response-frames.js'

/** A stand-in for kafkajs' Connection: records what its processData is given and the state it was given it in. */
function fakeConnection() {
  const seen: { bytes: Buffer; chunks: number; bytesBuffered: number }[] = []
  const c = {
    socket: {} as unknown,
    authHandlers: undefined as unknown,
    authExpectResponse: false,
    chunks: [] as Buffer[],
    bytesBuffered: 0,
    bytesNeeded: 4,
    processData(data: Buffer) {
      seen.push({ bytes: data, chunks: this.chunks.length, bytesBuffered: this.bytesBuffered })
      // As kafkajs does after reading a whole response: the (empty) rest stays buffered.
      this.chunks = [data.subarray(data.length)]
    },
  }
  return { c, seen }
}

function frame(size: number, fill: number): Buffer {
  const b = Buffer.alloc(4 + size, fill)
  b.writeInt32BE(size, 0)
  return b
}

test('reads cut anywhere, even inside a size, reach kafkajs as whole responses with nothing buffered', () => {
  const buffers = new ResponseBuffers()
  const { c, seen } = fakeConnection()
  frameResponses(c, buffers)
  const frames = [frame(10, 1), frame(2 * 1024 * 1024, 2), frame(0, 3), frame(1500 * 1024, 4)]
  const stream = Buffer.concat(frames)
  // Cuts at 2 (inside the first size), 13 (inside the second size) and uneven places after that.
  const cuts = [0, 2, 13, 100, 70_000, 2 * 1024 * 1024 + 3, 2 * 1024 * 1024 + 20, stream.length]
  for (let i = 1; i < cuts.length; i++) c.processData(stream.subarray(cuts[i - 1], cuts[i]))
  assert.equal(seen.length, frames.length)
  for (let i = 0; i < frames.length; i++) {
    assert.ok(seen[i]!.bytes.equals(frames[i]!), `response ${i}`)
    assert.equal(seen[i]!.chunks, 0, `nothing buffered before response ${i}`)
    assert.equal(seen[i]!.bytesBuffered, 0)
  }
})

test('a response buffer is taken again only after it was released', () => {
  const buffers = new ResponseBuffers()
  const { c, seen } = fakeConnection()
  frameResponses(c, buffers)
  const big = () => frame(2 * 1024 * 1024, 7)
  c.processData(big())
  c.processData(big())
  // Neither was released: two buffers of their own.
  assert.notEqual(seen[0]!.bytes.buffer, seen[1]!.bytes.buffer)
  const first = seen[0]!.bytes.buffer
  buffers.release(seen[0]!.bytes)
  c.processData(big())
  assert.equal(seen[2]!.bytes.buffer, first, 'the released buffer is reused')
  // A buffer it never handed out is not taken in.
  buffers.release(Buffer.alloc(4 * 1024 * 1024))
  c.processData(big())
  assert.notEqual(seen[3]!.bytes.buffer, first)
  assert.notEqual(seen[3]!.bytes.buffer, seen[1]!.bytes.buffer)
})

test('a new socket drops the half-read response of the old one', () => {
  const { c, seen } = fakeConnection()
  frameResponses(c, new ResponseBuffers())
  const a = frame(100, 1)
  c.processData(a.subarray(0, 50))
  c.socket = {}
  const b = frame(20, 2)
  c.processData(b)
  assert.equal(seen.length, 1)
  assert.ok(seen[0]!.bytes.equals(b))
})

test('SASL bytes without Kafka framing go to kafkajs untouched', () => {
  const { c, seen } = fakeConnection()
  frameResponses(c, new ResponseBuffers())
  c.authHandlers = {}
  const raw = Buffer.from('not a framed response')
  c.processData(raw)
  assert.equal(seen.length, 1)
  assert.equal(seen[0]!.bytes, raw)
})

test('a connection of another shape is left as it is', () => {
  const processData = () => {}
  const c = { processData }
  frameResponses(c, new ResponseBuffers())
  assert.equal(c.processData, processData)
})

// Whole responses of the fetching connections, gathered into buffers the fetcher hands back once their records are
// copied out. kafkajs gathers a response's socket reads with Buffer.concat, a new buffer of the response's size (up
// to kafka.maxBytes) per Fetch. V8 counts such buffers as memory grown since its last full GC, and against the
// archiver's small JS heap (it makes no object per record) that started a mark-compact every ~50 ms: ~60 per 500k
// records of ~1 KiB, against 14 for a kafkajs consumer of the same records, and most of the CPU the archiver spent
// beyond kafkajs'.
//
// Each connection's reads are cut into whole responses here, and kafkajs is handed one response at a time with
// nothing buffered, so it reads it in place without a concat. Reuse is explicit: a buffer is taken again only after
// `release`, which the fetcher calls once the response was handed over; a response never released is left to the GC.

/** Responses smaller than this (metadata, errors, a quiet partition's) get a buffer of their own. */
const POOLED_MIN = 1024 * 1024
/** Sizes are rounded up to this, so responses of slightly different sizes share buffers. */
const ROUNDING = 1024 * 1024
/** Free buffers kept: one response is handed over while the next one arrives (one request per broker in flight). */
const MAX_FREE = 2
const HEADER = 4

export class ResponseBuffers {
  private readonly free: Buffer[] = []
  /** Buffers handed out by take() and not released since: only these may come back. */
  private readonly out = new WeakSet<ArrayBuffer>()

  /** A buffer of at least `size` bytes that nothing else uses until it is released. */
  take(size: number): Buffer {
    if (size < POOLED_MIN) return Buffer.allocUnsafe(size)
    let buf: Buffer | undefined
    const i = this.free.findIndex((b) => b.length >= size)
    if (i >= 0) buf = this.free.splice(i, 1)[0]!
    else buf = Buffer.allocUnsafeSlow(Math.ceil(size / ROUNDING) * ROUNDING)
    this.out.add(buf.buffer as ArrayBuffer)
    return buf
  }

  /**
   * Gives back the buffer `view` lies in, once nothing reads the response any more; once per response (a later call
   * would give back the buffer while another response fills it). Buffers it did not hand out are ignored.
   */
  release(view: Uint8Array): void {
    const ab = view.buffer as ArrayBuffer
    if (!this.out.has(ab)) return
    this.out.delete(ab)
    if (this.free.length < MAX_FREE) this.free.push(Buffer.from(ab, 0, ab.byteLength))
  }
}

/** The part of a kafkajs Connection (2.2) the framing relies on. */
interface FramedConnection {
  socket: unknown
  authHandlers: unknown
  authExpectResponse: boolean
  chunks: Buffer[]
  bytesBuffered: number
  bytesNeeded: number
  processData(data: Buffer): void
}

interface Frame {
  socket: unknown
  header: Buffer
  headerFilled: number
  buf: Buffer | undefined
  total: number
  filled: number
}

const FRAMED = Symbol('everlog:framed')

/**
 * Makes `connection` hand kafkajs whole responses in buffers from `buffers`. Connections of another shape (a kafkajs
 * that changed) are left as they are: they work as before, only without the reuse.
 */
export function frameResponses(connection: unknown, buffers: ResponseBuffers): void {
  const c = connection as FramedConnection & { [FRAMED]?: true }
  if (c[FRAMED] || typeof c.processData !== 'function' || !Array.isArray(c.chunks)) return
  if (typeof c.bytesBuffered !== 'number' || typeof c.bytesNeeded !== 'number') return
  c[FRAMED] = true
  const original = c.processData
  const f: Frame = {
    socket: undefined,
    header: Buffer.alloc(HEADER),
    headerFilled: 0,
    buf: undefined,
    total: 0,
    filled: 0,
  }
  c.processData = function (this: FramedConnection, data: Buffer): void {
    // SASL exchanges without Kafka framing (authenticate v0) are kafkajs' own business.
    if (this.authHandlers && !this.authExpectResponse) return original.call(this, data)
    if (f.socket !== this.socket) {
      // A new socket (reconnected): whatever was half-read belonged to the old one.
      f.socket = this.socket
      f.headerFilled = 0
      f.buf = undefined
    }
    let at = 0
    while (at < data.length) {
      if (f.buf === undefined) {
        const n = Math.min(HEADER - f.headerFilled, data.length - at)
        data.copy(f.header, f.headerFilled, at, at + n)
        f.headerFilled += n
        at += n
        if (f.headerFilled < HEADER) return
        const size = f.header.readInt32BE(0)
        f.headerFilled = 0
        if (size < 0) {
          // Not a response kafkajs could read either: let it fail on it the way it does.
          this.chunks = []
          this.bytesBuffered = 0
          this.bytesNeeded = HEADER
          return original.call(this, Buffer.concat([f.header, data.subarray(at)]))
        }
        f.total = HEADER + size
        f.buf = buffers.take(f.total)
        f.header.copy(f.buf, 0)
        f.filled = HEADER
      }
      const n = Math.min(f.total - f.filled, data.length - at)
      data.copy(f.buf, f.filled, at, at + n)
      f.filled += n
      at += n
      if (f.filled === f.total) {
        const whole = f.buf.subarray(0, f.total)
        f.buf = undefined
        // Nothing buffered on kafkajs' side: it reads this one response in place (no concat) and returns.
        this.chunks = []
        this.bytesBuffered = 0
        this.bytesNeeded = HEADER
        original.call(this, whole)
        if (this.authHandlers && !this.authExpectResponse) return original.call(this, data.subarray(at))
      }
    }
  }
}

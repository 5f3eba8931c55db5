// Encodes Kafka wire primitives into a response. Large payloads (record batches) are appended by reference with
// raw(), so Fetch responses are written to the socket without copying the log.

const MIN_SCRATCH = 1024

export class Writer {
  private scratch: Buffer
  private pos = 0
  private start = 0
  private readonly chunks: Buffer[] = []
  private flushedLength = 0

  constructor(initial = MIN_SCRATCH) {
    this.scratch = Buffer.allocUnsafe(initial)
  }

  /** Bytes written so far. */
  get length(): number {
    return this.flushedLength + (this.pos - this.start)
  }

  /**
   * Reserves n bytes and returns where. It may swap `this.scratch`, so callers read `this.scratch` only after it
   * returns (`this.scratch.writeX(v, this.ensure(n))` would write into the old buffer).
   */
  private ensure(n: number): number {
    if (this.pos + n > this.scratch.length) {
      this.flushScratch()
      this.scratch = Buffer.allocUnsafe(Math.max(MIN_SCRATCH * 4, n, this.scratch.length))
      this.pos = 0
      this.start = 0
    }
    const at = this.pos
    this.pos += n
    return at
  }

  private flushScratch(): void {
    if (this.pos > this.start) {
      const c = this.scratch.subarray(this.start, this.pos)
      this.chunks.push(c)
      this.flushedLength += c.length
      this.start = this.pos
    }
  }

  int8(v: number): this {
    const at = this.ensure(1)
    this.scratch.writeInt8(v, at)
    return this
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0)
  }
  int16(v: number): this {
    const at = this.ensure(2)
    this.scratch.writeInt16BE(v, at)
    return this
  }
  int32(v: number): this {
    const at = this.ensure(4)
    this.scratch.writeInt32BE(v, at)
    return this
  }
  uint32(v: number): this {
    const at = this.ensure(4)
    this.scratch.writeUInt32BE(v, at)
    return this
  }
  int64(v: bigint | number): this {
    const at = this.ensure(8)
    this.scratch.writeBigInt64BE(typeof v === 'bigint' ? v : BigInt(v), at)
    return this
  }
  float64(v: number): this {
    const at = this.ensure(8)
    this.scratch.writeDoubleBE(v, at)
    return this
  }
  uvarint(v: number): this {
    while (v >= 0x80) {
      const at = this.ensure(1)
      this.scratch[at] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    const at = this.ensure(1)
    this.scratch[at] = v
    return this
  }
  varint(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1)
  }
  varlong(v: bigint): this {
    let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n))
    while (u >= 0x80n) {
      const at = this.ensure(1)
      this.scratch[at] = Number(u & 0x7fn) | 0x80
      u >>= 7n
    }
    const at = this.ensure(1)
    this.scratch[at] = Number(u)
    return this
  }
  uuid(v: Buffer | null): this {
    const at = this.ensure(16)
    if (v === null) this.scratch.fill(0, at, at + 16)
    else v.copy(this.scratch, at, 0, 16)
    return this
  }

  /** Appends bytes; big ones by reference (the caller must not mutate them before the response is written). */
  raw(b: Buffer | Uint8Array): this {
    if (b.length >= 512) {
      this.flushScratch()
      const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length)
      this.chunks.push(buf)
      this.flushedLength += buf.length
    } else {
      const at = this.ensure(b.length)
      this.scratch.set(b, at)
    }
    return this
  }

  private utf8(s: string, lenPrefix: (n: number) => void): this {
    const n = Buffer.byteLength(s)
    lenPrefix(n)
    const at = this.ensure(n)
    this.scratch.write(s, at, n, 'utf8')
    return this
  }

  string(s: string): this {
    return this.utf8(s, (n) => this.int16(n))
  }
  nullableString(s: string | null | undefined): this {
    return s == null ? this.int16(-1) : this.string(s)
  }
  compactString(s: string): this {
    return this.utf8(s, (n) => this.uvarint(n + 1))
  }
  compactNullableString(s: string | null | undefined): this {
    return s == null ? this.uvarint(0) : this.compactString(s)
  }
  bytes(b: Buffer | Uint8Array): this {
    return this.int32(b.length).raw(b)
  }
  nullableBytes(b: Buffer | Uint8Array | null | undefined): this {
    return b == null ? this.int32(-1) : this.bytes(b)
  }
  compactBytes(b: Buffer | Uint8Array): this {
    return this.uvarint(b.length + 1).raw(b)
  }
  compactNullableBytes(b: Buffer | Uint8Array | null | undefined): this {
    return b == null ? this.uvarint(0) : this.compactBytes(b)
  }
  /** varint-length bytes as used inside v2 records (-1 = null). */
  varintBytes(b: Buffer | Uint8Array | null | undefined): this {
    return b == null ? this.varint(-1) : this.varint(b.length).raw(b)
  }

  // Flexible-aware helpers: one encoder serves classic and flexible versions of a message.
  str(flexible: boolean, s: string): this {
    return flexible ? this.compactString(s) : this.string(s)
  }
  nstr(flexible: boolean, s: string | null | undefined): this {
    return flexible ? this.compactNullableString(s) : this.nullableString(s)
  }
  byts(flexible: boolean, b: Buffer | Uint8Array): this {
    return flexible ? this.compactBytes(b) : this.bytes(b)
  }
  nbytes(flexible: boolean, b: Buffer | Uint8Array | null | undefined): this {
    return flexible ? this.compactNullableBytes(b) : this.nullableBytes(b)
  }
  /** Length prefix of an array (compact in flexible versions); null writes a null array. */
  arrayLength(flexible: boolean, n: number | null): this {
    if (n === null) return flexible ? this.uvarint(0) : this.int32(-1)
    return flexible ? this.uvarint(n + 1) : this.int32(n)
  }
  array<T>(flexible: boolean, items: readonly T[] | null, item: (w: this, v: T) => void): this {
    this.arrayLength(flexible, items === null ? null : items.length)
    if (items !== null) for (const v of items) item(this, v)
    return this
  }
  /** Empty tagged-field section; a no-op in classic versions. */
  tags(flexible = true): this {
    return flexible ? this.uvarint(0) : this
  }

  /** The encoded bytes as chunks (record batches are not copied). */
  chunksOut(): Buffer[] {
    this.flushScratch()
    return this.chunks
  }
  /** The encoded bytes as one buffer (copies; for tests and small messages). */
  toBuffer(): Buffer {
    return Buffer.concat(this.chunksOut())
  }
}

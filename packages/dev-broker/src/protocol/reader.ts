// Decodes Kafka wire primitives from one request frame. Every read is bounds-checked: a short or lying frame
// throws MalformedFrameError and the server closes only that connection.

export class MalformedFrameError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MalformedFrameError'
  }
}

export class Reader {
  readonly buf: Buffer
  pos: number
  readonly end: number

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf
    this.pos = pos
    this.end = end
  }

  get remaining(): number {
    return this.end - this.pos
  }

  private need(n: number, what: string): number {
    const at = this.pos
    if (n < 0 || at + n > this.end) {
      throw new MalformedFrameError(`frame too short reading ${what} at byte ${at} (need ${n}, have ${this.end - at})`)
    }
    this.pos = at + n
    return at
  }

  int8(): number {
    return this.buf.readInt8(this.need(1, 'int8'))
  }
  bool(): boolean {
    return this.int8() !== 0
  }
  int16(): number {
    return this.buf.readInt16BE(this.need(2, 'int16'))
  }
  int32(): number {
    return this.buf.readInt32BE(this.need(4, 'int32'))
  }
  uint32(): number {
    return this.buf.readUInt32BE(this.need(4, 'uint32'))
  }
  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8, 'int64'))
  }
  /** int64 as a JS number: offsets and timestamps stay far below 2^53 in a dev broker. */
  int64n(): number {
    return Number(this.int64())
  }
  float64(): number {
    return this.buf.readDoubleBE(this.need(8, 'float64'))
  }

  uvarint(): number {
    let value = 0
    let shift = 0
    for (;;) {
      const b = this.buf[this.need(1, 'varint')]!
      value += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return value
      shift += 7
      if (shift >= 35) throw new MalformedFrameError('unsigned varint longer than 5 bytes')
    }
  }
  varint(): number {
    const u = this.uvarint()
    // zig-zag decode without 32-bit overflow
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2
  }
  varlong(): bigint {
    let value = 0n
    let shift = 0n
    for (;;) {
      const b = this.buf[this.need(1, 'varlong')]!
      value |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) break
      shift += 7n
      if (shift > 63n) throw new MalformedFrameError('varlong longer than 10 bytes')
    }
    return (value >> 1n) ^ -(value & 1n)
  }

  uuid(): Buffer {
    const at = this.need(16, 'uuid')
    return this.buf.subarray(at, at + 16)
  }

  private utf8(len: number, what: string): string {
    const at = this.need(len, what)
    return this.buf.toString('utf8', at, at + len)
  }
  private slice(len: number, what: string): Buffer {
    const at = this.need(len, what)
    return this.buf.subarray(at, at + len)
  }

  string(): string {
    const len = this.int16()
    if (len < 0) throw new MalformedFrameError('non-nullable string is null')
    return this.utf8(len, 'string')
  }
  nullableString(): string | null {
    const len = this.int16()
    return len < 0 ? null : this.utf8(len, 'string')
  }
  compactString(): string {
    const len = this.uvarint() - 1
    if (len < 0) throw new MalformedFrameError('non-nullable compact string is null')
    return this.utf8(len, 'compact string')
  }
  compactNullableString(): string | null {
    const len = this.uvarint() - 1
    return len < 0 ? null : this.utf8(len, 'compact string')
  }
  bytes(): Buffer {
    const len = this.int32()
    if (len < 0) throw new MalformedFrameError('non-nullable bytes are null')
    return this.slice(len, 'bytes')
  }
  nullableBytes(): Buffer | null {
    const len = this.int32()
    return len < 0 ? null : this.slice(len, 'bytes')
  }
  compactBytes(): Buffer {
    const len = this.uvarint() - 1
    if (len < 0) throw new MalformedFrameError('non-nullable compact bytes are null')
    return this.slice(len, 'compact bytes')
  }
  compactNullableBytes(): Buffer | null {
    const len = this.uvarint() - 1
    return len < 0 ? null : this.slice(len, 'compact bytes')
  }
  /** varint-length bytes as used inside v2 records (-1 = null). */
  varintBytes(): Buffer | null {
    const len = this.varint()
    return len < 0 ? null : this.slice(len, 'record bytes')
  }

  // Flexible-aware helpers: one parser serves classic and flexible versions of a message.
  str(flexible: boolean): string {
    return flexible ? this.compactString() : this.string()
  }
  nstr(flexible: boolean): string | null {
    return flexible ? this.compactNullableString() : this.nullableString()
  }
  byts(flexible: boolean): Buffer {
    return flexible ? this.compactBytes() : this.bytes()
  }
  nbytes(flexible: boolean): Buffer | null {
    return flexible ? this.compactNullableBytes() : this.nullableBytes()
  }
  /** Array of items; in flexible versions a compact array. A null array reads as []. */
  array<T>(flexible: boolean, item: (r: Reader) => T): T[] {
    const n = flexible ? this.uvarint() - 1 : this.int32()
    if (n <= 0) return []
    // each element takes at least one byte, so a count beyond the frame is a lie, not a big allocation
    if (n > this.remaining) throw new MalformedFrameError(`array length ${n} exceeds the ${this.remaining} bytes left`)
    const out = new Array<T>(n)
    for (let i = 0; i < n; i++) out[i] = item(this)
    return out
  }
  /** Skips tagged fields (flexible versions only); returns them by tag for the rare caller that cares. */
  taggedFields(flexible = true): Map<number, Buffer> | undefined {
    if (!flexible) return undefined
    const n = this.uvarint()
    if (n === 0) return undefined
    const out = new Map<number, Buffer>()
    for (let i = 0; i < n; i++) {
      const tag = this.uvarint()
      const len = this.uvarint()
      out.set(tag, this.slice(len, 'tagged field'))
    }
    return out
  }
}

// A minimal Thrift compact-protocol codec for Parquet footers: decodes into a typed tree (so it can be written
// back unchanged but for the fields we edit) and encodes that tree again. Every length is checked against the
// bytes left and nesting is capped, so garbage fails fast with a FormatError instead of allocating or recursing
// without bound.
import { FormatError } from '../errors.js'

export const TType = {
  STOP: 0,
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const

/** Integers of every width are bigints; `type` keeps the width for re-encoding. */
export type TValue = boolean | bigint | number | Uint8Array | TList | TStruct | TMap
export interface TField {
  id: number
  type: number
  value: TValue
}
export interface TStruct {
  kind: 'struct'
  fields: TField[]
}
export interface TList {
  kind: 'list'
  elemType: number
  items: TValue[]
}
export interface TMap {
  kind: 'map'
  keyType: number
  valueType: number
  entries: [TValue, TValue][]
}

const MAX_DEPTH = 24

export function decodeThriftStruct(bytes: Uint8Array): TStruct {
  return new CompactReader(bytes).struct(0)
}

export function encodeThriftStruct(s: TStruct): Uint8Array {
  const w = new CompactWriter()
  w.struct(s)
  return w.finish()
}

export function getField(s: TValue | undefined, id: number): TValue | undefined {
  if (!isStruct(s)) return undefined
  for (const f of s.fields) if (f.id === id) return f.value
  return undefined
}

export function isStruct(v: TValue | undefined): v is TStruct {
  return typeof v === 'object' && !(v instanceof Uint8Array) && v.kind === 'struct'
}

export function listItems(v: TValue | undefined): TValue[] {
  return typeof v === 'object' && !(v instanceof Uint8Array) && v.kind === 'list' ? v.items : []
}

class CompactReader {
  private pos = 0
  constructor(private readonly buf: Uint8Array) {}

  private fail(what: string): never {
    throw new FormatError(`corrupt Parquet footer: ${what} at byte ${this.pos} of ${this.buf.length}`)
  }

  private byte(): number {
    if (this.pos >= this.buf.length) this.fail('unexpected end')
    return this.buf[this.pos++]!
  }

  private varint(): bigint {
    let result = 0n
    let shift = 0n
    for (;;) {
      const b = this.byte()
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
      shift += 7n
      if (shift > 63n) this.fail('varint too long')
    }
  }

  private zigzag(): bigint {
    const n = this.varint()
    return (n >> 1n) ^ -(n & 1n)
  }

  private size(): number {
    const n = this.varint()
    // Every element or byte takes at least one byte, so a size beyond the bytes left is corrupt: checked before
    // anything is allocated.
    if (n > BigInt(this.buf.length - this.pos)) this.fail(`size ${n} exceeds the bytes left`)
    return Number(n)
  }

  struct(depth: number): TStruct {
    if (depth > MAX_DEPTH) this.fail('nesting too deep')
    const fields: TField[] = []
    let id = 0
    for (;;) {
      const h = this.byte()
      const type = h & 0x0f
      if (type === TType.STOP) return { kind: 'struct', fields }
      const delta = h >> 4
      id = delta === 0 ? Number(this.zigzag()) : id + delta
      if (type === TType.TRUE || type === TType.FALSE) fields.push({ id, type, value: type === TType.TRUE })
      else fields.push({ id, type, value: this.value(type, depth) })
    }
  }

  private value(type: number, depth: number): TValue {
    switch (type) {
      case TType.TRUE:
      case TType.FALSE:
        // Inside lists and maps a bool is a whole byte: 1 is true.
        return this.byte() === 1
      case TType.BYTE: {
        const b = this.byte()
        return BigInt(b > 127 ? b - 256 : b)
      }
      case TType.I16:
      case TType.I32:
      case TType.I64:
        return this.zigzag()
      case TType.DOUBLE: {
        if (this.buf.length - this.pos < 8) this.fail('unexpected end')
        const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true)
        this.pos += 8
        return v
      }
      case TType.BINARY: {
        const n = this.size()
        const v = this.buf.subarray(this.pos, this.pos + n)
        this.pos += n
        return v
      }
      case TType.LIST:
      case TType.SET: {
        if (depth >= MAX_DEPTH) this.fail('nesting too deep')
        const h = this.byte()
        const elemType = h & 0x0f
        const n = h >> 4 === 15 ? this.size() : h >> 4
        const items: TValue[] = []
        for (let i = 0; i < n; i++) items.push(this.value(elemType, depth + 1))
        return { kind: 'list', elemType, items }
      }
      case TType.MAP: {
        if (depth >= MAX_DEPTH) this.fail('nesting too deep')
        const n = this.size()
        const kv = n === 0 ? 0 : this.byte()
        const entries: [TValue, TValue][] = []
        for (let i = 0; i < n; i++) entries.push([this.value(kv >> 4, depth + 1), this.value(kv & 0x0f, depth + 1)])
        return { kind: 'map', keyType: kv >> 4, valueType: kv & 0x0f, entries }
      }
      case TType.STRUCT:
        return this.struct(depth + 1)
      default:
        return this.fail(`unknown field type ${type}`)
    }
  }
}

class CompactWriter {
  private buf = new Uint8Array(4096)
  private pos = 0

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos)
  }

  private byte(b: number): void {
    if (this.pos === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2)
      next.set(this.buf)
      this.buf = next
    }
    this.buf[this.pos++] = b
  }

  private bytes(b: Uint8Array): void {
    if (this.pos + b.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + b.length))
      next.set(this.buf.subarray(0, this.pos))
      this.buf = next
    }
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  private varint(n: bigint): void {
    while (n >= 0x80n) {
      this.byte(Number(n & 0x7fn) | 0x80)
      n >>= 7n
    }
    this.byte(Number(n))
  }

  private zigzag(n: bigint): void {
    this.varint(n >= 0n ? n << 1n : (-n << 1n) - 1n)
  }

  struct(s: TStruct): void {
    let last = 0
    for (const f of s.fields) {
      const type = f.type === TType.TRUE || f.type === TType.FALSE ? (f.value ? TType.TRUE : TType.FALSE) : f.type
      const delta = f.id - last
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type)
      else {
        this.byte(type)
        this.zigzag(BigInt(f.id))
      }
      last = f.id
      if (type !== TType.TRUE && type !== TType.FALSE) this.value(type, f.value)
    }
    this.byte(TType.STOP)
  }

  private value(type: number, v: TValue): void {
    switch (type) {
      case TType.TRUE:
      case TType.FALSE:
        return this.byte(v === true ? 1 : 2)
      case TType.BYTE:
        return this.byte(Number(v as bigint) & 0xff)
      case TType.I16:
      case TType.I32:
      case TType.I64:
        return this.zigzag(v as bigint)
      case TType.DOUBLE: {
        const b = new Uint8Array(8)
        new DataView(b.buffer).setFloat64(0, v as number, true)
        return this.bytes(b)
      }
      case TType.BINARY: {
        const b = v as Uint8Array
        this.varint(BigInt(b.length))
        return this.bytes(b)
      }
      case TType.LIST:
      case TType.SET: {
        const l = v as TList
        if (l.items.length < 15) this.byte((l.items.length << 4) | l.elemType)
        else {
          this.byte(0xf0 | l.elemType)
          this.varint(BigInt(l.items.length))
        }
        for (const item of l.items) this.value(l.elemType, item)
        return
      }
      case TType.MAP: {
        const m = v as TMap
        this.varint(BigInt(m.entries.length))
        if (m.entries.length > 0) this.byte((m.keyType << 4) | m.valueType)
        for (const [k, x] of m.entries) {
          this.value(m.keyType, k)
          this.value(m.valueType, x)
        }
        return
      }
      case TType.STRUCT:
        return this.struct(v as TStruct)
      default:
        throw new FormatError(`cannot encode Thrift type ${type}`)
    }
  }
}

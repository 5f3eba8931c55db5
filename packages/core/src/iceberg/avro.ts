// Avro object container files, the encoding of Iceberg's manifests and manifest lists: avsc encodes the values,
// this file frames them. Writing is synchronous and deterministic (the sync marker is derived from the content), so
// the same manifest always has the same bytes and can be stored under its own hash.
import { createHash } from 'node:crypto'
import { inflateRawSync } from 'node:zlib'
import avro from 'avsc'
import { FormatError } from '../errors.js'

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]) // "Obj" 1

/** Avro longs as bigint: Iceberg's snapshot ids use all 64 bits, beyond a JS number's exact range. */
const bigintLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(0),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8)
    buf.writeBigInt64LE(n, 0)
    return buf
  },
  fromJSON: (v: unknown) => BigInt(v as number),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
})

const HEADER = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
  ],
})
const LONG = avro.Type.forSchema('long')

/** An avsc type for a schema whose longs are bigints. Extra attributes (Iceberg's field-id) are ignored here. */
export function avroType(schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { registry: { long: bigintLong } })
}

/** One container file holding `records` in one block, codec null. `schema` is written verbatim into the header. */
export function writeAvroContainer(
  schema: object,
  records: readonly unknown[],
  metadata: Record<string, string> = {},
): Buffer {
  const type = avroType(schema)
  const values = records.map((r) => type.toBuffer(r))
  const data = Buffer.concat(values)
  const meta: Record<string, Buffer> = {}
  for (const [k, v] of Object.entries(metadata)) meta[k] = Buffer.from(v, 'utf8')
  meta['avro.schema'] = Buffer.from(JSON.stringify(schema), 'utf8')
  meta['avro.codec'] = Buffer.from('null', 'utf8')
  const sync = createHash('sha256')
    .update(meta['avro.schema'])
    .update(JSON.stringify(metadata))
    .update(data)
    .digest()
    .subarray(0, 16)
  const header = HEADER.toBuffer({ magic: MAGIC, meta, sync })
  if (records.length === 0) return header
  return Buffer.concat([header, LONG.toBuffer(records.length), LONG.toBuffer(data.length), data, sync])
}

export interface AvroContainer {
  schema: unknown
  metadata: Record<string, string>
  records: unknown[]
}

/** Reads a whole container file (codecs null and deflate, the ones Iceberg writers use besides zstd/snappy). */
export function readAvroContainer(bytes: Buffer, name: string): AvroContainer {
  const fail = (what: string): never => {
    throw new FormatError(`${name} is not a readable Avro file: ${what}`)
  }
  if (bytes.length < 4 || !bytes.subarray(0, 4).equals(MAGIC)) fail('no Avro magic')
  let header: { meta: Record<string, Buffer>; sync: Buffer }
  let pos: number
  try {
    const res = HEADER.decode(bytes, 0)
    if (res.offset < 0) fail('truncated header')
    header = res.value as typeof header
    pos = res.offset
  } catch (err) {
    if (err instanceof FormatError) throw err
    return fail((err as Error).message)
  }
  const metadata: Record<string, string> = {}
  for (const [k, v] of Object.entries(header.meta)) metadata[k] = v.toString('utf8')
  const codec = metadata['avro.codec'] ?? 'null'
  if (codec !== 'null' && codec !== 'deflate') fail(`codec ${codec} is not supported`)
  let schema: unknown
  try {
    schema = JSON.parse(metadata['avro.schema'] ?? '')
  } catch {
    return fail('bad avro.schema')
  }
  const type = avroType(schema as object)
  const records: unknown[] = []
  while (pos < bytes.length) {
    const count = LONG.decode(bytes, pos)
    if (count.offset < 0) fail('truncated block')
    const size = LONG.decode(bytes, count.offset)
    if (size.offset < 0) fail('truncated block')
    const start = size.offset
    const end = start + Number(size.value)
    if (end + 16 > bytes.length) fail('truncated block')
    let block = bytes.subarray(start, end)
    if (codec === 'deflate') block = inflateRawSync(block)
    let at = 0
    for (let i = 0; i < Number(count.value); i++) {
      const r = type.decode(block, at)
      if (r.offset < 0) fail('truncated record')
      records.push(r.value)
      at = r.offset
    }
    if (!bytes.subarray(end, end + 16).equals(header.sync)) fail('bad sync marker')
    pos = end + 16
  }
  return { schema, metadata, records }
}

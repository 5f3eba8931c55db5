// apache-arrow and parquet-wasm, loaded on first use. Together they cost about 40 MiB of memory in every thread that
// imports them, and only offset maps and the fallback segment reader (snappy, lz4, foreign encodings) need them:
// the archiver's threads and most readers never do. Required (their CommonJS builds) so that callers stay
// synchronous; every user inside core goes through here, so each thread holds one instance of each.
import { createRequire } from 'node:module'
import type * as Arrow from 'apache-arrow'
import type * as ParquetWasm from 'parquet-wasm'

const load = createRequire(import.meta.url)
let arrow: typeof Arrow | undefined
let parquet: typeof ParquetWasm | undefined

export function apacheArrow(): typeof Arrow {
  return (arrow ??= load('apache-arrow') as typeof Arrow)
}

export function parquetWasm(): typeof ParquetWasm {
  return (parquet ??= load('parquet-wasm') as typeof ParquetWasm)
}

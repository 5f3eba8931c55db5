// An ObjectStore wrapper that counts GETs by the kind of object read (HEAD, index node, segment, other) and the
// bytes they returned, so a seek can be reported as "index GETs" the way DESIGN.md promises them.
import type {
  ByteRange,
  GetResult,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  PutOptions,
} from '../../packages/core/src/store/types.js'

export type GetKind = 'head' | 'node' | 'segment' | 'other'

export interface GetCounts {
  head: number
  node: number
  segment: number
  other: number
  bytes: number
}

export function kindOf(key: string): GetKind {
  if (/\/index\/partition=\d+\/HEAD$/.test(key)) return 'head'
  if (/\/index\/partition=\d+\/nodes\//.test(key)) return 'node'
  if (/\/data\/partition=\d+\/.*\.parquet$/.test(key)) return 'segment'
  return 'other'
}

export class CountingStore implements ObjectStore {
  counts: GetCounts = { head: 0, node: 0, segment: 0, other: 0, bytes: 0 }
  constructor(private readonly inner: ObjectStore) {}

  get url(): string {
    return this.inner.url
  }

  reset(): GetCounts {
    const c = this.counts
    this.counts = { head: 0, node: 0, segment: 0, other: 0, bytes: 0 }
    return c
  }

  async get(key: string, range?: ByteRange): Promise<GetResult> {
    this.counts[kindOf(key)]++
    const r = await this.inner.get(key, range)
    this.counts.bytes += r.body.length
    return r
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key)
  }
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    return this.inner.put(key, body, options)
  }
  putIfAbsent(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    return this.inner.putIfAbsent(key, body, options)
  }
  putIfMatch(key: string, body: Uint8Array, etag: string, options?: PutOptions): Promise<{ etag: string }> {
    return this.inner.putIfMatch(key, body, etag, options)
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options)
  }
  listPrefixes(prefix: string): Promise<string[]> {
    return this.inner.listPrefixes(prefix)
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key)
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

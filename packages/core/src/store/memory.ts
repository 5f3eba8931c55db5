// In-process object store for tests and demos: `memory://NAME` shares data process-wide, `memory://` is private.
import { randomBytes } from 'node:crypto'
import { ObjectNotFoundError, PreconditionFailedError } from '../errors.js'
import { compareKeys, resolveRange, validateKey, validatePrefix, validateRange } from './keys.js'
import type { ByteRange, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from './types.js'

interface Entry {
  body: Buffer
  etag: string
  contentType: string | undefined
  lastModified: Date
}

type Bucket = Map<string, Entry>

// Named stores live as long as the process, like a bucket outlives its clients.
const registry = new Map<string, Bucket>()

// A per-process random prefix plus a counter: unique across every write, even after a delete and re-create.
const etagPrefix = randomBytes(4).toString('hex')
let etagCounter = 0
function nextEtag(): string {
  etagCounter++
  return `"${etagPrefix}-${etagCounter.toString(16)}"`
}

export interface MemoryStoreOptions {
  /** Stores opened with the same name in one process share their objects; omit for a private store. */
  name?: string
  /** Page size of list(); only matters to show that listing stays lazy. */
  pageSize?: number
}

export class MemoryStore implements ObjectStore {
  readonly url: string
  private readonly objects: Bucket
  private readonly pageSize: number

  constructor(options: MemoryStoreOptions = {}) {
    const name = options.name ?? ''
    this.url = `memory://${name}`
    this.pageSize = options.pageSize ?? 1000
    if (name === '') {
      this.objects = new Map()
    } else {
      let bucket = registry.get(name)
      if (!bucket) registry.set(name, (bucket = new Map()))
      this.objects = bucket
    }
  }

  /** Forgets a named store's objects (tests that reuse a name start clean). */
  static drop(name: string): void {
    registry.delete(name)
  }

  async get(key: string, range?: ByteRange): Promise<GetResult> {
    validateKey(key)
    validateRange(key, range)
    const entry = this.objects.get(key)
    if (!entry) throw new ObjectNotFoundError(key, `object not found: ${key} in ${this.url}`)
    const size = entry.body.length
    const [start, end] = resolveRange(key, range, size)
    // Copy so that a caller mutating the result cannot change the stored object.
    return { body: Buffer.from(entry.body.subarray(start, end)), etag: entry.etag, size }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    validateKey(key)
    const entry = this.objects.get(key)
    return entry ? { key, size: entry.body.length, etag: entry.etag } : undefined
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    validateKey(key)
    return { etag: this.store(key, body, options) }
  }

  // The checks and the write below run without an await in between, so they are atomic in one process.
  async putIfAbsent(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    validateKey(key)
    if (this.objects.has(key)) {
      throw new PreconditionFailedError(key, `conditional write failed: ${key} already exists in ${this.url}`)
    }
    return { etag: this.store(key, body, options) }
  }

  async putIfMatch(key: string, body: Uint8Array, etag: string, options?: PutOptions): Promise<{ etag: string }> {
    validateKey(key)
    const current = this.objects.get(key)
    if (!current) {
      throw new PreconditionFailedError(key, `conditional write failed: ${key} no longer exists in ${this.url}`)
    }
    if (current.etag !== etag) {
      throw new PreconditionFailedError(
        key,
        `conditional write failed: ${key} in ${this.url} changed (etag ${current.etag}, expected ${etag})`,
      )
    }
    return { etag: this.store(key, body, options) }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix)
    const after = options.startAfter
    // Sorted once per listing (not per page), so long listings stay O(n log n). Keys written after the listing
    // started are not shown and deleted ones are skipped, which S3 permits too.
    const keys: string[] = []
    for (const k of this.objects.keys()) {
      if (k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0)) keys.push(k)
    }
    keys.sort(compareKeys)
    for (let i = 0; i < keys.length; i += this.pageSize) {
      const page: ObjectInfo[] = []
      for (const key of keys.slice(i, i + this.pageSize)) {
        const entry = this.objects.get(key)
        if (entry) page.push({ key, size: entry.body.length, etag: entry.etag, lastModified: entry.lastModified })
      }
      // Each page is handed out after a turn of the event loop, as a remote store's would be.
      await Promise.resolve()
      yield* page
    }
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    validatePrefix(prefix)
    const prefixes = new Set<string>()
    for (const key of this.objects.keys()) {
      if (!key.startsWith(prefix)) continue
      const slash = key.indexOf('/', prefix.length)
      if (slash >= 0) prefixes.add(key.slice(0, slash + 1))
    }
    return [...prefixes].sort(compareKeys)
  }

  async delete(key: string): Promise<void> {
    validateKey(key)
    this.objects.delete(key)
  }

  async close(): Promise<void> {}

  private store(key: string, body: Uint8Array, options: PutOptions | undefined): string {
    const etag = nextEtag()
    // Copy so that a caller reusing its buffer cannot change the stored object.
    this.objects.set(key, {
      body: Buffer.from(body),
      etag,
      contentType: options?.contentType,
      lastModified: new Date(),
    })
    return etag
  }
}

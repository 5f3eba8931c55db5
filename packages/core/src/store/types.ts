// The one interface every object store implements. Keys are relative to the store's root (the URL's path or
// prefix), use '/' as separator and never start with '/'. Implementations: memory.ts, file.ts, s3.ts.

export interface ObjectInfo {
  key: string
  size: number
  /**
   * Opaque version tag; pass it back to putIfMatch. Quoted or not exactly as the backend gives it. Every write of
   * different bytes gives a new one; on S3 (ETag = MD5) identical bytes give the identical etag.
   */
  etag: string
  /** When the object was last written; set by list() (gc's grace period), not necessarily by head(). */
  lastModified?: Date
}

/**
 * Byte range, HTTP-style: `start..end` inclusive, `start..` to the end, or the last `suffix` bytes. Every store
 * treats them alike: an end past the object is clamped, a suffix longer than the object reads all of it, a start at
 * or past the end raises InvalidArgumentError (S3's 416), and any range of an empty object reads as empty.
 */
export type ByteRange = { start: number; end?: number } | { suffix: number }

export interface GetResult {
  body: Buffer
  etag: string
  /** Size of the whole object, even when a range was read. */
  size: number
}

export interface PutOptions {
  contentType?: string
}

export interface ListOptions {
  /** Only keys strictly greater than this (lexicographic). */
  startAfter?: string
}

export interface ObjectStore {
  /** The URL this store was opened from (credentials never included). */
  readonly url: string
  /** @throws ObjectNotFoundError */
  get(key: string, range?: ByteRange): Promise<GetResult>
  /** undefined when the object does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }>
  /** Atomic create. @throws PreconditionFailedError when the key exists. */
  putIfAbsent(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }>
  /** Atomic compare-and-swap on the etag. @throws PreconditionFailedError when the current etag differs or the object is gone. */
  putIfMatch(key: string, body: Uint8Array, etag: string, options?: PutOptions): Promise<{ etag: string }>
  /** Every key under prefix in lexicographic order; pages are fetched lazily. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>
  /**
   * The distinct next path components under prefix, exactly like S3's CommonPrefixes with delimiter '/': full key
   * prefixes ending in '/', sorted. E.g. keys `a/x/1`, `a/y/2`, `a/z` with prefix `a/` give `['a/x/', 'a/y/']`.
   */
  listPrefixes(prefix: string): Promise<string[]>
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>
  close(): Promise<void>
}

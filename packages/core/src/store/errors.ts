// Store-specific errors, built on the codes in ../errors.ts.
import { ConfigError, ErrorCodes, EverlogError } from '../errors.js'
import type { EverlogErrorOptions } from '../errors.js'

/** The bucket named in an s3:// URL does not exist: a configuration mistake that retrying cannot fix. */
export class BucketNotFoundError extends ConfigError {
  readonly bucket: string
  constructor(bucket: string, message: string, options?: EverlogErrorOptions) {
    super(message, options)
    this.bucket = bucket
  }
}

/** Which conditional write a store failed to refuse. */
export type ConditionalWrite = 'If-None-Match' | 'If-Match'

/**
 * The store accepted a write it had to refuse (a second create-if-absent, or a replace-if-match with a stale etag):
 * HEAD cannot be fenced there, so two writers would overwrite each other's commits.
 */
export class ConditionalWritesUnsupportedError extends EverlogError {
  /** The store's URL and, for S3, its endpoint. */
  readonly store: string
  readonly unsupported: readonly ConditionalWrite[]
  constructor(store: string, unsupported: readonly ConditionalWrite[], message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.CONDITIONAL_WRITES_UNSUPPORTED, message, options)
    this.store = store
    this.unsupported = unsupported
  }
}

/** The store answered a ranged read with other bytes than the range asked for, twice: a fault of the store. */
export class StoreRangeMismatchError extends EverlogError {
  readonly key: string
  constructor(key: string, message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.STORE_RANGE_MISMATCH, message, options)
    this.key = key
  }
}

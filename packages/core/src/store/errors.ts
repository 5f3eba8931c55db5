// Store-specific errors, built on the codes in ../errors.ts.
import { ConfigError } from '../errors.js'
import type { EverlogErrorOptions } from '../errors.js'

/** The bucket named in an s3:// URL does not exist: a configuration mistake that retrying cannot fix. */
export class BucketNotFoundError extends ConfigError {
  readonly bucket: string
  constructor(bucket: string, message: string, options?: EverlogErrorOptions) {
    super(message, options)
    this.bucket = bucket
  }
}

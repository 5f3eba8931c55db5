// The public face of the object stores: one interface, three backends, and the URL that picks one.
export type { ByteRange, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from './types.js'
export { MemoryStore } from './memory.js'
export type { MemoryStoreOptions } from './memory.js'
export { FileStore } from './file.js'
export type { FileStoreOptions } from './file.js'
export { S3Store } from './s3.js'
export type { S3StoreOptions } from './s3.js'
export { BucketNotFoundError, ConditionalWritesUnsupportedError, StoreRangeMismatchError } from './errors.js'
export type { ConditionalWrite } from './errors.js'
export {
  CONDITIONAL_WRITES_ENV,
  CONDITIONAL_WRITES_MODES,
  PROBE_KEY,
  checkConditionalWrites,
  describeStore,
  parseConditionalWritesMode,
  probeConditionalWrites,
} from './conditional-writes.js'
export type {
  ConditionalWritesCheck,
  ConditionalWritesMode,
  ConditionalWritesProbe,
  ProbeRetry,
} from './conditional-writes.js'
export { assertStoreReachable } from './reachable.js'
export { ACCEPTED_STORE_URLS, openStore, parseStoreUrl } from './open.js'
export type { OpenStoreOptions, StoreLocation } from './open.js'
export { compareKeys, validateKey, validatePrefix } from './keys.js'

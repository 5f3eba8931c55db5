// The core APIs the archiver uses, gathered in one module so the package's dependency on core is visible at a glance.
// TEMPORARY: PartitionWriter, encodeSegment and openStore are not exported from @everlog/core's entry yet; they
// are imported from core's sources until the lead exports them, then this file imports only '@everlog/core'.
export * from '@everlog/core'
export { PartitionWriter } from '../../core/src/partition-writer.js'
export type { CommitResult, PartitionWriterOptions } from '../../core/src/partition-writer.js'
export { encodeSegment } from '../../core/src/segment/index.js'
export type { EncodedSegment, SegmentCompression } from '../../core/src/segment/index.js'
export { openStore } from '../../core/src/store/open.js'
export type { OpenStoreOptions } from '../../core/src/store/open.js'

// The segment format's public surface (DESIGN.md "Segment format (Parquet)").
export type * from './types.js'
export { assembleSegment, encodeRowGroup, encodeSegment, fitsRowGroup } from './encode.js'
export { decodeSegment } from './decode.js'
export type { DecodeSegmentOptions } from './decode.js'
export { fetchRowGroup, fetchSegment, readRowGroup, readSegment, readSegmentLayout } from './read.js'
export { decodeRowGroupAsync, disableDecodeWorker } from './decode-pool.js'
export { DEFAULT_ROW_GROUP_BYTES, MetadataKeys as SegmentMetadataKeys } from './schema.js'

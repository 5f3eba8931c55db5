// Apache Iceberg v2 tables over the segments, zero-copy (DESIGN.md "Iceberg tables").
export { writeAvroContainer, readAvroContainer } from './avro.js'
export type { AvroContainer } from './avro.js'
export { FieldIds, icebergSchema, nameMapping, partitionSpec } from './schema.js'
export {
  readIcebergTable,
  currentSnapshot,
  snapshotAsOf,
  snapshotSegments,
  readManifestList,
  readManifest,
  parseMetadataJson,
  encodeMetadataJson,
  storeLocation,
  keyOfLocation,
} from './table.js'
export type {
  IcebergMetadata,
  IcebergSnapshot,
  IcebergTableRead,
  ManifestFileRecord,
  ManifestEntryRecord,
  SnapshotSegment,
} from './table.js'
export { publishIceberg, commitMetadata, IcebergCommitError, NEXT_OFFSETS_SUMMARY_KEY } from './publish.js'
export type { PublishOptions, PublishResult } from './publish.js'
export { expireIcebergSnapshots } from './expire.js'
export type { ExpireOptions, ExpireResult } from './expire.js'

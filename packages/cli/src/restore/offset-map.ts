// The offset-map API of core, reached by path until core's index.ts exports it; then this becomes
// `export ... from '@everlog/core'` and nothing else in the CLI changes.
export {
  deleteOffsetMap,
  listOffsetMapPartitions,
  listOffsetMapSources,
  listSnapshotGroups,
  OffsetMapReader,
  OffsetMapWriter,
  readGroupSnapshot,
  readOffsetMapManifest,
  writeGroupSnapshot,
} from '../../../core/src/offset-map/index.js'
export type {
  GroupOffsetSnapshot,
  GroupPartitionOffset,
  OffsetMapManifest,
  OffsetTranslation,
  TranslationStatus,
} from '../../../core/src/offset-map/index.js'

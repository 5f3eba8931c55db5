// Test helpers for every package: a local S3 endpoint and the ObjectStore contract suite.
export { resolveHttpRange, startS3Server } from './s3-server.js'
export type {
  S3Fault,
  S3FaultFilter,
  S3RequestRecord,
  S3ServerOptions,
  S3StoredObject,
  S3TestServer,
} from './s3-server.js'
export { storeContract } from './store-contract.js'
export type { StoreContractOptions } from './store-contract.js'
export { FaultyStore, STORE_FAULTS } from './faulty-store.js'
export type { FaultFilter, FaultRates, FaultStats, FaultyStoreOptions, StoreFault, StoreOp } from './faulty-store.js'
// Writes segment format 1 (TIMESTAMP(MILLIS)) as older Everlog did, for archives that mix both formats.
export { setSegmentTimestampUnitForTests } from '../segment/encode.js'

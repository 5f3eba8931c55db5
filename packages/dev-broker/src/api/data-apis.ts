// Data-path, admin and transaction API modules: everything except consumer groups.

import type { ApiModule } from '../registry.js'
import { produce } from './00-produce.js'
import { fetch } from './01-fetch.js'
import { listOffsets } from './02-list-offsets.js'
import { metadata } from './03-metadata.js'
import { apiVersions } from './18-api-versions.js'
import { createTopics } from './19-create-topics.js'
import { deleteTopics } from './20-delete-topics.js'
import { deleteRecords } from './21-delete-records.js'
import { initProducerId } from './22-init-producer-id.js'
import { addPartitionsToTxn } from './24-add-partitions-to-txn.js'
import { addOffsetsToTxn } from './25-add-offsets-to-txn.js'
import { endTxn } from './26-end-txn.js'
import { describeConfigs } from './32-describe-configs.js'
import { alterConfigs } from './33-alter-configs.js'
import { createPartitions } from './37-create-partitions.js'

export const dataApis: readonly ApiModule[] = [
  produce,
  fetch,
  listOffsets,
  metadata,
  apiVersions,
  createTopics,
  deleteTopics,
  deleteRecords,
  initProducerId,
  addPartitionsToTxn,
  addOffsetsToTxn,
  endTxn,
  describeConfigs,
  alterConfigs,
  createPartitions,
]

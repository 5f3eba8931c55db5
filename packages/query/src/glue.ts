// Registers a topic's published Iceberg table in the AWS Glue Data Catalog, so Athena queries it as an Iceberg
// table. Athena's CREATE TABLE ... 'table_type'='ICEBERG' makes a new, empty table and cannot adopt existing
// metadata, so the table is registered the way Iceberg's own Glue catalog does it: a Glue table whose parameters
// say table_type=ICEBERG and point metadata_location at the current metadata file. Re-registering after a publish
// moves that pointer (UpdateTable, guarded by the Glue table's VersionId).
import {
  CreateTableCommand,
  EntityNotFoundException,
  GetTableCommand,
  GlueClient,
  UpdateTableCommand,
  type CreateTableCommandInput,
  type CreateTableCommandOutput,
  type GetTableCommandOutput,
  type TableInput,
  type UpdateTableCommandInput,
  type UpdateTableCommandOutput,
} from '@aws-sdk/client-glue'
import { InvalidArgumentError } from '@everlog/core'
import { PARTITION_COLUMN, SEGMENT_COLUMNS, tableNameForTopic } from './columns.js'

/** The three Glue calls we make; GlueClient satisfies it, tests pass a mocked one. */
export interface GlueLike {
  send(command: GetTableCommand): Promise<GetTableCommandOutput>
  send(command: CreateTableCommand): Promise<CreateTableCommandOutput>
  send(command: UpdateTableCommand): Promise<UpdateTableCommandOutput>
}

export interface IcebergGlueOptions {
  /** The archive's S3 URL, e.g. s3://bucket/prefix. */
  store: string
  topic: string
  database: string
  table?: string
  /** Absolute location of the metadata file to point at, e.g. s3://bucket/prefix/orders/iceberg/metadata/v3.metadata.json. */
  metadataLocation: string
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

function checkS3(store: string): string {
  if (!/^s3:\/\/[^/]+/.test(store)) {
    throw new InvalidArgumentError(
      `Athena reads S3 only: expected --store s3://bucket/prefix, got ${JSON.stringify(store)}`,
    )
  }
  return store.replace(/\/+$/, '')
}

/** The Glue TableInput of a registered Iceberg table (the columns are informative: Athena reads the metadata). */
export function icebergTableInput(options: IcebergGlueOptions, previousMetadataLocation?: string): TableInput {
  const table = options.table ?? tableNameForTopic(options.topic)
  if (!IDENTIFIER.test(table)) {
    throw new InvalidArgumentError(`invalid table ${JSON.stringify(table)}: use lowercase letters, digits and _`)
  }
  const store = checkS3(options.store)
  if (!options.metadataLocation.startsWith(`${store}/`) || !options.metadataLocation.endsWith('.metadata.json')) {
    throw new InvalidArgumentError(`metadata location ${options.metadataLocation} is not a metadata file in ${store}`)
  }
  return {
    Name: table,
    Description: `Everlog archive of Kafka topic ${options.topic} (Iceberg, read-only: published by everlog iceberg publish)`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      table_type: 'ICEBERG',
      metadata_location: options.metadataLocation,
      ...(previousMetadataLocation ? { previous_metadata_location: previousMetadataLocation } : {}),
      'everlog.topic': options.topic,
    },
    StorageDescriptor: {
      Location: `${store}/${options.topic}/iceberg`,
      Columns: [...SEGMENT_COLUMNS, { ...PARTITION_COLUMN, comment: 'Kafka partition' }].map((c) => ({
        Name: c.name,
        Type: c.athena,
        Comment: c.comment,
      })),
    },
  }
}

export function createIcebergTableRequest(options: IcebergGlueOptions): CreateTableCommandInput {
  return { DatabaseName: options.database, TableInput: icebergTableInput(options) }
}

export interface RegisterResult {
  action: 'created' | 'updated' | 'unchanged'
  table: string
  metadataLocation: string
}

/** Creates the Glue table, or points an existing one at `metadataLocation`. */
export async function registerIcebergTable(
  options: IcebergGlueOptions & { client?: GlueLike },
): Promise<RegisterResult> {
  const client = options.client ?? (new GlueClient({}) as GlueLike)
  const create = createIcebergTableRequest(options)
  const name = create.TableInput!.Name!
  let existing: GetTableCommandOutput | undefined
  try {
    existing = await client.send(new GetTableCommand({ DatabaseName: options.database, Name: name }))
  } catch (err) {
    if (!(err instanceof EntityNotFoundException || (err as { name?: string }).name === 'EntityNotFoundException')) {
      throw err
    }
  }
  if (!existing?.Table) {
    await client.send(new CreateTableCommand(create))
    return { action: 'created', table: name, metadataLocation: options.metadataLocation }
  }
  const params = existing.Table.Parameters ?? {}
  if (params.table_type?.toUpperCase() !== 'ICEBERG' || params['everlog.topic'] !== options.topic) {
    throw new InvalidArgumentError(
      `Glue table ${options.database}.${name} exists and is not Everlog's Iceberg table of ${options.topic}; pass another --table`,
    )
  }
  const previous = params.metadata_location
  if (previous === options.metadataLocation) {
    return { action: 'unchanged', table: name, metadataLocation: options.metadataLocation }
  }
  const update: UpdateTableCommandInput = {
    DatabaseName: options.database,
    TableInput: icebergTableInput(options, previous),
    ...(existing.Table.VersionId ? { VersionId: existing.Table.VersionId } : {}),
  }
  await client.send(new UpdateTableCommand(update))
  return { action: 'updated', table: name, metadataLocation: options.metadataLocation }
}

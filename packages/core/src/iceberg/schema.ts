// The Iceberg view of a segment (DESIGN.md "Iceberg tables"): the table schema with field ids, the identity
// partition on the Kafka partition, the name mapping that gives the segments' Parquet columns (written without
// field ids) their ids, and Iceberg's Avro schemas for manifests and manifest lists (format v2).

/** Field ids of the table schema. Never renumber: published tables and manifests refer to them. */
export const FieldIds = {
  offset: 1,
  timestamp: 2,
  key: 3,
  value: 4,
  headers: 5,
  partition: 6,
  headersElement: 7,
  headerKey: 8,
  headerValue: 9,
} as const

export const LAST_COLUMN_ID = 9
export const PARTITION_FIELD_ID = 1000
export const SCHEMA_ID = 0
export const SPEC_ID = 0

/**
 * `partition` is not stored in the segments: like a Hive partition column it lives in the path, and Iceberg readers
 * fill an identity-partitioned column that a file lacks from the partition value in the manifest.
 * `timestamp` is timestamptz (microseconds in Iceberg): segment format 2 stores TIMESTAMP(MICROS, UTC); format-1
 * segments (MILLIS) stay readable through the name mapping, and the manifests carry the bounds of both in
 * microseconds as the spec asks (docs/iceberg.md).
 */
export function icebergSchema(): object {
  return {
    type: 'struct',
    'schema-id': SCHEMA_ID,
    fields: [
      { id: FieldIds.offset, name: 'offset', required: true, type: 'long', doc: 'Kafka offset' },
      { id: FieldIds.timestamp, name: 'timestamp', required: true, type: 'timestamptz', doc: 'Kafka record timestamp' },
      { id: FieldIds.key, name: 'key', required: false, type: 'binary', doc: 'record key; null stays null' },
      { id: FieldIds.value, name: 'value', required: false, type: 'binary', doc: 'record value; null is a tombstone' },
      {
        id: FieldIds.headers,
        name: 'headers',
        required: true,
        doc: 'record headers in order, duplicates kept',
        type: {
          type: 'list',
          'element-id': FieldIds.headersElement,
          'element-required': true,
          element: {
            type: 'struct',
            fields: [
              { id: FieldIds.headerKey, name: 'key', required: true, type: 'string' },
              { id: FieldIds.headerValue, name: 'value', required: false, type: 'binary' },
            ],
          },
        },
      },
      // Optional only because pyiceberg fills a column missing from a file from its identity partition value for
      // optional fields alone; every row has one.
      { id: FieldIds.partition, name: 'partition', required: false, type: 'int', doc: 'Kafka partition' },
    ],
  }
}

export function partitionSpec(): { 'spec-id': number; fields: object[] } {
  return {
    'spec-id': SPEC_ID,
    fields: [
      { name: 'partition', transform: 'identity', 'source-id': FieldIds.partition, 'field-id': PARTITION_FIELD_ID },
    ],
  }
}

/**
 * Iceberg's name mapping (table property `schema.name-mapping.default`): how a reader finds each field in a data
 * file that has no Parquet field ids. A LIST's item is named `element` in the mapping whatever the file calls it.
 */
export function nameMapping(): object[] {
  return [
    { 'field-id': FieldIds.offset, names: ['offset'] },
    { 'field-id': FieldIds.timestamp, names: ['timestamp'] },
    { 'field-id': FieldIds.key, names: ['key'] },
    { 'field-id': FieldIds.value, names: ['value'] },
    {
      'field-id': FieldIds.headers,
      names: ['headers'],
      fields: [
        {
          'field-id': FieldIds.headersElement,
          names: ['element'],
          fields: [
            { 'field-id': FieldIds.headerKey, names: ['key'] },
            { 'field-id': FieldIds.headerValue, names: ['value'] },
          ],
        },
      ],
    },
    { 'field-id': FieldIds.partition, names: ['partition'] },
  ]
}

// An Avro map with non-string keys is, in Iceberg, an array of key/value records marked logicalType "map".
function intMap(fieldId: number, name: string, keyId: number, valueId: number, value: 'long' | 'bytes'): object {
  return {
    name,
    'field-id': fieldId,
    default: null,
    type: [
      'null',
      {
        type: 'array',
        logicalType: 'map',
        items: {
          type: 'record',
          name: `k${keyId}_v${valueId}`,
          fields: [
            { name: 'key', type: 'int', 'field-id': keyId },
            { name: 'value', type: value, 'field-id': valueId },
          ],
        },
      },
    ],
  }
}

/** The manifest entry schema (Iceberg spec, "Manifests", format v2) for our one-field partition spec. */
export function manifestEntrySchema(): object {
  return {
    type: 'record',
    name: 'manifest_entry',
    fields: [
      { name: 'status', type: 'int', 'field-id': 0 },
      { name: 'snapshot_id', type: ['null', 'long'], default: null, 'field-id': 1 },
      { name: 'sequence_number', type: ['null', 'long'], default: null, 'field-id': 3 },
      { name: 'file_sequence_number', type: ['null', 'long'], default: null, 'field-id': 4 },
      {
        name: 'data_file',
        'field-id': 2,
        type: {
          type: 'record',
          name: 'r2',
          fields: [
            { name: 'content', type: 'int', 'field-id': 134 },
            { name: 'file_path', type: 'string', 'field-id': 100 },
            { name: 'file_format', type: 'string', 'field-id': 101 },
            {
              name: 'partition',
              'field-id': 102,
              type: {
                type: 'record',
                name: 'r102',
                fields: [{ name: 'partition', type: ['null', 'int'], default: null, 'field-id': PARTITION_FIELD_ID }],
              },
            },
            { name: 'record_count', type: 'long', 'field-id': 103 },
            { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
            intMap(108, 'column_sizes', 117, 118, 'long'),
            intMap(109, 'value_counts', 119, 120, 'long'),
            intMap(110, 'null_value_counts', 121, 122, 'long'),
            intMap(137, 'nan_value_counts', 138, 139, 'long'),
            intMap(125, 'lower_bounds', 126, 127, 'bytes'),
            intMap(128, 'upper_bounds', 129, 130, 'bytes'),
            { name: 'key_metadata', type: ['null', 'bytes'], default: null, 'field-id': 131 },
            {
              name: 'split_offsets',
              type: ['null', { type: 'array', items: 'long', 'element-id': 133 }],
              default: null,
              'field-id': 132,
            },
            {
              name: 'equality_ids',
              type: ['null', { type: 'array', items: 'int', 'element-id': 136 }],
              default: null,
              'field-id': 135,
            },
            { name: 'sort_order_id', type: ['null', 'int'], default: null, 'field-id': 140 },
          ],
        },
      },
    ],
  }
}

/** The manifest list schema (Iceberg spec, "Manifest Lists", format v2). */
export function manifestFileSchema(): object {
  return {
    type: 'record',
    name: 'manifest_file',
    fields: [
      { name: 'manifest_path', type: 'string', 'field-id': 500 },
      { name: 'manifest_length', type: 'long', 'field-id': 501 },
      { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
      { name: 'content', type: 'int', 'field-id': 517 },
      { name: 'sequence_number', type: 'long', 'field-id': 515 },
      { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
      { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
      { name: 'added_files_count', type: 'int', 'field-id': 504 },
      { name: 'existing_files_count', type: 'int', 'field-id': 505 },
      { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
      { name: 'added_rows_count', type: 'long', 'field-id': 512 },
      { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
      { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
      {
        name: 'partitions',
        type: [
          'null',
          {
            type: 'array',
            'element-id': 508,
            items: {
              type: 'record',
              name: 'r508',
              fields: [
                { name: 'contains_null', type: 'boolean', 'field-id': 509 },
                { name: 'contains_nan', type: ['null', 'boolean'], default: null, 'field-id': 518 },
                { name: 'lower_bound', type: ['null', 'bytes'], default: null, 'field-id': 510 },
                { name: 'upper_bound', type: ['null', 'bytes'], default: null, 'field-id': 511 },
              ],
            },
          },
        ],
        default: null,
        'field-id': 507,
      },
      { name: 'key_metadata', type: ['null', 'bytes'], default: null, 'field-id': 519 },
    ],
  }
}

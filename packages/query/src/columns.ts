// The segment columns as SQL engines see them: one table shared by the Athena DDL and the DuckDB views, so both
// expose the same names and the same SQL runs in both places. Must match the Parquet schema in core's segment/.

export interface SegmentColumn {
  name: string
  /** Athena (Hive DDL) type. */
  athena: string
  /** The type DuckDB reports for our Parquet column. */
  duckdb: string
  comment: string
}

export const SEGMENT_COLUMNS: readonly SegmentColumn[] = [
  { name: 'offset', athena: 'bigint', duckdb: 'BIGINT', comment: 'Kafka offset' },
  {
    name: 'timestamp',
    // Athena and DuckDB read both segment formats' units (MICROS, and MILLIS in format 1) into this one type.
    athena: 'timestamp',
    duckdb: 'TIMESTAMP WITH TIME ZONE',
    comment: 'Kafka record timestamp (UTC)',
  },
  { name: 'key', athena: 'binary', duckdb: 'BLOB', comment: 'record key; null stays null' },
  { name: 'value', athena: 'binary', duckdb: 'BLOB', comment: 'record value; null is a tombstone' },
  {
    name: 'headers',
    athena: 'array<struct<key:string,value:binary>>',
    duckdb: 'STRUCT("key" VARCHAR, "value" BLOB)[]',
    comment: 'record headers in order, duplicates kept',
  },
]

/** The Hive partition column, taken from the `partition=<p>` folder. */
export const PARTITION_COLUMN = { name: 'partition', athena: 'int', duckdb: 'BIGINT' } as const

/**
 * SQL table name for a topic: Athena accepts lowercase letters, digits and underscores only, so every other
 * character becomes `_` and a leading digit gets a `t_` prefix. DuckDB uses the same name.
 */
export function tableNameForTopic(topic: string): string {
  const name = topic.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  return /^[0-9]/.test(name) ? `t_${name}` : name
}

/** The companion view that decodes UTF-8 keys, values and headers. */
export function decodedViewName(table: string): string {
  return `${table}_decoded`
}

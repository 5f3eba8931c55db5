// Athena table definitions over an archive's segments: partition projection on `partition` (range from
// topic.json), so no crawler and no MSCK REPAIR are ever needed, plus a decoded view and example queries.
import { InvalidArgumentError } from '@everlog/core'
import { PARTITION_COLUMN, SEGMENT_COLUMNS, decodedViewName, tableNameForTopic } from './columns.js'

export interface AthenaDdlOptions {
  /** The archive's S3 URL, e.g. s3://bucket/prefix. */
  store: string
  topic: string
  partitions: number
  database?: string
  table?: string
}

export interface AthenaDdl {
  topic: string
  table: string
  view: string
  createTable: string
  createView: string
  examples: { title: string; sql: string }[]
}

function s3Location(store: string, topic: string): string {
  let url: URL
  try {
    url = new URL(store)
  } catch {
    throw new InvalidArgumentError(
      `Athena reads S3 only: expected --store s3://bucket/prefix, got ${JSON.stringify(store)}`,
    )
  }
  if (url.protocol !== 's3:' || !url.hostname) {
    throw new InvalidArgumentError(
      `Athena reads S3 only: expected --store s3://bucket/prefix, got ${JSON.stringify(store)}`,
    )
  }
  const prefix = url.pathname.replace(/^\/+|\/+$/g, '')
  return `s3://${url.hostname}/${prefix ? `${prefix}/` : ''}${topic}/data/`
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

function checkIdentifier(kind: string, name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new InvalidArgumentError(`invalid ${kind} ${JSON.stringify(name)}: use lowercase letters, digits and _`)
  }
  return name
}

export function athenaDdl(options: AthenaDdlOptions): AthenaDdl {
  const { topic, partitions } = options
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new InvalidArgumentError(`topic ${topic} has ${partitions} partitions in topic.json; expected >= 1`)
  }
  const location = s3Location(options.store, topic)
  const db = options.database ? `${checkIdentifier('database', options.database)}.` : ''
  const table = checkIdentifier('table', options.table ?? tableNameForTopic(topic))
  const view = decodedViewName(table)
  const columns = SEGMENT_COLUMNS.map((c) => `  \`${c.name}\` ${c.athena} COMMENT '${c.comment}'`).join(',\n')
  const createTable = `CREATE EXTERNAL TABLE IF NOT EXISTS ${db}${table} (
${columns}
)
COMMENT 'Everlog archive of Kafka topic ${topic}'
PARTITIONED BY (\`${PARTITION_COLUMN.name}\` ${PARTITION_COLUMN.athena})
STORED AS PARQUET
LOCATION '${location}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.partition.type' = 'integer',
  'projection.partition.range' = '0,${partitions - 1}',
  'storage.location.template' = '${location}partition=\${partition}/',
  'classification' = 'parquet',
  'everlog.topic' = '${topic}'
)`
  // Headers become a map with the LAST value of a repeated key (Kafka allows duplicates; the raw table keeps them).
  const createView = `CREATE OR REPLACE VIEW ${db}${view} AS
SELECT
  "partition",
  "offset",
  "timestamp",
  from_utf8(key) AS key,
  from_utf8(value) AS value,
  transform_values(
    multimap_from_entries(transform(headers, h -> ROW(h.key, from_utf8(h.value)))),
    (k, vs) -> element_at(vs, -1)
  ) AS headers
FROM ${db}${table}`
  return { topic, table, view, createTable, createView, examples: exampleQueries(`${db}${table}`, `${db}${view}`) }
}

/** Queries that run unchanged in Athena and in `everlog query` (DuckDB). */
export function exampleQueries(table: string, view: string): { title: string; sql: string }[] {
  return [
    {
      title: 'Records per hour',
      sql: `SELECT date_trunc('hour', "timestamp") AS hour, count(*) AS records
FROM ${table}
GROUP BY 1
ORDER BY 1`,
    },
    {
      title: 'Latest value per key (what a compacted topic would keep)',
      sql: `SELECT key, value, "offset", "timestamp"
FROM (
  SELECT key, value, "offset", "timestamp",
         row_number() OVER (PARTITION BY "partition", key ORDER BY "offset" DESC) AS rn
  FROM ${view}
  WHERE key IS NOT NULL
) AS latest
WHERE rn = 1
ORDER BY key
LIMIT 100`,
    },
    {
      title: 'Records carrying a given header',
      // map_keys/contains and the subscript behave alike in Athena and DuckDB (element_at does not).
      sql: `SELECT "partition", "offset", key, headers['source'] AS source
FROM ${view}
WHERE contains(map_keys(headers), 'source')
ORDER BY "partition", "offset"
LIMIT 100`,
    },
  ]
}

/** The whole script `everlog athena ddl` prints: table, view, then the examples as comments. */
export function formatAthenaDdl(ddl: AthenaDdl): string {
  const examples = ddl.examples.map((e) => `-- ${e.title}\n${e.sql};`).join('\n\n')
  return `-- Everlog: Kafka topic ${ddl.topic}\n${ddl.createTable};\n\n${ddl.createView};\n\n-- Example queries\n${examples}\n`
}

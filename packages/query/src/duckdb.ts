// `openQuery`: a DuckDB connection where every archived topic is a view with the Athena table's columns, plus
// the decoded view. A file store is read in place; other stores go through the local segment cache.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import {
  FileStore,
  IntegrityError,
  listTopics,
  openStore,
  parseSegmentKey,
  UnknownTopicError,
  type ObjectStore,
} from '@everlog/core'
import { fileSha256, SegmentCache, type CacheProgress, type CacheResult } from './cache.js'
import { PARTITION_COLUMN, SEGMENT_COLUMNS, decodedViewName, tableNameForTopic } from './columns.js'
import { fetchRowGroups, narrowsRows, overlaps, rangeCondition, validateRange, type RecordRange } from './prune.js'
import { selectSegments, type SegmentSelection } from './segments.js'

/**
 * The range narrows what is read (segments, then row groups by their statistics) and what the tables hold: rows
 * outside it are not in them.
 */
export interface OpenQueryOptions extends RecordRange, Pick<SegmentSelection, 'source' | 'asOf'> {
  /** Topics to expose; every archived topic by default. */
  topics?: readonly string[]
  /** Where segments of non-file stores are cached; default <tmp>/everlog-cache. */
  cacheDir?: string
  onProgress?: (progress: { topic: string } & CacheProgress) => void
  /**
   * Let SQL reach files beyond the archive's segments (read_csv, COPY ... TO, ATTACH, extensions). Off by default:
   * once the tables are set up DuckDB may read only the segment files, and the setting is locked.
   */
  allowExternalAccess?: boolean
}

export interface QueryTable {
  topic: string
  table: string
  view: string
  segments: number
  bytes: number
}

export interface ArchiveQuery {
  connection: DuckDBConnection
  tables: QueryTable[]
  /** Bytes fetched from the store into the cache while opening (0 for a file store). */
  downloadedBytes: number
  /** Row groups fetched (or reused) on their own, without the rest of their segment. */
  rowGroups: number
  downloadedFiles: number
  reusedFiles: number
  corruptFiles: string[]
  close(): void
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`

/** DuckDB's decoded view: the same columns as the Athena view; repeated header keys keep their last value. */
export function duckdbDecodedView(table: string): string {
  return `CREATE OR REPLACE VIEW ${ident(decodedViewName(table))} AS
SELECT
  "partition",
  "offset",
  "timestamp",
  try(decode(key)) AS key,
  try(decode(value)) AS value,
  map_from_entries(
    list_transform(
      list_filter(headers, (h, i) -> NOT list_contains(list_transform(headers[i + 1:], x -> x.key), h.key)),
      h -> struct_pack(k := h.key, v := try(decode(h.value)))
    )
  ) AS headers
FROM ${ident(table)}`
}

function emptyTable(table: string): string {
  const cols = [...SEGMENT_COLUMNS, PARTITION_COLUMN].map((c) => `NULL::${c.duckdb} AS ${ident(c.name)}`)
  return `CREATE OR REPLACE VIEW ${ident(table)} AS SELECT ${cols.join(', ')} WHERE false`
}

export async function openQuery(store: ObjectStore | string, options: OpenQueryOptions = {}): Promise<ArchiveQuery> {
  validateRange(options)
  const s = typeof store === 'string' ? openStore(store) : store
  const available = await listTopics(s)
  const topics = options.topics ?? available
  for (const t of topics)
    if (!available.includes(t)) throw new UnknownTopicError(t, `topic "${t}" is not in the archive ${s.url}`)

  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  const cache =
    s instanceof FileStore ? undefined : new SegmentCache(options.cacheDir ?? join(tmpdir(), 'everlog-cache'))
  const result: ArchiveQuery = {
    connection,
    tables: [],
    downloadedBytes: 0,
    rowGroups: 0,
    downloadedFiles: 0,
    reusedFiles: 0,
    corruptFiles: [],
    close: () => {
      connection.closeSync()
      instance.closeSync()
    },
  }
  const allowed: string[] = []
  try {
    for (const topic of topics) {
      const table = tableNameForTopic(topic)
      const segments = (await selectSegments(s, topic, options)).filter((g) => overlaps(g, options))
      let paths: string[]
      if (cache) {
        const onProgress = (p: CacheProgress) => options.onProgress?.({ topic, ...p })
        const fetched: CacheResult & { rowGroups?: number } = narrowsRows(options)
          ? await fetchRowGroups(s, cache, segments, options, { onProgress })
          : await cache.fetch(
              s,
              segments.map((g) => g.key),
              { onProgress },
            )
        paths = fetched.paths
        result.rowGroups += fetched.rowGroups ?? 0
        result.downloadedBytes += fetched.downloadedBytes
        result.downloadedFiles += fetched.downloadedFiles
        result.reusedFiles += fetched.reusedFiles
        result.corruptFiles.push(...fetched.corruptFiles)
      } else {
        const root = (s as FileStore).root
        paths = segments.map((g) => join(root, ...g.key.split('/')))
        // Read in place, and checked like every other read of a segment: its bytes must hash to its name.
        await verifyInPlace(
          s,
          segments.map((g) => g.key),
          paths,
        )
      }
      allowed.push(...paths)
      if (paths.length === 0) {
        await connection.run(emptyTable(table))
      } else {
        const files = `[${paths.map(sqlString).join(', ')}]`
        const where = rangeCondition(options)
        await connection.run(
          `CREATE OR REPLACE VIEW ${ident(table)} AS SELECT * FROM read_parquet(${files}, hive_partitioning = true)` +
            (where ? ` WHERE ${where}` : ''),
        )
      }
      await connection.run(duckdbDecodedView(table))
      result.tables.push({
        topic,
        table,
        view: decodedViewName(table),
        segments: segments.length,
        bytes: segments.reduce((n, g) => n + g.bytes, 0),
      })
    }
    if (!options.allowExternalAccess) {
      // The SQL is the user's, the machine is not: only the segments stay readable, and nobody can undo that.
      await connection.run(`SET allowed_paths = [${allowed.map(sqlString).join(', ')}]`)
      await connection.run('SET enable_external_access = false')
      await connection.run('SET lock_configuration = true')
    }
  } catch (err) {
    result.close()
    throw err
  } finally {
    if (typeof store === 'string') await s.close()
  }
  return result
}

/** Segments of a file store read in place must match the sha256 in their names, as every other reader checks. */
async function verifyInPlace(store: ObjectStore, keys: readonly string[], paths: readonly string[]): Promise<void> {
  await Promise.all(
    keys.map(async (key, i) => {
      const expected = parseSegmentKey(key)?.sha256
      if (expected === undefined) return
      const actual = await fileSha256(paths[i]!)
      if (actual !== expected) {
        throw new IntegrityError(key, `segment ${key} in ${store.url} is corrupt: its bytes hash to ${actual}`)
      }
    }),
  )
}

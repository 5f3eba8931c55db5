// `everlog query`: SQL over the archive with DuckDB. Each topic is a table with the Athena table's columns (plus a
// `<table>_decoded` view), so the same SQL runs here and in Athena.
import { intersectRanges, openQuery, rangeFromSql, tableNameForTopic } from '@everlog/query'
import type { ArchiveQuery } from '@everlog/query'
import { listTopics } from '@everlog/core'
import type { CliContext } from '../context.js'
import { ExitCode, UsageError, write } from '../context.js'
import { formatBytes, table } from '../format.js'
import type { CliCommand, CommandModule } from '../program.js'
import { parseTimeFlag } from '../time.js'

type OutputFormat = 'table' | 'jsonl' | 'csv'
const FORMATS: readonly OutputFormat[] = ['table', 'jsonl', 'csv']

interface QueryOptions {
  store?: string
  format: string
  cacheDir?: string
  topic?: string[]
  partition?: string
  fromTime?: string
  toTime?: string
  iceberg?: boolean
  asOf?: string
  fromOffset?: string
  toOffset?: string
  allowLocalFiles?: boolean
}

const HELP = `
Examples:
  $ everlog query --store file:///var/lib/everlog 'SELECT count(*) FROM orders'
  $ everlog query --store file:///var/lib/everlog --format jsonl \\
      'SELECT "partition", "offset", value FROM orders_decoded WHERE json_extract(value, '"'"'$.amount'"'"')::INT > 90'
  $ everlog query --store s3://my-bucket/archive --from-time 2026-01-01T00:00:00Z --to-time 2026-01-02T00:00:00Z \\
      'SELECT date_trunc('"'"'hour'"'"', "timestamp") AS hour, count(*) FROM orders GROUP BY 1 ORDER BY 1'

Tables: one per archived topic (name lowercased, other characters as _), columns "offset", "timestamp", key,
value, headers, "partition" (quote the reserved words), and a <table>_decoded view with UTF-8 key/value and a
headers map. A file store is read in place. Other stores are read through a local cache of segments (verified by
sha256, reused next time). --partition, --from-time/--to-time and --from-offset/--to-offset narrow the tables to
those records (the other rows are absent from them) and narrow what is read: only the tables named in the SQL (or
--topic), only the segments in range, and of a segment only the row groups (a few MiB of records each) whose
offset and time statistics meet the range, each fetched with one ranged GET. A SELECT over one table whose WHERE
clause bounds "partition", "offset" or "timestamp" (AND-ed comparisons with constants, BETWEEN, IN) narrows the
read the same way by itself.

--iceberg reads exactly the segments of each topic's published Iceberg snapshot (what Athena, Spark and Trino see
through the Iceberg table) instead of the newest HEADs; --as-of <iso> reads the snapshot that was current at that
time (time travel; see 'everlog iceberg publish').

The SQL reaches only the archive: once the tables are set up, DuckDB may read no other file, write none, attach no
database and load no extension (the setting is locked). --allow-local-files lifts that, for joining your own files.
Segments read in place from a file store are checked against the sha256 in their names first, as cat does.
`

function parseOffset(flag: string, value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined
  if (!/^\d{1,19}$/.test(value.trim()))
    throw new UsageError(`${flag} ${JSON.stringify(value)}: expected an offset >= 0`)
  return BigInt(value.trim())
}

function parsePartitions(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined
  return value.split(',').map((p) => {
    const n = Number(p.trim())
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`--partition ${JSON.stringify(value)}: expected numbers like 0,3`)
    return n
  })
}

/** Topics whose table (or decoded view) name appears in the SQL as a word. */
function topicsNamedIn(sql: string, topics: readonly string[]): string[] {
  const text = sql.toLowerCase()
  return topics.filter((t) =>
    new RegExp(`(^|[^a-z0-9_])"?${tableNameForTopic(t)}(_decoded)?"?($|[^a-z0-9_])`).test(text),
  )
}

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return ''
  const s = typeof v === 'string' ? v : JSON.stringify(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}
const textCell = (v: unknown): string =>
  v === null || v === undefined ? 'NULL' : typeof v === 'string' ? v : JSON.stringify(v)

export const queryCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    program
      .command('query <sql>')
      .description('run SQL over the archive with DuckDB (every topic is a table)')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
      .option('--format <format>', `output: ${FORMATS.join(', ')}`, 'table')
      .option('--cache-dir <dir>', 'where segments of non-file stores are cached (default: <tmp>/everlog-cache)')
      .option('--topic <topic>', 'expose this topic (repeatable; default: the tables named in the SQL)', collect)
      .option('--partition <list>', 'only these partitions, e.g. 0,3')
      .option('--from-time <iso>', 'only records at or after this time')
      .option('--to-time <iso>', 'only records at or before this time')
      .option('--from-offset <offset>', 'only records at or after this offset')
      .option('--to-offset <offset>', 'only records at or before this offset')
      .option('--iceberg', "read the published Iceberg snapshot's segments instead of the newest HEADs")
      .option('--as-of <iso>', 'read the Iceberg snapshot that was current at this time')
      .option(
        '--allow-local-files',
        'let the SQL read and write files beyond the archive (read_csv, COPY ... TO, ATTACH); off by default',
      )
      .addHelpText('after', HELP)
      .action(async (sql: string, options: QueryOptions) => {
        const format = options.format as OutputFormat
        if (!FORMATS.includes(format))
          throw new UsageError(`--format ${options.format}: expected one of ${FORMATS.join(', ')}`)
        const fromTime = parseTimeFlag('--from-time', options.fromTime)
        const toTime = parseTimeFlag('--to-time', options.toTime)
        const partitions = parsePartitions(options.partition)
        const asOf = parseTimeFlag('--as-of', options.asOf)
        const fromOffset = parseOffset('--from-offset', options.fromOffset)
        const toOffset = parseOffset('--to-offset', options.toOffset)
        if (fromTime !== undefined && toTime !== undefined && toTime < fromTime)
          throw new UsageError('--to-time is before --from-time')
        if (fromOffset !== undefined && toOffset !== undefined && toOffset < fromOffset)
          throw new UsageError('--to-offset is below --from-offset')
        const store = context.openStore(options.store)
        let q: ArchiveQuery
        try {
          const all = await listTopics(store)
          const named = options.topic ?? topicsNamedIn(sql, all)
          // A single SELECT over one topic whose WHERE bounds partition, offset or time reads only those records.
          const fromSql = named.length === 1 ? await rangeFromSql(sql, named) : undefined
          const range = intersectRanges({ partitions, fromTime, toTime, fromOffset, toOffset }, fromSql?.range ?? {})
          const tty = (context.stderr as { isTTY?: boolean }).isTTY === true
          let lastLine = 0
          q = await openQuery(store, {
            topics: named.length > 0 ? named : all,
            ...range,
            source: options.iceberg ? 'iceberg' : 'heads',
            asOf: asOf === undefined ? undefined : Number(asOf),
            cacheDir: options.cacheDir,
            allowExternalAccess: options.allowLocalFiles === true,
            onProgress: (p) => {
              const now = Date.now()
              if (p.done < p.total && now - lastLine < (tty ? 100 : 2000)) return
              lastLine = now
              const line = `everlog: ${p.topic}: ${p.done}/${p.total} segments ready, ${formatBytes(p.downloadedBytes)} downloaded`
              context.stderr.write(tty ? `\r${line}${p.done === p.total ? '\n' : ''}` : `${line}\n`)
            },
          })
        } finally {
          await store.close()
        }
        try {
          await runQuery(q, sql, format, context)
        } finally {
          q.close()
        }
      })
  },
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

async function runQuery(q: ArchiveQuery, sql: string, format: OutputFormat, context: CliContext): Promise<void> {
  // Every statement of the SQL runs in order and each result is printed (DuckDB alone would return only the last).
  let statements
  try {
    statements = await q.connection.extractStatements(sql)
  } catch (err) {
    return failed(err, context)
  }
  for (let i = 0; i < statements.count; i++) {
    let result
    try {
      result = await (await statements.prepare(i)).stream()
    } catch (err) {
      return failed(err, context)
    }
    if (i > 0 && format !== 'jsonl') await write(context.stdout, '\n')
    const columns = result.columnNames()
    if (format === 'csv') await write(context.stdout, columns.map(csvCell).join(',') + '\n')
    const rows: string[][] = []
    for await (const chunk of result.yieldRowObjectJson()) {
      for (const row of chunk) {
        if (format === 'jsonl') await write(context.stdout, JSON.stringify(row) + '\n')
        else if (format === 'csv') await write(context.stdout, columns.map((c) => csvCell(row[c])).join(',') + '\n')
        else rows.push(columns.map((c) => textCell(row[c])))
      }
    }
    if (format === 'table') {
      await write(context.stdout, table(columns, rows, new Set()))
      context.stderr.write(`(${rows.length} row${rows.length === 1 ? '' : 's'})\n`)
    }
  }
}

function failed(err: unknown, context: CliContext): never {
  // DuckDB's message points at the position in the SQL over several lines: show all of it.
  context.stderr.write(`everlog: query failed: ${(err as Error).message}\n`)
  throw new ExitCode(2)
}

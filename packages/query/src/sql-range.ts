// The record range a query's own WHERE clause implies, so `everlog query` reads only what the SQL can see. DuckDB
// parses the SQL (json_serialize_sql); only a single SELECT over one topic table, without subqueries or CTEs, is
// considered, and only AND-ed comparisons of "partition", "offset" or "timestamp" with constants. Anything else
// is ignored, which only ever widens the range: the query's own WHERE still filters every row.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { decodedViewName, tableNameForTopic } from './columns.js'
import type { RecordRange } from './prune.js'

type Json = { [k: string]: unknown }
type Column = 'partition' | 'offset' | 'timestamp' | 'epoch_ms'

const INTEGER_TYPES = new Set([
  'TINYINT',
  'SMALLINT',
  'INTEGER',
  'BIGINT',
  'HUGEINT',
  'UTINYINT',
  'USMALLINT',
  'UINTEGER',
  'UBIGINT',
])
// DuckDB's logical type ids a string literal may be cast to when compared with "timestamp".
const TIME_CASTS: Record<string, string> = {
  TIMESTAMP: 'TIMESTAMP',
  'TIMESTAMP WITH TIME ZONE': 'TIMESTAMPTZ',
  TIMESTAMP_TZ: 'TIMESTAMPTZ',
  DATE: 'DATE',
  TIMESTAMP_MS: 'TIMESTAMP_MS',
  TIMESTAMP_S: 'TIMESTAMP_S',
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The topic the SQL reads and the range its WHERE clause implies, or undefined when the SQL is not a plain SELECT
 * over one of `topics`' tables (or its decoded view) or implies no narrowing.
 */
export async function rangeFromSql(
  sql: string,
  topics: readonly string[],
): Promise<{ topic: string; range: RecordRange } | undefined> {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  try {
    return await derive(connection, sql, topics)
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}

async function derive(
  connection: DuckDBConnection,
  sql: string,
  topics: readonly string[],
): Promise<{ topic: string; range: RecordRange } | undefined> {
  let tree: Json
  try {
    const reader = await connection.runAndReadAll(`SELECT json_serialize_sql(${sqlString(sql)}) AS j`)
    tree = JSON.parse(String(reader.getRowObjectsJson()[0]!.j)) as Json
  } catch {
    return undefined
  }
  if (tree.error === true || !Array.isArray(tree.statements) || tree.statements.length !== 1) return undefined
  const text = JSON.stringify(tree)
  // Another SELECT anywhere (subquery, set operation, CTE) could see rows the outer WHERE filters out.
  if ((text.match(/"SELECT_NODE"/g) ?? []).length !== 1 || text.includes('"SUBQUERY"')) return undefined
  const node = (tree.statements[0] as Json).node
  if (!isObject(node) || node.type !== 'SELECT_NODE' || node.sample) return undefined
  const from = node.from_table
  if (!isObject(from) || from.type !== 'BASE_TABLE' || (from.schema_name !== '' && from.schema_name !== undefined)) {
    return undefined
  }
  const name = String(from.table_name).toLowerCase()
  const topic = topics.find((t) => name === tableNameForTopic(t) || name === decodedViewName(tableNameForTopic(t)))
  if (topic === undefined) return undefined
  const alias = typeof from.alias === 'string' && from.alias !== '' ? from.alias.toLowerCase() : name

  const range: RecordRange = {}
  const column = (e: unknown): Column | undefined => {
    if (!isObject(e)) return undefined
    if (e.class === 'COLUMN_REF' && Array.isArray(e.column_names)) {
      const names = (e.column_names as string[]).map((n) => n.toLowerCase())
      if (names.length === 2 && names[0] !== alias) return undefined
      const c = names.at(-1)
      if (names.length > 2) return undefined
      return c === 'partition' || c === 'offset' || c === 'timestamp' ? c : undefined
    }
    if (
      e.class === 'FUNCTION' &&
      String(e.function_name).toLowerCase() === 'epoch_ms' &&
      Array.isArray(e.children) &&
      e.children.length === 1 &&
      column(e.children[0]) === 'timestamp'
    ) {
      return 'epoch_ms'
    }
    return undefined
  }
  /** A constant's value for the column it is compared with: an integer, or epoch ms for "timestamp". */
  const value = async (e: unknown, c: Column): Promise<bigint | undefined> => {
    if (!isObject(e)) return undefined
    if (c === 'timestamp') {
      let literal: unknown = e
      let type = 'TIMESTAMPTZ'
      if (e.class === 'CAST' && isObject(e.cast_type)) {
        const t = TIME_CASTS[String(e.cast_type.id)]
        if (t === undefined) return undefined
        type = t
        literal = e.child
      }
      if (!isObject(literal) || literal.class !== 'CONSTANT' || !isObject(literal.value)) return undefined
      const v = literal.value as Json
      if (v.is_null || !isObject(v.type) || v.type.id !== 'VARCHAR' || typeof v.value !== 'string') return undefined
      // Converted by DuckDB in a session like the query's, so time zones are read as the query reads them.
      try {
        const r = await connection.runAndReadAll(
          `SELECT epoch_ms(CAST(CAST(${sqlString(v.value)} AS ${type}) AS TIMESTAMPTZ))::VARCHAR AS ms`,
        )
        return BigInt(String(r.getRowObjectsJson()[0]!.ms))
      } catch {
        return undefined
      }
    }
    if (e.class !== 'CONSTANT' || !isObject(e.value)) return undefined
    const v = e.value as Json
    if (v.is_null || !isObject(v.type) || !INTEGER_TYPES.has(String(v.type.id))) return undefined
    return typeof v.value === 'number' && Number.isSafeInteger(v.value) ? BigInt(v.value) : undefined
  }
  const bound = (c: Column, lo: bigint | undefined, hi: bigint | undefined) => {
    const max = (a: bigint | undefined, b: bigint | undefined) =>
      a === undefined ? b : b === undefined || a > b ? a : b
    const min = (a: bigint | undefined, b: bigint | undefined) =>
      a === undefined ? b : b === undefined || a < b ? a : b
    if (c === 'offset') {
      range.fromOffset = max(range.fromOffset, lo)
      range.toOffset = min(range.toOffset, hi)
    } else if (c === 'partition') {
      if (lo !== undefined && hi !== undefined && lo === hi && lo >= 0n && lo <= 2147483647n) {
        const p = Number(lo)
        range.partitions = range.partitions ? range.partitions.filter((x) => x === p) : [p]
      }
    } else {
      range.fromTime = max(range.fromTime, lo)
      range.toTime = min(range.toTime, hi)
    }
  }
  const FLIP: Record<string, string> = {
    COMPARE_GREATERTHAN: 'COMPARE_LESSTHAN',
    COMPARE_LESSTHAN: 'COMPARE_GREATERTHAN',
    COMPARE_GREATERTHANOREQUALTO: 'COMPARE_LESSTHANOREQUALTO',
    COMPARE_LESSTHANOREQUALTO: 'COMPARE_GREATERTHANOREQUALTO',
    COMPARE_EQUAL: 'COMPARE_EQUAL',
  }
  const conjunct = async (e: unknown): Promise<void> => {
    if (!isObject(e)) return
    if (e.class === 'CONJUNCTION' && e.type === 'CONJUNCTION_AND' && Array.isArray(e.children)) {
      for (const child of e.children) await conjunct(child)
      return
    }
    if (e.class === 'BETWEEN') {
      const c = column(e.input)
      if (!c) return
      return bound(c, await value(e.lower, c), await value(e.upper, c))
    }
    if (e.class === 'OPERATOR' && e.type === 'COMPARE_IN' && Array.isArray(e.children)) {
      const [first, ...rest] = e.children
      if (column(first) !== 'partition') return
      const ps: number[] = []
      for (const r of rest) {
        const v = await value(r, 'partition')
        if (v === undefined || v < 0n || v > 2147483647n) return
        ps.push(Number(v))
      }
      range.partitions = range.partitions ? range.partitions.filter((p) => ps.includes(p)) : [...new Set(ps)]
      return
    }
    if (e.class !== 'COMPARISON' || typeof e.type !== 'string' || !(e.type in FLIP)) return
    let c = column(e.left)
    let op = e.type
    let other = e.right
    if (!c) {
      c = column(e.right)
      op = FLIP[e.type]!
      other = e.left
    }
    if (!c) return
    const v = await value(other, c)
    if (v === undefined) return
    // Integers are exact; a time may carry fractions of a millisecond, so its bounds stay inclusive.
    const step = c === 'offset' || c === 'partition' ? 1n : 0n
    if (op === 'COMPARE_EQUAL') bound(c, v, v)
    else if (op === 'COMPARE_GREATERTHAN') bound(c, v + step, undefined)
    else if (op === 'COMPARE_GREATERTHANOREQUALTO') bound(c, v, undefined)
    else if (op === 'COMPARE_LESSTHAN') bound(c, undefined, v - step)
    else if (op === 'COMPARE_LESSTHANOREQUALTO') bound(c, undefined, v)
  }
  await conjunct(node.where_clause)
  for (const k of Object.keys(range) as (keyof RecordRange)[]) if (range[k] === undefined) delete range[k]
  return Object.keys(range).length > 0 ? { topic, range } : undefined
}

/** Both ranges at once: the records in each. */
export function intersectRanges(a: RecordRange, b: RecordRange): RecordRange {
  const max = (x: bigint | undefined, y: bigint | undefined) => (x === undefined ? y : y === undefined || x > y ? x : y)
  const min = (x: bigint | undefined, y: bigint | undefined) => (x === undefined ? y : y === undefined || x < y ? x : y)
  const out: RecordRange = {
    fromTime: max(a.fromTime, b.fromTime),
    toTime: min(a.toTime, b.toTime),
    fromOffset: max(a.fromOffset, b.fromOffset),
    toOffset: min(a.toOffset, b.toOffset),
  }
  if (a.partitions || b.partitions) {
    out.partitions =
      a.partitions && b.partitions
        ? a.partitions.filter((p) => b.partitions!.includes(p))
        : (a.partitions ?? b.partitions)
  }
  for (const k of Object.keys(out) as (keyof RecordRange)[]) if (out[k] === undefined) delete out[k]
  return out
}

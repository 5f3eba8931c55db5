// @everlog/query: SQL over the archive — DuckDB locally, Athena table definitions for AWS.
export * from './columns.js'
export * from './athena.js'
export * from './cache.js'
export * from './segments.js'
export * from './prune.js'
export * from './sql-range.js'
export * from './duckdb.js'
export * from './athena-run.js'

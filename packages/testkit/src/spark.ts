// A local Spark session (pyspark from the test virtualenv, Hive support, local mode) that runs SQL statements for a
// test: one Python process and one JVM per session, so a test file starts Spark once and sends every statement to it.
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { missingTool, testPython } from './tools.js'

/**
 * A statement's result. Values: timestamps as epoch milliseconds (the session runs in UTC), binary as hex, maps and
 * structs as objects, arrays as lists, decimals as strings.
 */
export interface SparkResult {
  columns: string[]
  rows: unknown[][]
}

export interface SparkSession {
  /** Spark's version, as the session reports it. */
  readonly version: string
  /** Runs one statement; rejects with Spark's error message (first line) when Spark refuses it. */
  sql(statement: string): Promise<SparkResult>
  /** Stops Spark and deletes the session's warehouse, metastore and scratch folders. */
  close(): Promise<void>
}

export interface SparkOptions {
  /** Extra Spark settings, e.g. { 'spark.sql.ansi.doubleQuotedIdentifiers': 'true' }. */
  conf?: Record<string, string>
}

const SCRIPT = fileURLToPath(new URL('../python/spark_session.py', import.meta.url))

/** Why Spark cannot run here (for `t.skip`), or undefined when it can; CI turns a missing tool into a failure. */
export function missingSpark(): string | undefined {
  const java = (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'java'))
  return (
    missingTool(testPython(), 'the test Python virtualenv (pyspark)') ??
    missingTool(java.find((p) => existsSync(p)) ?? 'java', 'Java (for Spark)')
  )
}

/** Starts a session; resolves once Spark answers. */
export async function startSpark(options: SparkOptions = {}): Promise<SparkSession> {
  const home = mkdtempSync(join(tmpdir(), 'everlog-spark-'))
  const child = spawn(testPython(), [SCRIPT, home, JSON.stringify(options.conf ?? {})], {
    env: { ...process.env, TZ: 'UTC', PYSPARK_PYTHON: testPython() },
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    // Keep the tail only: Spark is chatty, and only the last lines explain a crash.
    stderr = (stderr + d.toString()).slice(-8000)
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const exited = new Promise<never>((_, reject) =>
    child.on('close', (code) => reject(new Error(`Spark exited (code ${code}): ${stderr}`))),
  )
  exited.catch(() => {})
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await Promise.race([lines.next(), exited])
    if (line.done) throw new Error(`Spark closed its output: ${stderr}`)
    return JSON.parse(line.value) as Record<string, unknown>
  }
  let ready: Record<string, unknown>
  try {
    ready = await next()
  } catch (err) {
    rmSync(home, { recursive: true, force: true })
    throw err
  }
  // One statement at a time: answers come back in order on one stream.
  let queue: Promise<unknown> = Promise.resolve()
  return {
    version: String(ready.ready),
    sql(statement) {
      const run = queue.then(async () => {
        child.stdin.write(JSON.stringify({ sql: statement }) + '\n')
        const answer = await next()
        if (typeof answer.error === 'string') throw new Error(`Spark refused the statement: ${answer.error}`)
        return answer as unknown as SparkResult
      })
      queue = run.catch(() => {})
      return run
    },
    async close() {
      child.stdin.end()
      await exited.catch(() => {})
      rmSync(home, { recursive: true, force: true })
    },
  }
}

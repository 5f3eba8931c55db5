// Spark with Apache Iceberg's Spark runtime, in local mode, as a judge of the Iceberg tables Everlog publishes. A
// test runs one PySpark script (one Spark session) per test file; the script prints its findings as JSON.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { testPython, toolCacheDir } from './tools.js'

/** Iceberg's Spark runtime for Spark 4.0 / Scala 2.13 (pyspark is pinned in scripts/requirements-test.txt). */
export const ICEBERG_SPARK_RUNTIME = 'org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:1.10.1'

/** Where scripts/test-deps.sh puts the runtime jar. */
export function icebergSparkJar(): string {
  const [, artifact, version] = ICEBERG_SPARK_RUNTIME.split(':')
  return join(toolCacheDir(), 'jars', `${artifact}-${version}.jar`)
}

/**
 * Runs a PySpark script with the Iceberg runtime on the classpath; the script gets `args` and then the path of a
 * file to write its JSON result to, which is returned parsed. Spark's own chatter goes to the returned log.
 */
export async function runIcebergSpark<T>(
  script: string,
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<{ result: T; log: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'everlog-spark-'))
  try {
    const out = join(dir, 'result.json')
    const run = promisify(execFile)
    const env = {
      ...process.env,
      EVERLOG_ICEBERG_JAR: icebergSparkJar(),
      EVERLOG_SPARK_TMP: dir,
      SPARK_LOCAL_IP: '127.0.0.1',
      PYSPARK_PYTHON: testPython(),
    }
    const { stderr } = await run(testPython(), [script, ...args, out], {
      env,
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 << 20,
    })
    return { result: JSON.parse(await readFile(out, 'utf8')) as T, log: stderr }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

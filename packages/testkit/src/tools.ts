// Where the third-party tools the tests use live: one cache folder, filled by scripts/test-deps.sh (which `.ci/run`
// and `npm test` call), so a test never downloads anything itself.
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** The cache of downloaded test tools (Kafka's jars, the Python virtualenv, S3 servers). */
export function toolCacheDir(): string {
  return process.env.EVERLOG_TOOL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'everlog')
}

/** The Python interpreter of the test virtualenv (pyarrow, polars, kafka-python, ... from PyPI). */
export function testPython(): string {
  return process.env.EVERLOG_PYTHON ?? join(toolCacheDir(), 'venv', 'bin', 'python')
}

/**
 * Why a test that needs `tool` cannot run, or undefined when it can. Tests pass this to `skip` so a missing tool
 * says what to run instead of failing obscurely; CI sets EVERLOG_REQUIRE_TOOLS=1, turning a missing tool into a failure.
 */
export function missingTool(path: string, what: string): string | undefined {
  if (existsSync(path)) return undefined
  const why = `${what} is not installed (${path}); run: bash scripts/test-deps.sh`
  if (process.env.EVERLOG_REQUIRE_TOOLS === '1') throw new Error(why)
  return why
}

// The archiver as a bare process (containers, tests): configuration from EVERLOG_* env and the optional file named
// by EVERLOG_CONFIG_FILE. `everlog archive` is the same daemon with flags.
import { ConfigError } from '@everlog/core'
import { loadConfig } from './config.js'
import { runDaemon } from './daemon.js'

async function main(): Promise<number> {
  let config
  try {
    const file = process.env.EVERLOG_CONFIG_FILE
    config = loadConfig(file ? { file } : {})
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`everlog archive: ${err.message}\n`)
      return 2
    }
    throw err
  }
  return runDaemon(config)
}

process.exitCode = await main()

// Runs an Archiver as a process: SIGTERM/SIGINT flush, commit and exit 0; a failure exits non-zero with one clear
// line. Shared by `everlog archive` and the package's own entry point (main.ts).
import { isEverlogError } from '@everlog/core'
import { Archiver } from './archiver.js'
import type { ArchiverOptions } from './archiver.js'
import type { ArchiverConfig } from './config.js'

export interface RunDaemonOptions extends ArchiverOptions {
  /** Where the one-line failure summary goes (default process.stderr); logs go to the logger. */
  stderr?: NodeJS.WritableStream
  /** Signals that stop the archiver gracefully. Default SIGTERM and SIGINT. */
  signals?: NodeJS.Signals[]
}

/** Exit codes: 0 stopped cleanly (signal or --once done), 1 the archiver failed. */
export async function runDaemon(config: ArchiverConfig, options: RunDaemonOptions = {}): Promise<number> {
  const stderr = options.stderr ?? process.stderr
  const archiver = new Archiver(config, options)
  const signals = options.signals ?? ['SIGTERM', 'SIGINT']
  let signalled = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signalled++
    if (signalled === 1) {
      archiver.logger.info({ signal }, `${signal}: flushing open segments and stopping`)
      void archiver.stop()
    } else {
      // A second signal while flushing: the operator insists. HEAD stays consistent; unflushed records are re-read.
      archiver.logger.warn({ signal }, `${signal} again: exiting without flushing`)
      process.exit(130)
    }
  }
  for (const s of signals) process.on(s, onSignal)
  try {
    await archiver.start()
    await archiver.done
    return 0
  } catch (err) {
    stderr.write(`everlog archive: ${describe(err)}\n`)
    return 1
  } finally {
    for (const s of signals) process.off(s, onSignal)
  }
}

function describe(err: unknown): string {
  if (isEverlogError(err)) return err.message
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

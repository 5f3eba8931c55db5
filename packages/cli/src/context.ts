// What every command module is handed: the output streams, the environment, and how to open the archive's store.
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { openStore as openCoreStore } from '@everlog/core'
import type { ObjectStore } from '@everlog/core'

export interface CliContext {
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: NodeJS.ProcessEnv
  /** Opens the store named by --store, or by EVERLOG_STORE when the flag is absent. */
  openStore(url: string | undefined): ObjectStore
  /** --verbose was given: libraries' own log lines (kafkajs') are shown too. */
  readonly verbose?: boolean
}

/** A mistake in how the command was called; shown as one line with a hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** The command ran into a known condition; its message already says what the user can do about it. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed'
}

/** Ends the command with an exit code after it already told the user why (e.g. verify found problems). */
export class ExitCode extends Error {
  override readonly name = 'ExitCode'
  constructor(readonly code: number) {
    super(`exit ${code}`)
  }
}

export function defaultContext(env: NodeJS.ProcessEnv = process.env): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env,
    openStore(url) {
      const chosen = url ?? env.EVERLOG_STORE
      if (chosen === undefined || chosen === '') {
        throw new UsageError('--store <url> is required (or set EVERLOG_STORE), e.g. --store file:///var/lib/everlog')
      }
      return openCoreStore(chosen)
    },
  }
}

/** Writes text honouring backpressure, so piping a large archive into a slow reader keeps memory flat. */
export async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain')
}

// Runs the CLI for one argv and turns every failure into one readable line on stderr and an exit code.
import { inspect } from 'node:util'
import { CommanderError } from 'commander'
import { isEverlogError } from '@everlog/core'
import type { CliContext } from './context.js'
import { CommandFailed, defaultContext, ExitCode, UsageError } from './context.js'
import { buildProgram } from './program.js'
import type { CommandModule } from './program.js'

/** Exit code of a command that could not do its job (verify uses 1 for "the archive is broken"). */
export const EXIT_FAILURE = 2

export async function run(
  argv: readonly string[],
  options: { context?: CliContext; commands?: readonly CommandModule[] } = {},
): Promise<number> {
  const verbose = argv.includes('--verbose')
  const base = options.context ?? defaultContext()
  // The same streams and store opener; `verbose` for commands that decide what libraries may print.
  const context: CliContext = Object.assign(Object.create(base) as CliContext, { verbose })
  // `everlog cat ... | head` closes our stdout early: that is the reader's choice, not an error.
  context.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
  try {
    const program = buildProgram({ context, commands: options.commands })
    if (argv.length === 0) {
      program.outputHelp()
      return 0
    }
    await program.parseAsync([...argv], { from: 'user' })
    return 0
  } catch (err) {
    if (err instanceof ExitCode) return err.code
    // Commander already printed its own message (unknown option, --help, ...).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_FAILURE
    context.stderr.write(`everlog: ${describe(err)}\n`)
    if (verbose) context.stderr.write(`${inspect(err, { depth: 6 })}\n`)
    else if (!(err instanceof UsageError || err instanceof CommandFailed || isEverlogError(err))) {
      context.stderr.write('everlog: (an unexpected error; run again with --verbose for details)\n')
    }
    return EXIT_FAILURE
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0]!
  return String(err)
}

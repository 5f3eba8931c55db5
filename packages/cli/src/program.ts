// Builds the `everlog` commander program from command modules: a new command is a new module in commands/ and
// one line in commands/index.ts, nothing here changes.
import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { builtinCommands } from './commands/index.js'
import type { CliContext } from './context.js'
import { defaultContext } from './context.js'

export type CliCommand = Command

export interface CommandModule {
  /** Adds one command (its options, help text and action) to the program. */
  register(program: CliCommand, context: CliContext): void
}

export interface BuildProgramOptions {
  context?: CliContext
  /** Defaults to every built-in command; pass more to extend the CLI. */
  commands?: readonly CommandModule[]
}

const EXAMPLES = `
Examples:
  $ everlog ls --store file:///var/lib/everlog
  $ everlog cat --store s3://my-bucket/archive --topic orders --partition 0 --from-offset 1000 --limit 10
  $ everlog cat --store file:///var/lib/everlog --topic orders --from-time 2024-05-01T00:00:00Z | jq .value
  $ everlog verify --store s3://my-bucket/archive --topic orders

Stores: file:///abs/path, s3://bucket/prefix (endpoint, region and credentials from the AWS SDK's usual env and
config, e.g. AWS_ENDPOINT_URL, AWS_REGION), memory://name (tests). EVERLOG_STORE is used when --store is absent.
Exit codes: 0 success, 1 verify found a broken object, 2 the command could not run (the reason is on stderr).
`

export function buildProgram(options: BuildProgramOptions = {}): CliCommand {
  const context = options.context ?? defaultContext()
  const program = new Command('everlog')
  program
    // Help, version and commander's own errors go to the context's streams (tests run the CLI in-process).
    .configureOutput({
      writeOut: (s) => void context.stdout.write(s),
      writeErr: (s) => void context.stderr.write(s),
    })
    .exitOverride()
    .description('Everlog: Kafka topics archived forever in object storage. Inspect, read and check an archive.')
    .version(cliVersion(), '-V, --version', 'print the version of everlog')
    .usage('<command> [options]')
    .option('--verbose', 'show the full error (stack and cause) when a command fails')
    .addHelpText('after', EXAMPLES)
  for (const command of options.commands ?? builtinCommands) command.register(program, context)
  return program
}

/** The CLI package's version, from its package.json (one level above src/ and dist/). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

// The kafkajs client of every CLI command that talks to Kafka: bounded waits (a broker that accepts connections
// and never answers is given up on within KAFKA_DEADLINE_MS) and kafkajs' log routed through the CLI's one-line
// messages, shown only with --verbose (a failure itself is reported once, as the command's error).
import kafkajs from 'kafkajs'
import type { KafkaConfig, LogEntry } from 'kafkajs'
import type { CliContext } from './context.js'
import { CommandFailed } from './context.js'

// kafkajs is CommonJS: not every export is visible to ESM named imports.
const { logLevel } = kafkajs

/** The longest any single Kafka step (connect, send) may take; EVERLOG_KAFKA_DEADLINE_MS changes it. */
export const KAFKA_DEADLINE_MS = 30_000

export function kafkaDeadlineMs(context: CliContext): number {
  const v = Number(context.env.EVERLOG_KAFKA_DEADLINE_MS)
  return Number.isInteger(v) && v > 0 ? v : KAFKA_DEADLINE_MS
}

const LEVELS: Record<number, string> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' }

/**
 * kafkajs' log level and log creator for a CLI command: silent unless --verbose, then one line per entry on stderr
 * (a failure itself is reported once, as the command's error).
 */
export function cliKafkaLogging(context: CliContext): Pick<KafkaConfig, 'logLevel' | 'logCreator'> {
  return {
    logLevel: context.verbose ? logLevel.WARN : logLevel.NOTHING,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const where = namespace ? `${namespace}: ` : ''
        context.stderr.write(`everlog: kafkajs ${LEVELS[level] ?? level}: ${where}${log.message.split('\n')[0]}\n`)
      },
  }
}

/** `step` within KAFKA_DEADLINE_MS, or a one-line failure naming what did not answer. */
export async function withinDeadline<T>(what: string, step: Promise<T>, ms = KAFKA_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CommandFailed(`${what}: Kafka did not answer within ${Math.round(ms / 1000)} s`)),
      ms,
    )
  })
  try {
    return await Promise.race([step, deadline])
  } finally {
    clearTimeout(timer)
  }
}

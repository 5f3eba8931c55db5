// JSON logs (pino) with secrets redacted wherever they could appear: SASL passwords, AWS keys, credentials in URLs.
import { pino } from 'pino'
import type { DestinationStream, Level, Logger } from 'pino'

export const REDACT_PATHS = [
  'password',
  '*.password',
  'sasl.password',
  '*.sasl.password',
  'kafka.sasl.password',
  '*.kafka.sasl.password',
  'secretAccessKey',
  '*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'credentials',
  '*.credentials',
  'authorization',
  '*.authorization',
]

export function createLogger(level: Level | 'silent', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'everlog-archiver' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  return destination ? pino(options, destination) : pino(options)
}

/** A URL safe to log: user info (user:secret@) removed. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^@/]*@/, '$1[redacted]@')
}

// Times on the command line, one rule for every command: an ISO 8601 time, or an epoch number whose unit is never
// guessed wrong. A bare number of up to 10 digits is seconds (until the year 2286), one of 13 digits milliseconds;
// any other length must say its unit (`1714521600s`, `1714521600000ms`).
import { UsageError } from './context.js'

const FORMS = 'an ISO 8601 time like 2024-05-01T12:00:00Z, epoch seconds (1714521600) or epoch ms (1714521600000)'

/** Epoch milliseconds of a time flag's value, or undefined when the flag is absent. */
export function parseTimeFlag(flag: string, v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined
  const unit = /^(\d{1,16})(s|ms)$/.exec(v)
  if (unit) return unit[2] === 's' ? BigInt(unit[1]!) * 1000n : BigInt(unit[1]!)
  if (/^\d{1,10}$/.test(v)) return BigInt(v) * 1000n
  if (/^\d{13}$/.test(v)) return BigInt(v)
  if (/^\d+$/.test(v)) {
    throw new UsageError(`${flag} ${v} is ambiguous: write ${v}s for seconds or ${v}ms for milliseconds, or ${FORMS}`)
  }
  const ms = Date.parse(v)
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) {
    throw new UsageError(`${flag} must be ${FORMS}, got "${v}"`)
  }
  return BigInt(ms)
}

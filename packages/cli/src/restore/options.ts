// Flag parsing shared by the restore, offsets and group commands: offsets, times, lists and the fencing mode (the
// Kafka client comes from ../kafka-options.ts, shared by every command that talks to Kafka).
import { CONDITIONAL_WRITES_ENV, parseConditionalWritesMode } from '@everlog/core'
import type { ConditionalWritesCheck, ConditionalWritesMode } from '@everlog/core'
import kafkajs from 'kafkajs'
import { UsageError } from '../context.js'
import type { CliContext } from '../context.js'

// kafkajs is CommonJS: not every export is visible to ESM named imports.
const { CompressionTypes } = kafkajs
type CompressionTypes = kafkajs.CompressionTypes

export function parseOffset(flag: string, v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined
  if (!/^\d{1,19}$/.test(v)) throw new UsageError(`${flag} must be an offset (an integer >= 0), got "${v}"`)
  return BigInt(v)
}

export { parseTimeFlag } from '../time.js'

export function parseList(flag: string, v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  if (items.length === 0) throw new UsageError(`${flag} needs at least one name, e.g. ${flag} a,b`)
  return items
}

export function parsePartitionList(flag: string, v: string | undefined): number[] | undefined {
  const items = parseList(flag, v)
  return items?.map((s) => {
    if (!/^\d{1,10}$/.test(s)) throw new UsageError(`${flag} must list partition numbers like 0,1,5, got "${v}"`)
    return Number(s)
  })
}

export function parsePositive(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a number > 0, got "${v}"`)
  return n
}

export function parseConfigs(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values ?? []) {
    const eq = v.indexOf('=')
    if (eq <= 0) throw new UsageError(`--config must be name=value (e.g. --config retention.ms=-1), got "${v}"`)
    out[v.slice(0, eq)] = v.slice(eq + 1)
  }
  return out
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

const COMPRESSIONS: Record<string, CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

export function parseCompression(v: string): CompressionTypes {
  const c = COMPRESSIONS[v]
  if (c === undefined)
    throw new UsageError(`--compression must be one of ${Object.keys(COMPRESSIONS).join(', ')}, got "${v}"`)
  return c
}

/** --unsafe-single-writer, else EVERLOG_CONDITIONAL_WRITES, else 'required'. */
export function conditionalWritesMode(
  unsafeSingleWriter: boolean | undefined,
  context: CliContext,
): ConditionalWritesMode {
  if (unsafeSingleWriter) return 'unsafe-single-writer'
  return parseConditionalWritesMode(context.env[CONDITIONAL_WRITES_ENV]) ?? 'required'
}

/** What a writing command says when it runs without fencing because the operator allowed it. */
export function unfencedNotice(check: ConditionalWritesCheck): string {
  return (
    `warning: the store ${check.store} does not honour ${check.unsupported.join(' and ')}: writing as the single ` +
    'writer without fencing (unsafe-single-writer); run no other writer on this archive meanwhile'
  )
}

// Fencing needs a store that refuses a second create-if-absent and a replace-if-match with a stale etag. Some
// S3-compatible servers accept both silently, and then two writers overwrite each other's HEAD with no error. So
// everything that writes HEAD or offset maps proves the store refuses them before its first write, on a probe key of
// its own, and stops unless the operator chose to run a single writer without fencing.
import { randomBytes } from 'node:crypto'
import { ConfigError, PreconditionFailedError } from '../errors.js'
import { ConditionalWritesUnsupportedError } from './errors.js'
import type { ConditionalWrite } from './errors.js'
import type { ObjectStore } from './types.js'

/**
 * - `required` (default): the probe must show the store refuses both conditional writes, else nothing is written.
 * - `unsafe-single-writer`: go on whatever the probe shows; correct only while exactly one writer runs per archive.
 */
export const CONDITIONAL_WRITES_MODES = ['required', 'unsafe-single-writer'] as const
export type ConditionalWritesMode = (typeof CONDITIONAL_WRITES_MODES)[number]

/** The environment variable every writing command reads (flags and config files win over it). */
export const CONDITIONAL_WRITES_ENV = 'EVERLOG_CONDITIONAL_WRITES'

/** Probe objects live at the archive root, beside everlog.json: no topic, listing or Athena table sees them. */
export const PROBE_KEY_PREFIX = 'everlog.probe-'

export interface ConditionalWritesProbe {
  /** The store as named in messages: its URL and, for S3, the endpoint. */
  store: string
  /** The conditional writes the store accepted although it had to refuse them (empty: fencing works). */
  unsupported: ConditionalWrite[]
}

export interface ConditionalWritesCheck extends ConditionalWritesProbe {
  mode: ConditionalWritesMode
  /** True when HEAD replacements are fenced: the probe passed. */
  fenced: boolean
}

/** Names a store for an operator: its URL, plus the endpoint when it is not AWS's own. */
export function describeStore(store: ObjectStore): string {
  const endpoint = (store as { endpoint?: unknown }).endpoint
  return typeof endpoint === 'string' && endpoint !== '' ? `${store.url} (endpoint ${endpoint})` : store.url
}

/**
 * Creates a probe object twice with If-None-Match and replaces it with a stale If-Match, then deletes it. Store
 * errors other than the refusals propagate (retriable ones are worth retrying: every run uses a new probe key).
 */
export async function probeConditionalWrites(store: ObjectStore): Promise<ConditionalWritesProbe> {
  const key = `${PROBE_KEY_PREFIX}${randomBytes(8).toString('hex')}`
  const unsupported: ConditionalWrite[] = []
  const body = (step: string) => Buffer.from(`everlog conditional-write probe: ${step}\n`)
  try {
    const first = await store.putIfAbsent(key, body('create'))
    if (!(await refused(() => store.putIfAbsent(key, body('second create, must be refused'))))) {
      unsupported.push('If-None-Match')
    }
    // Advance the object past the etag of the first write, then replace with that now stale etag. When the second
    // create was wrongly accepted the object already moved on, and the first etag is stale all the same.
    const current = await store.head(key)
    if (current?.etag === first.etag) await store.putIfMatch(key, body('replace'), first.etag)
    if (!(await refused(() => store.putIfMatch(key, body('stale replace, must be refused'), first.etag)))) {
      unsupported.push('If-Match')
    }
  } finally {
    await store.delete(key).catch(() => {})
  }
  return { store: describeStore(store), unsupported }
}

async function refused(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write()
    return false
  } catch (err) {
    if (err instanceof PreconditionFailedError) return true
    throw err
  }
}

const checked = new WeakMap<ObjectStore, Promise<ConditionalWritesProbe>>()

/**
 * Probes the store once per store object and applies the mode: in `required` mode a store that accepts either write
 * raises ConditionalWritesUnsupportedError, naming the store and the write it does not honour.
 */
export async function checkConditionalWrites(
  store: ObjectStore,
  mode: ConditionalWritesMode = 'required',
): Promise<ConditionalWritesCheck> {
  let probe = checked.get(store)
  if (!probe) {
    probe = probeConditionalWrites(store)
    checked.set(store, probe)
    // A failed probe (store unreachable) is not remembered: the next call probes again.
    probe.catch(() => checked.delete(store))
  }
  const result = await probe
  const fenced = result.unsupported.length === 0
  if (!fenced && mode === 'required') {
    throw new ConditionalWritesUnsupportedError(
      result.store,
      result.unsupported,
      `the store ${result.store} does not honour conditional writes (${result.unsupported
        .map((w) => `${w} was not refused`)
        .join(', ')}), so HEAD cannot be fenced and two writers would overwrite each other; use a store that ` +
        `honours them, or accept running exactly one writer per archive with --unsafe-single-writer ` +
        `(${CONDITIONAL_WRITES_ENV}=unsafe-single-writer)`,
    )
  }
  return { ...result, mode, fenced }
}

/** The mode named by a setting (env, flag); undefined when unset. @throws ConfigError for anything else. */
export function parseConditionalWritesMode(
  value: string | undefined,
  source = CONDITIONAL_WRITES_ENV,
): ConditionalWritesMode | undefined {
  if (value === undefined || value === '') return undefined
  if ((CONDITIONAL_WRITES_MODES as readonly string[]).includes(value)) return value as ConditionalWritesMode
  throw new ConfigError(`${source} must be ${CONDITIONAL_WRITES_MODES.join(' or ')}, got ${JSON.stringify(value)}`)
}

// Fencing needs a store that refuses a second create-if-absent and a replace-if-match with a stale etag. Some
// S3-compatible servers accept both silently, and then two writers overwrite each other's HEAD with no error. So
// everything that writes HEAD or offset maps proves the store refuses them before its first write, on a probe key of
// its own, and stops unless the operator chose to run a single writer without fencing.
import { ConfigError, EverlogError, ObjectNotFoundError, PreconditionFailedError } from '../errors.js'
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

/**
 * The probe object, at the archive root beside everlog.json, where no topic, listing or Athena table sees it. It is
 * kept (tiny, rewritten by every probe) so that a writer needs no delete permission.
 */
export const PROBE_KEY = 'everlog.probe'

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

/** Runs one store request again on a retriable error; the caller's policy (the archiver's) or a short default. */
export type ProbeRetry = <T>(request: () => Promise<T>) => Promise<T>

/** Names a store for an operator: its URL, plus the endpoint when it is not AWS's own. */
export function describeStore(store: ObjectStore): string {
  const endpoint = (store as { endpoint?: unknown }).endpoint
  return typeof endpoint === 'string' && endpoint !== '' ? `${store.url} (endpoint ${endpoint})` : store.url
}

/**
 * Creates the probe object (or finds it there), creates it again with If-None-Match, replaces it, and replaces it
 * again with the etag from before that replacement. Each request is retried on its own, and every step stays
 * correct when it is repeated or when another writer probes at the same time: the second create always meets an
 * existing object, and the last replace always carries an etag that is no longer current.
 */
export async function probeConditionalWrites(
  store: ObjectStore,
  retry: ProbeRetry = defaultRetry,
): Promise<ConditionalWritesProbe> {
  const unsupported: ConditionalWrite[] = []
  const body = (step: string) => Buffer.from(`everlog conditional-write probe: ${step} ${new Date().toISOString()}\n`)
  await retry(() => refused(() => store.putIfAbsent(PROBE_KEY, body('create'))))
  if (!(await retry(() => refused(() => store.putIfAbsent(PROBE_KEY, body('second create, must be refused')))))) {
    unsupported.push('If-None-Match')
  }
  const before = await retry(() => store.head(PROBE_KEY))
  if (before === undefined)
    throw new ObjectNotFoundError(PROBE_KEY, `${PROBE_KEY} vanished from ${store.url} while probing`)
  // Moves the object past `before` (if another prober did first, `before` is just as stale).
  await retry(() => refused(() => store.putIfMatch(PROBE_KEY, body('replace'), before.etag)))
  if (
    !(await retry(() =>
      refused(() => store.putIfMatch(PROBE_KEY, body('stale replace, must be refused'), before.etag)),
    ))
  ) {
    unsupported.push('If-Match')
  }
  return { store: describeStore(store), unsupported }
}

/** True when the write was refused (PreconditionFailedError), false when it went through. */
async function refused(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write()
    return false
  } catch (err) {
    if (err instanceof PreconditionFailedError) return true
    throw err
  }
}

/** Up to 5 attempts, 100 ms doubling, for retriable store errors. */
const defaultRetry: ProbeRetry = async (request) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request()
    } catch (err) {
      if (attempt >= 5 || !(err instanceof EverlogError) || !err.retriable) throw err
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1)))
    }
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
  retry?: ProbeRetry,
): Promise<ConditionalWritesCheck> {
  let probe = checked.get(store)
  if (!probe) {
    probe = probeConditionalWrites(store, retry)
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

// The archiver's configuration: one zod schema, fed by a file (YAML or JSON), EVERLOG_* env variables and flags, in
// that order of precedence (flags win). Parse errors name the field's path and what is allowed.
import { readFileSync } from 'node:fs'
import { availableParallelism, hostname } from 'node:os'
import { extname } from 'node:path'
import { CONDITIONAL_WRITES_MODES, ConfigError } from '@everlog/core'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: KiB, kb: KiB, kib: KiB, m: MiB, mb: MiB, mib: MiB, g: GiB }
Object.assign(SIZE_UNITS, { gb: GiB, gib: GiB })
const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }

// Env and flags arrive as strings: sizes may say "64MiB", durations "5m"; anything unparseable is left for zod to
// reject with the field's path.
function withUnits(units: Record<string, number>) {
  return (v: unknown): unknown => {
    if (typeof v !== 'string') return v
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v)
    if (!m) return v
    const factor = units[m[2]!.toLowerCase()]
    return factor === undefined ? v : Math.round(Number(m[1]) * factor)
  }
}

const bytes = (min: number) =>
  z.preprocess(
    withUnits(SIZE_UNITS),
    z
      .number({ error: 'expected a size in bytes, optionally with a unit (65536, 512KiB, 64MiB, 1GiB)' })
      .int()
      .min(min, `must be at least ${min} bytes`),
  )
const millis = (min: number) =>
  z.preprocess(
    withUnits(DURATION_UNITS),
    z
      .number({ error: 'expected a duration in ms, optionally with a unit (500ms, 30s, 5m, 1h)' })
      .int()
      .min(min, `must be at least ${min} ms`),
  )
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number().int().min(min).max(max),
  )
const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v
  const s = v.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(s)) return true
  if (['false', '0', 'no', 'off', ''].includes(s)) return false
  return v
}, z.boolean())

/** Comma-separated strings (env, flags) become lists. */
const list = <T extends z.ZodType>(item: T, missing?: string) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : v,
    z.array(item, missing === undefined ? undefined : { error: (i) => (i.input === undefined ? missing : undefined) }),
  )

const HOST_PORT = /^[^\s:,]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

/** A topic selector: a list of names, or one regular expression written between slashes ("/orders\..*\/"). */
const topicsSchema = z.preprocess(
  (v) => (typeof v === 'string' && !(v.startsWith('/') && v.endsWith('/') && v.length > 2) ? v.split(',') : v),
  z.union([
    z
      .string()
      .regex(/^\/.+\/$/)
      .refine(
        (s) => {
          try {
            new RegExp(s.slice(1, -1))
            return true
          } catch {
            return false
          }
        },
        { message: 'is not a valid regular expression' },
      ),
    z
      .array(z.string().trim().regex(TOPIC_NAME, 'must be a Kafka topic name (1-249 characters of a-z A-Z 0-9 . _ -)'))
      .min(1, 'needs at least one topic'),
  ]),
)

/** SASL mechanisms: Kafka's own (a user and password) and AWS MSK's IAM authentication (the AWS credential chain). */
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'aws-msk-iam'] as const

const saslSchema = z
  .object({
    mechanism: z.enum(SASL_MECHANISMS),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** A file holding the password (a trailing newline is dropped): a mounted secret, kept out of env and config. */
    passwordFile: z.string().min(1).optional(),
    /** aws-msk-iam: the cluster's region; default from the broker host names, else AWS_REGION. */
    region: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message })
    if (s.mechanism === 'aws-msk-iam') {
      for (const k of ['username', 'password', 'passwordFile'] as const) {
        if (s[k] !== undefined) issue(k, 'not used by aws-msk-iam: credentials come from the AWS credential chain')
      }
      return
    }
    if (s.region !== undefined) issue('region', 'only used by aws-msk-iam')
    if (s.username === undefined) issue('username', `needed by ${s.mechanism}`)
    if (s.password === undefined && s.passwordFile === undefined) {
      issue('password', `needed by ${s.mechanism}: set kafka.sasl.password or kafka.sasl.passwordFile`)
    }
    if (s.password !== undefined && s.passwordFile !== undefined) {
      issue('passwordFile', 'give kafka.sasl.password or kafka.sasl.passwordFile, not both')
    }
  })

const sslSchema = z.union([
  bool,
  z
    .object({
      /** PEM files; read at start so a typo fails fast. */
      caFile: z.string().optional(),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      rejectUnauthorized: bool.optional(),
      servername: z.string().optional(),
    })
    .strict(),
])

const brokersSchema = list(
  z.string().regex(HOST_PORT, 'must be host:port'),
  '--brokers host:port[,host:port] is required (or EVERLOG_BROKERS, or brokers in the settings file)',
).pipe(z.array(z.string()).min(1, 'needs at least one broker (host:port)'))

/** How to reach Kafka: shared by the archiver and every CLI command that talks to Kafka. */
const kafkaSchema = z
  .object({
    clientId: z.string().min(1).default('everlog-archiver'),
    ssl: sslSchema.optional(),
    sasl: saslSchema.optional(),
    connectionTimeout: millis(1).default(3000),
    authenticationTimeout: millis(1).default(10_000),
    requestTimeout: millis(1).default(30_000),
    sessionTimeout: millis(1).default(30_000),
    heartbeatInterval: millis(1).default(3000),
    // Kafka's own consumer defaults to 1 MiB per partition. Up to two Fetch responses per broker are held at once
    // (one being buffered while the next arrives), outside maxBufferedBytes: keep maxBytes well below it.
    maxBytesPerPartition: bytes(1).default(1 * MiB),
    maxBytes: bytes(1).default(8 * MiB),
    maxWaitTimeInMs: millis(1).default(500),
  })
  .strict()
  .prefault({})

export const configSchema = z
  .object({
    brokers: brokersSchema,
    topics: topicsSchema,
    store: z
      .string()
      .regex(/^(file|s3|memory):/i, 'must be a store URL: file:///abs/path, s3://bucket/prefix or memory://name'),
    group: z.string().min(1).default('everlog-archiver'),
    once: bool.default(false),
    /** Where a partition with no HEAD starts. */
    startFrom: z.enum(['earliest', 'latest']).default('earliest'),
    /** What a retention overrun does after its gap is logged and counted. */
    onDataLoss: z.enum(['continue', 'fail']).default('continue'),
    /**
     * 'required': before its first write the archiver proves the store refuses a second create-if-absent and a stale
     * replace-if-match, and refuses to start otherwise. 'unsafe-single-writer': start anyway; HEAD is then not fenced
     * on a store that fails the probe, which is only correct while exactly one archiver writes the archive.
     */
    conditionalWrites: z.enum(CONDITIONAL_WRITES_MODES).default('required'),
    /** Identity written into HEAD for operators. */
    writer: z.string().min(1).default(`archiver@${hostname()}:${process.pid}`),
    segment: z
      .object({
        maxBytes: bytes(1).default(32 * MiB),
        maxRecords: int(1).default(1_000_000),
        maxAgeMs: millis(1).default(5 * 60_000),
        compression: z.enum(['zstd', 'snappy', 'gzip', 'lz4', 'none']).default('zstd'),
        rowGroupBytes: bytes(1).default(4 * MiB),
      })
      .strict()
      .prefault({}),
    /**
     * All records buffered or uploading across partitions stay under this (one fetch may overshoot it). 64 MiB with
     * the fetch sizes below keeps a 100-partition archiver near 500 MiB resident; 128 MiB bought no throughput.
     */
    maxBufferedBytes: bytes(1).default(64 * MiB),
    /** Segments uploaded at once across partitions. */
    uploadConcurrency: int(1, 64).default(4),
    /**
     * Worker threads encoding row groups (Parquet pages + compression) beside the fetching thread; 0 encodes inline.
     * Default 1 with more than 2 CPUs. With 2 or fewer, 0: kafkajs' decoding, V8's GC threads and a worker then
     * share too few cores, and measured on 2 cores the worker bought no throughput for ~20% more CPU and ~100 MiB.
     */
    encodeWorkers: int(0, 16).default(() => (availableParallelism() > 2 ? 1 : 0)),
    retry: z
      .object({
        initialMs: millis(1).default(200),
        maxMs: millis(1).default(30_000),
        /** Attempts per operation before the daemon gives up (0 = never). */
        maxAttempts: int(0).default(10),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        port: int(0, 65535).default(9464),
        host: z.string().min(1).default('0.0.0.0'),
      })
      .strict()
      .prefault({}),
    /** Consumer groups whose committed offsets are archived periodically, for `everlog restore-groups`. */
    groupOffsets: z
      .object({
        groups: list(z.string().min(1)).default([]),
        intervalMs: millis(1000).default(60_000),
      })
      .strict()
      .prefault({}),
    /**
     * Publishing each archived topic's Iceberg table from the HEADs (docs/iceberg.md), beside archiving and never
     * in its commit path: every intervalMs, and also after everySegments new segments of a topic (0 = by time only).
     */
    iceberg: z
      .object({
        publish: bool.default(false),
        intervalMs: millis(1000).default(60_000),
        everySegments: int(0).default(0),
        /** Snapshots older than this expire from the metadata (segments are never deleted); 0 keeps them all. */
        expireAfterMs: millis(0).default(7 * 24 * 3_600_000),
        /** The newest snapshots kept whatever their age. */
        retainSnapshots: int(1).default(10),
      })
      .strict()
      .prefault({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    progressIntervalMs: millis(0).default(60_000),
    /** How often the topic list is re-read so new topics matching the selector are picked up. */
    topicRefreshMs: millis(100).default(30_000),
    kafka: kafkaSchema,
    s3: z
      .object({
        endpoint: z.url().optional(),
        region: z.string().min(1).optional(),
        forcePathStyle: bool.optional(),
        /** Sent with every PUT: SSE-S3 (AES256) or SSE-KMS (aws:kms, optionally with sseKmsKeyId). */
        serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
        sseKmsKeyId: z.string().min(1).optional(),
        storageClass: z
          .enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'REDUCED_REDUNDANCY'])
          .optional(),
      })
      .strict()
      .refine((s) => s.sseKmsKeyId === undefined || s.serverSideEncryption === 'aws:kms', {
        message: 'sseKmsKeyId needs serverSideEncryption: aws:kms',
        path: ['sseKmsKeyId'],
      })
      .optional(),
  })
  .strict()

export type ArchiverConfigInput = z.input<typeof configSchema>
export type ArchiverConfig = z.output<typeof configSchema>

/**
 * The Kafka connection alone (`brokers` and `kafka`), for the commands that talk to Kafka without archiving. Other
 * top-level settings are ignored, so the archiver's own config file serves them too.
 */
export const kafkaSettingsSchema = z.object({ brokers: brokersSchema, kafka: kafkaSchema })
export type KafkaSettings = z.output<typeof kafkaSettingsSchema>

/** The topic selector in usable form. */
export type TopicSelector = { kind: 'list'; topics: string[] } | { kind: 'pattern'; pattern: RegExp }

export function topicSelector(topics: ArchiverConfig['topics']): TopicSelector {
  return typeof topics === 'string'
    ? { kind: 'pattern', pattern: new RegExp(topics.slice(1, -1)) }
    : { kind: 'list', topics: [...new Set(topics)] }
}

/** Topics of the cluster the selector picks; a pattern never matches Kafka's internal topics. */
export function selectTopics(selector: TopicSelector, clusterTopics: readonly string[]): string[] {
  if (selector.kind === 'list') return selector.topics.filter((t) => clusterTopics.includes(t))
  return clusterTopics.filter((t) => !t.startsWith('__') && selector.pattern.test(t)).sort()
}

// Fields whose values never appear in error messages or logs.
const SECRET_PATHS = ['kafka.sasl.password']

function describeIssue(issue: z.core.$ZodIssue, input: unknown, where: Map<string, string>): string {
  const path = issue.path.map(String).join('.')
  let message = issue.message
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys
    const prefix = path === '' ? '' : `${path}.`
    return keys.map((k) => `${prefix}${k}: unknown setting${sourceOf(`${prefix}${k}`, where)}`).join('\n')
  }
  if (issue.code === 'invalid_union' && path === 'topics') {
    message = 'expected a list of topic names or one /regular expression/'
  }
  let shown = ''
  if (!SECRET_PATHS.includes(path)) {
    const received = valueAt(input, issue.path)
    if (received !== undefined && (typeof received !== 'object' || received === null)) {
      shown = ` (got ${JSON.stringify(received)})`
    }
  }
  return `${path === '' ? '(root)' : path}: ${message}${shown}${sourceOf(path, where)}`
}

function sourceOf(path: string, where: Map<string, string>): string {
  // A list item (topics.1) was set as a whole (topics): the nearest set ancestor names the source.
  for (let p = path; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const s = where.get(p)
    if (s !== undefined) return ` [from ${s}]`
  }
  return ''
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<PropertyKey, unknown>)[p]
  }
  return v
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue
    // A switch turned on (`--ssl`, ssl: true) over settings of the same thing (ssl.caFile) keeps the settings.
    if ((v === true || v === 'true') && isPlainObject(out[k])) continue
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v
  }
  return out
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let o = target
  for (const p of path.slice(0, -1)) {
    if (!isPlainObject(o[p])) o[p] = {}
    o = o[p] as Record<string, unknown>
  }
  o[path[path.length - 1]!] = value
}

const camel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/**
 * EVERLOG_<PATH>: nesting by double underscore, words by single underscore, e.g. EVERLOG_BROKERS,
 * EVERLOG_SEGMENT__MAX_BYTES=64MiB, EVERLOG_KAFKA__SASL__PASSWORD.
 */
export function configFromEnv(
  env: NodeJS.ProcessEnv,
  where?: Map<string, string>,
  schema: z.ZodType = configSchema,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('EVERLOG_') || value === undefined) continue
    // The CLI's own switches (store of other commands, tests) share the prefix: only schema fields are taken.
    const path = name.slice('EVERLOG_'.length).split('__').map(camel)
    if (!knownPath(schema, path)) continue
    setPath(out, path, value)
    where?.set(path.join('.'), `env ${name}`)
  }
  return out
}

function knownPath(schema: z.ZodType, path: string[]): boolean {
  let shapes: z.ZodType[] = [schema]
  for (const p of path) {
    shapes = shapes.flatMap(objectsIn).flatMap((o) => (o.shape[p] ? [o.shape[p] as z.ZodType] : []))
    if (shapes.length === 0) return false
  }
  return true
}

/** The object schemas a field may hold, through defaults, optionals, pipes and unions (ssl: true | {caFile}). */
function objectsIn(t: z.ZodType): z.ZodObject[] {
  let cur: unknown = t
  for (let i = 0; i < 6 && cur; i++) {
    if (cur instanceof z.ZodObject) return [cur]
    if (cur instanceof z.ZodUnion) return (cur.options as z.ZodType[]).flatMap(objectsIn)
    const def = (cur as { def?: { innerType?: unknown; in?: unknown } }).def
    cur = def?.innerType ?? def?.in
  }
  return []
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { cause: err })
  }
  let parsed: unknown
  try {
    parsed = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new ConfigError(
      `config file ${file} is not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  if (parsed === null || parsed === undefined) return {}
  if (!isPlainObject(parsed)) throw new ConfigError(`config file ${file} must hold an object of settings`)
  return parsed
}

export interface LoadConfigOptions {
  /** A YAML (.yaml/.yml) or JSON (.json) file. */
  file?: string
  /** Defaults to process.env; pass {} to ignore the environment. */
  env?: NodeJS.ProcessEnv
  /** Flags or programmatic settings; win over env and file. */
  overrides?: Record<string, unknown>
  /** Below the file: a caller's own defaults (a command's client id). */
  defaults?: Record<string, unknown>
}

/** Merges file < env < overrides and validates; @throws ConfigError listing every bad field by path. */
export function loadConfig(options: LoadConfigOptions = {}): ArchiverConfig {
  const where = new Map<string, string>()
  return parseConfig(mergeSources(options, configSchema, where), where)
}

/**
 * The Kafka connection (brokers, TLS, SASL, timeouts) from the same file, EVERLOG_BROKERS / EVERLOG_KAFKA__* and
 * flags as the archiver's, for every other command that talks to Kafka. @throws ConfigError naming each bad field.
 */
export function loadKafkaSettings(options: LoadConfigOptions = {}): KafkaSettings {
  const where = new Map<string, string>()
  const input = mergeSources(options, kafkaSettingsSchema, where)
  return validate(kafkaSettingsSchema, input, where, 'invalid Kafka settings')
}

function mergeSources(options: LoadConfigOptions, schema: z.ZodType, where: Map<string, string>) {
  let merged: Record<string, unknown> = { ...options.defaults }
  if (options.file !== undefined) {
    const fromFile = readConfigFile(options.file)
    merged = deepMerge(merged, fromFile)
    for (const p of leafPaths(fromFile)) where.set(p, `file ${options.file}`)
  }
  merged = deepMerge(merged, configFromEnv(options.env ?? process.env, where, schema))
  if (options.overrides) {
    merged = deepMerge(merged, options.overrides)
    for (const p of leafPaths(options.overrides)) where.set(p, 'flags')
  }
  return merged
}

function leafPaths(o: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    isPlainObject(v) ? leafPaths(v, `${prefix}${k}.`) : v === undefined ? [] : [`${prefix}${k}`],
  )
}

/** Validates an already merged settings object (library use: `new Archiver(config)`). */
export function parseConfig(input: unknown, where = new Map<string, string>()): ArchiverConfig {
  return validate(configSchema, input, where, 'invalid archiver configuration')
}

function validate<S extends z.ZodType>(schema: S, input: unknown, where: Map<string, string>, what: string) {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const lines = result.error.issues
    .map((i) => describeIssue(i, input, where))
    .join('\n')
    .split('\n')
  // One bad field is one line; more are listed one per line.
  throw new ConfigError(lines.length === 1 ? `${what}: ${lines[0]}` : `${what}:\n  ${lines.join('\n  ')}`)
}

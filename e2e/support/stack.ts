// The whole system for a story: an S3 endpoint over HTTP, the test broker over TCP (the dev broker, or Apache Kafka
// with EVERLOG_TEST_KAFKA=kafka), and `everlog` commands as child processes (from the repo root, through tsx) that
// reach S3 only through the AWS SDK's usual environment.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ArchiveReader, openStore, registerKafkaCodecs } from '@everlog/core'
import type { ArchiveRecord, ObjectStore } from '@everlog/core'
import { startS3Server } from '@everlog/core/testing'
import type { S3TestServer } from '@everlog/core/testing'
import { startTestBroker } from '@everlog/testkit'
import type { TestBroker } from '@everlog/testkit'
import kafkajs from 'kafkajs'
import type { Kafka } from 'kafkajs'

const { Kafka: KafkaClient, logLevel, CompressionCodecs } = kafkajs
registerKafkaCodecs(CompressionCodecs)

export const root = fileURLToPath(new URL('../..', import.meta.url))

/** What a story needs of an S3 server: ours (S3TestServer, which also records requests) or a third-party one. */
export type S3Endpoint = Pick<
  S3TestServer,
  'endpoint' | 'region' | 'bucket' | 'accessKeyId' | 'secretAccessKey' | 'clientConfig'
>

export interface Stack<S extends S3Endpoint = S3TestServer> {
  s3: S
  broker: TestBroker
  kafka: Kafka
  /** s3://bucket/prefix/ of the archive. */
  storeUrl: string
  /** The same archive opened in this process, through the AWS SDK against the same endpoint. */
  store: ObjectStore
  /** Environment of every child: AWS endpoint, region and credentials, nothing from this machine's profile. */
  env: Record<string, string>
  /** A scratch directory removed after the test. */
  dir: string
}

/** Starts S3 and the broker; everything is closed and removed when the test ends. */
export async function startStack(t: TestContext, prefix: string): Promise<Stack> {
  const s3 = await startS3Server()
  t.after(() => s3.close())
  return startStackOn(t, prefix, s3)
}

/** The broker beside an S3 server the caller started (and closes), e.g. a third-party one. */
export async function startStackOn<S extends S3Endpoint>(t: TestContext, prefix: string, s3: S): Promise<Stack<S>> {
  const dir = await mkdtemp(join(tmpdir(), 'everlog-story-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const broker = await startTestBroker()
  t.after(() => broker.close())
  const storeUrl = `s3://${s3.bucket}/${prefix}/`
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    EVERLOG_HTTP__HOST: '127.0.0.1',
  }
  const kafka = new KafkaClient({ clientId: 'everlog-story', brokers: broker.brokers, logLevel: logLevel.NOTHING })
  const store = openStore(storeUrl, { s3: s3.clientConfig() })
  return { s3, broker, kafka, storeUrl, store, env, dir }
}

export interface LogEntry {
  msg?: string
  [field: string]: unknown
}

export interface CliProcess {
  readonly pid: number
  readonly stdout: string
  readonly stderr: string
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  kill(signal: NodeJS.Signals): void
  /** JSON log lines (pino) printed so far. */
  logs(): LogEntry[]
  /** The first log line with this msg that passes `where`; fails with the output if none comes in time. */
  waitForLog(msg: string, where?: (e: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>
}

/** Runs `everlog <args>` as a child process from the repo root; killed with SIGKILL if still alive after the test. */
export function spawnCli(t: TestContext, args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=everlog-source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  )
  let exited = false
  void exit.then(() => (exited = true))
  t.after(async () => {
    if (!exited) {
      child.kill('SIGKILL')
      await exit
    }
  })
  const proc: CliProcess = {
    pid: child.pid!,
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
    exit,
    kill: (signal) => child.kill(signal),
    logs() {
      const out: LogEntry[] = []
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{')) continue
        try {
          out.push(JSON.parse(line) as LogEntry)
        } catch {
          // a line still being written
        }
      }
      return out
    },
    async waitForLog(msg, where = () => true, timeoutMs = 30_000) {
      const found = await waitFor(
        () => proc.logs().find((e) => e.msg === msg && where(e)),
        timeoutMs,
        () => `everlog ${args[0]} (pid ${proc.pid}) never logged "${msg}"; stdout:\n${stdout}\nstderr:\n${stderr}`,
        () => exited,
      )
      return found
    },
  }
  return proc
}

/** Runs `everlog <args>` to its end. */
export async function runCli(
  t: TestContext,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnCli(t, args, env)
  const { code } = await proc.exit
  return { code, stdout: proc.stdout, stderr: proc.stderr }
}

/**
 * Polls until `probe` returns something other than undefined/false. `dead` ends the wait early (a child that
 * exited will never log what we wait for).
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  describe: () => string,
  dead: () => boolean = () => false,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (dead()) {
      // One last look: the line may have arrived with the exit.
      const last = await probe()
      if (last !== undefined && last !== false) return last
      throw new Error(`exited: ${describe()}`)
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The archive's next offset per partition (0 where nothing is archived), straight from the HEADs in S3. */
export async function archivedUpTo(store: ObjectStore, topic: string, partitions: number): Promise<bigint[]> {
  const reader = new ArchiveReader(store)
  return Promise.all(
    Array.from({ length: partitions }, async (_, p) => (await reader.head(topic, p))?.nextOffset ?? 0n),
  )
}

/** Every archived record of every partition, read back with ArchiveReader (no Kafka). */
export async function readArchive(
  store: ObjectStore,
  topic: string,
  partitions: number,
): Promise<Map<number, ArchiveRecord[]>> {
  const reader = new ArchiveReader(store)
  const out = new Map<number, ArchiveRecord[]>()
  for (let p = 0; p < partitions; p++) {
    const records: ArchiveRecord[] = []
    if (await reader.head(topic, p)) for await (const r of reader.read({ topic, partition: p })) records.push(r)
    out.set(p, records)
  }
  return out
}

/** Archiver flags for a story: small segments rolled after a second, so a few thousand records make many. */
export function archiveArgs(
  stack: Stack<S3Endpoint>,
  topic: string,
  group: string,
  extra: { maxRecords?: number; maxAge?: string } = {},
): string[] {
  return [
    'archive',
    '--brokers',
    stack.broker.brokers.join(','),
    '--topics',
    topic,
    '--store',
    stack.storeUrl,
    '--group',
    group,
    '--http-port',
    '0',
    '--segment-max-records',
    String(extra.maxRecords ?? 200),
    '--segment-max-age',
    extra.maxAge ?? '1s',
  ]
}

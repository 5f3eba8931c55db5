// Apache Kafka's Java producer and consumer (kafka-clients, from the same cached jars as the broker), for tests that
// need a client nobody here wrote: transactions, every codec, what a read_committed consumer sees.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { KAFKA_VERSION, javaCommand, kafkaClasspath } from './kafka.js'

const source = fileURLToPath(new URL('../java/KafkaClients.java', import.meta.url))

/** One record as the Java clients see it; bytes in base64, null stays null. */
export interface JavaRecord {
  partition: number
  offset: number
  timestamp: number
  key: string | null
  value: string | null
  headers: [string, string | null][]
}

export type JavaProducerOp =
  | { op: 'begin' | 'commit' | 'abort' | 'flush' }
  | {
      op: 'send'
      topic: string
      partition: number
      key: Buffer | null
      value: Buffer | null
      headers?: [string, Buffer | null][]
      timestamp?: number
    }

export type JavaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'

const b64 = (b: Buffer | null): string | null => (b === null ? null : b.toString('base64'))

/** Quick-starting JVM settings for the tests' short-lived clients. */
const TEST_JVM = ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1']

function runJava(args: string[], stdin: string, version: string, jvm: string[] = TEST_JVM): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      javaCommand(),
      [...jvm, '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', kafkaClasspath(version), source, ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`java KafkaClients ${args[0]} exited ${code}:\n${err.trim()}`)),
    )
    child.stdin.end(stdin)
  })
}

/** Runs the Java producer over `ops` (transactional when `transactionalId` is given); resolves once all are acked. */
export async function javaProduce(
  bootstrap: string,
  ops: JavaProducerOp[],
  options: { compression?: JavaCompression; transactionalId?: string; version?: string } = {},
): Promise<void> {
  const lines = ops.map((o) =>
    JSON.stringify(
      o.op === 'send'
        ? { ...o, key: b64(o.key), value: b64(o.value), headers: (o.headers ?? []).map(([k, v]) => [k, b64(v)]) }
        : o,
    ),
  )
  const args = ['produce', bootstrap, options.compression ?? 'none']
  if (options.transactionalId !== undefined) args.push(options.transactionalId)
  await runJava(args, lines.join('\n') + '\n', options.version ?? KAFKA_VERSION)
}

/** Every record of `topic` up to the end offsets (the last stable offsets under read_committed) at the start. */
export async function javaConsume(
  bootstrap: string,
  topic: string,
  isolation: 'read_committed' | 'read_uncommitted' = 'read_committed',
  version: string = KAFKA_VERSION,
): Promise<JavaRecord[]> {
  const out = await runJava(['consume', bootstrap, topic, isolation], '', version)
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as JavaRecord)
}

/** What `javaConsumeThroughput` measured: the measured pass only (the warm-up pass excluded). */
export interface JavaThroughput {
  seconds: number
  /** CPU seconds of the whole JVM (every thread) during the measured pass. */
  cpuSeconds: number
  records: number
  /** Key, value and header value bytes touched. */
  bytes: number
  /** Peak resident set of the JVM over its life (VmHWM), bytes; 0 where unknown. */
  maxRssBytes: number
}

/**
 * Kafka's own Java consumer as a throughput ceiling (benchmarks): reads `warm` then `main` from the beginning
 * (read_committed, partitions assigned, no group), touching key, value and headers of every record, with the given
 * fetch settings, in a JVM with the default JIT (not the tests' quick-start settings).
 */
export async function javaConsumeThroughput(
  bootstrap: string,
  warm: { topic: string; records: number },
  main: { topic: string; records: number },
  fetch: { maxBytes: number; maxBytesPerPartition: number; maxWaitTimeInMs: number },
  version: string = KAFKA_VERSION,
): Promise<JavaThroughput> {
  const out = await runJava(
    [
      'throughput',
      bootstrap,
      warm.topic,
      String(warm.records),
      main.topic,
      String(main.records),
      String(fetch.maxBytes),
      String(fetch.maxBytesPerPartition),
      String(fetch.maxWaitTimeInMs),
    ],
    '',
    version,
    ['-Xmx512m'],
  )
  const line = out.split('\n').find((l) => l.startsWith('{'))
  if (!line) throw new Error(`java KafkaClients throughput printed no result:\n${out.trim()}`)
  return JSON.parse(line) as JavaThroughput
}

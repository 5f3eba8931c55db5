// Apache Kafka itself, from Maven Central's jars (scripts/test-deps.sh caches them): a combined broker+controller
// in KRaft mode, or a quorum of three, each a `java` process on free loopback ports with its data and log in a
// temporary folder, stopped by PID. Nothing here depends on node:test, so bench/ and `npm run kafka` use it too.
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import kafkajs from 'kafkajs'
import { missingTool, toolCacheDir } from './tools.js'

const { Kafka, logLevel } = kafkajs

/** The Kafka the tests run by default: the newest 4.x that Maven Central serves. */
export const KAFKA_VERSION = '4.4.0'
/** The newest 3.x line (the one docker-compose.yml runs), for tests that check both. */
export const KAFKA_3_VERSION = '3.9.2'
/** Every version scripts/test-deps.sh caches. */
export const KAFKA_VERSIONS = [KAFKA_VERSION, KAFKA_3_VERSION] as const

/** JVM flags for a test broker: small heap, quick start. Callers' `jvmArgs` come after these, so they win. */
export const KAFKA_TEST_JVM_ARGS = [
  '-Xms128m',
  '-Xmx512m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Djava.awt.headless=true',
]

const pom = fileURLToPath(new URL('../kafka/pom.xml', import.meta.url))

/** The folder of one version's jars (Kafka, its runtime dependencies, the Java clients, an slf4j binding). */
export function kafkaLibDir(version: string = KAFKA_VERSION): string {
  return join(toolCacheDir(), 'kafka', version, 'libs')
}

/** A `java -cp` class path holding Kafka's broker, tools and clients of `version`. */
export function kafkaClasspath(version: string = KAFKA_VERSION): string {
  return join(kafkaLibDir(version), '*')
}

function completeMarker(version: string): string {
  return join(toolCacheDir(), 'kafka', version, '.complete')
}

/** Why Kafka `version` cannot run here (its jars are not cached), or undefined; see missingTool. */
export function kafkaMissing(version: string = KAFKA_VERSION): string | undefined {
  return missingTool(completeMarker(version), `Apache Kafka ${version} (jars from Maven Central)`)
}

/** The `java` that runs Kafka: JAVA_HOME's when set. */
export function javaCommand(tool: 'java' | 'javac' = 'java'): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', tool) : tool
}

/**
 * Copies Kafka `version`'s jars from Maven Central into the tool cache unless they are there already (the same step
 * scripts/test-deps.sh runs). Needs `mvn`. Returns the lib folder.
 */
export function fetchKafka(version: string = KAFKA_VERSION, log: (line: string) => void = () => {}): string {
  const libs = kafkaLibDir(version)
  if (existsSync(completeMarker(version))) return libs
  log(`fetching Apache Kafka ${version} from Maven Central (mvn)...`)
  const base = join(toolCacheDir(), 'kafka', version)
  mkdirSync(base, { recursive: true })
  const staging = mkdtempSync(join(base, 'libs.tmp-'))
  const res = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-Dstyle.color=never',
      '-f',
      pom,
      `-Dkafka.version=${version}`,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${staging}`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  )
  if (res.error || res.status !== 0) {
    rmSync(staging, { recursive: true, force: true })
    const why = res.error ? res.error.message : `${res.stdout}${res.stderr}`.trim().split('\n').slice(-20).join('\n')
    throw new Error(`could not fetch Apache Kafka ${version} with mvn: ${why}`)
  }
  // Another fetch may have finished first; either copy is whole.
  if (!existsSync(completeMarker(version))) {
    rmSync(libs, { recursive: true, force: true })
    renameSync(staging, libs)
    writeFileSync(completeMarker(version), `${version}\n`)
  } else {
    rmSync(staging, { recursive: true, force: true })
  }
  return libs
}

export type KafkaSecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL'

/** A listener beside the PLAINTEXT one clients and brokers use; its port is picked free. */
export interface KafkaListenerSpec {
  /** Listener name, e.g. SASL_SSL or SECURE; per-listener settings go in serverProperties as `listener.name.<name lowercased>.…`. */
  name: string
  protocol: KafkaSecurityProtocol
}

export interface StartKafkaOptions {
  /** Which cached Kafka to run (default KAFKA_VERSION). */
  version?: string
  /** The PLAINTEXT client port; 0 (default) picks a free one. Only for a single node. */
  port?: number
  /** Extra server properties, applied after the test defaults (so they override them). */
  serverProperties?: Record<string, string | number | boolean>
  /** Extra listeners (SSL, SASL_...), advertised on loopback on free ports. */
  listeners?: KafkaListenerSpec[]
  /** SCRAM credentials written into the metadata at format time (`kafka-storage format --add-scram`). */
  scramUsers?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; name: string; password: string }[]
  /** Extra JVM flags (e.g. -Djava.security.auth.login.config=...), after KAFKA_TEST_JVM_ARGS. */
  jvmArgs?: string[]
  /** Extra environment of the java process. */
  env?: Record<string, string>
  /** Fetch the jars with mvn if they are not cached (default false: fail with what to run). */
  fetch?: boolean
  /** How long to wait for ApiVersions and Metadata to answer (default 120 s: a few seconds on an idle machine, far more on a busy one). */
  readyTimeoutMs?: number
  /** Keep the data folder and log after stop (default: only when EVERLOG_KEEP_KAFKA=1). */
  keep?: boolean
}

/** One running Kafka process (a combined broker and controller). */
export interface KafkaNode {
  readonly nodeId: number
  readonly version: string
  /** host:port of this node's PLAINTEXT listener. */
  readonly bootstrap: string
  /** host:port of every listener, by name (PLAINTEXT, CONTROLLER and the extra ones). */
  readonly listeners: Record<string, string>
  /** The java process's PID (changes on restart). */
  readonly pid: number
  readonly logFile: string
  /** This node's folder: server.properties, data, log. */
  readonly dir: string
  readonly running: boolean
  /** SIGTERM by PID (a controlled shutdown), SIGKILL if it has not exited in 30 s. */
  stop(): Promise<void>
  /** SIGKILL by PID: the process dies with no shutdown at all (kill -9). */
  kill(): Promise<void>
  /** Starts the stopped node again on the same ports and data; resolves when it answers. */
  restart(): Promise<void>
  /** The last lines of the log. */
  logTail(lines?: number): string
}

/** A single-node Kafka: the node, plus the client-facing view of a cluster of one. */
export interface KafkaBroker extends KafkaNode {
  /** Bootstrap addresses for clients (one). */
  readonly brokers: string[]
  /** Stops the node and removes its folder (unless kept). */
  stop(): Promise<void>
}

export interface KafkaCluster {
  readonly version: string
  /** host:port of the first node's PLAINTEXT listener. */
  readonly bootstrap: string
  /** Every node's PLAINTEXT host:port, for kafkajs' `brokers`. */
  readonly brokers: string[]
  readonly nodes: KafkaNode[]
  /** The cluster's folder (one sub-folder per node). */
  readonly dir: string
  /** Stops every node still running and removes the folder (unless kept). */
  stop(): Promise<void>
}

const HOST = '127.0.0.1'
const live = new Set<ChildProcess>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // A test process that exits without stopping its brokers must not leave java processes behind.
  process.on('exit', () => {
    for (const child of live) if (child.pid !== undefined) killQuietly(child.pid, 'SIGKILL')
  })
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

/** Free loopback ports, all held open together so none is handed out twice. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer()
          s.once('error', reject)
          s.listen(0, HOST, () => resolve(s))
        }),
    ),
  )
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

/** Kafka's cluster id: a random UUID in URL-safe base64 without padding, never starting with '-' (read as a flag). */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

function tail(file: string, lines = 60): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

interface NodePlan {
  nodeId: number
  dir: string
  ports: Record<string, number>
}

function serverProperties(
  plan: NodePlan,
  all: NodePlan[],
  options: StartKafkaOptions,
  listeners: KafkaListenerSpec[],
): string {
  const n = all.length
  const names = ['PLAINTEXT', 'CONTROLLER', ...listeners.map((l) => l.name)]
  const protocols: Record<string, string> = { PLAINTEXT: 'PLAINTEXT', CONTROLLER: 'PLAINTEXT' }
  for (const l of listeners) protocols[l.name] = l.protocol
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': plan.nodeId,
    // A static quorum: every version from 3.9 on formats and starts it the same way.
    'controller.quorum.voters': all.map((p) => `${p.nodeId}@${HOST}:${p.ports.CONTROLLER}`).join(','),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    listeners: names.map((name) => `${name}://${HOST}:${plan.ports[name]}`).join(','),
    'advertised.listeners': names
      .filter((name) => name !== 'CONTROLLER')
      .map((name) => `${name}://${HOST}:${plan.ports[name]}`)
      .join(','),
    'listener.security.protocol.map': names.map((name) => `${name}:${protocols[name]}`).join(','),
    'log.dirs': join(plan.dir, 'data'),
    'num.partitions': 1,
    'default.replication.factor': n,
    'min.insync.replicas': n > 1 ? 2 : 1,
    'offsets.topic.replication.factor': n,
    'offsets.topic.num.partitions': 5,
    'transaction.state.log.replication.factor': n,
    'transaction.state.log.min.isr': n > 1 ? 2 : 1,
    'transaction.state.log.num.partitions': 5,
    'share.coordinator.state.topic.replication.factor': n,
    'share.coordinator.state.topic.min.isr': n > 1 ? 2 : 1,
    'group.initial.rebalance.delay.ms': 0,
    // Tests shorten session timeouts to see a dead member leave quickly.
    'group.min.session.timeout.ms': 1000,
    'auto.create.topics.enable': true,
    'delete.topic.enable': true,
    // Nothing expires unless a topic asks (retention.ms on the topic): tests produce records stamped years ago,
    // which Kafka's default 7 days would delete at the next check. Retention and the log cleaner then act within
    // seconds, for the tests that wait for them.
    'log.retention.ms': -1,
    'log.retention.check.interval.ms': 1000,
    'log.cleaner.backoff.ms': 1000,
    'log.initial.task.delay.ms': 1000,
    ...options.serverProperties,
  }
  return (
    Object.entries(props)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('\n') + '\n'
  )
}

function java(args: string[], options: StartKafkaOptions, stdio: number | 'pipe'): ChildProcess {
  return spawn(javaCommand(), args, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', stdio, stdio],
  })
}

function commonJvmArgs(version: string, options: StartKafkaOptions): string[] {
  return [
    ...KAFKA_TEST_JVM_ARGS,
    '-Dorg.slf4j.simpleLogger.logFile=System.out',
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
    ...(options.jvmArgs ?? []),
    '-cp',
    kafkaClasspath(version),
  ]
}

async function format(version: string, propsFile: string, cluster: string, options: StartKafkaOptions): Promise<void> {
  const child = java(
    [
      ...commonJvmArgs(version, options),
      'kafka.tools.StorageTool',
      'format',
      '-t',
      cluster,
      '-c',
      propsFile,
      ...(options.scramUsers ?? []).flatMap((u) => [
        '--add-scram',
        `${u.mechanism}=[name=${u.name},password=${u.password}]`,
      ]),
    ],
    options,
    'pipe',
  )
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  if (code !== 0) throw new Error(`kafka-storage format failed (exit ${code}):\n${out.trim()}`)
}

/** Polls ApiVersions and Metadata on `bootstrap` until every node id of `expect` is listed, or the deadline passes. */
async function waitReady(bootstrap: string, expect: number[], deadline: number, alive: () => boolean): Promise<void> {
  let last: unknown
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the java process exited')
    const kafka = new Kafka({
      clientId: 'everlog-testkit-ready',
      brokers: [bootstrap],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retry: { retries: 0 },
    })
    const admin = kafka.admin()
    try {
      await admin.connect()
      const cluster = await admin.describeCluster()
      const listed = new Set(cluster.brokers.map((b) => b.nodeId))
      if (expect.every((id) => listed.has(id)) && cluster.controller !== null) return
      last = new Error(`metadata lists brokers [${[...listed].join(', ')}], waiting for [${expect.join(', ')}]`)
    } catch (e) {
      last = e
    } finally {
      await admin.disconnect().catch(() => {})
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`not ready in time (${last instanceof Error ? last.message : String(last)})`)
}

class Node implements KafkaNode {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private watchdog: ChildProcess | undefined
  readonly logFile: string
  readonly bootstrap: string
  readonly listeners: Record<string, string>

  constructor(
    readonly nodeId: number,
    readonly version: string,
    readonly dir: string,
    ports: Record<string, number>,
    private readonly propsFile: string,
    private readonly options: StartKafkaOptions,
    /** The node ids whose brokers must be listed before the first start counts as ready. */
    private readonly quorum: number[],
  ) {
    this.logFile = join(dir, 'server.log')
    this.listeners = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, `${HOST}:${port}`]))
    this.bootstrap = this.listeners.PLAINTEXT!
  }

  get pid(): number {
    return this.child?.pid ?? -1
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  logTail(lines = 60): string {
    return tail(this.logFile, lines)
  }

  /** Launches the process; `ready` waits for it. */
  launch(): void {
    if (this.running) throw new Error(`kafka node ${this.nodeId} is already running (pid ${this.pid})`)
    const fd = openSync(this.logFile, 'a')
    let child: ChildProcess
    try {
      child = java([...commonJvmArgs(this.version, this.options), 'kafka.Kafka', this.propsFile], this.options, fd)
    } finally {
      closeSync(fd)
    }
    this.child = child
    live.add(child)
    installExitHook()
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        live.delete(child)
        this.stopWatchdog()
        resolve()
      })
      child.once('error', () => {
        live.delete(child)
        resolve()
      })
    })
    // If this Node.js process dies without stopping the broker (SIGKILL, a crashed runner), a tiny shell kills the
    // java process by its PID once our PID is gone, so no broker outlives its test on a shared machine.
    if (child.pid !== undefined) {
      const w = spawn(
        'sh',
        ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; kill -9 ${child.pid} 2>/dev/null`],
        { detached: true, stdio: 'ignore' },
      )
      w.unref()
      this.watchdog = w
    }
  }

  private stopWatchdog(): void {
    if (this.watchdog?.pid !== undefined) killQuietly(this.watchdog.pid, 'SIGKILL')
    this.watchdog = undefined
  }

  async ready(timeoutMs: number, expect: number[] = this.quorum): Promise<void> {
    try {
      await waitReady(this.bootstrap, expect, Date.now() + timeoutMs, () => this.running)
    } catch (e) {
      throw new Error(
        `Apache Kafka ${this.version} node ${this.nodeId} did not start: ${(e as Error).message}; ` +
          `log ${this.logFile} ends:\n${this.logTail()}`,
      )
    }
  }

  async stop(): Promise<void> {
    const child = this.child
    if (!child || !this.running || child.pid === undefined) return this.exited
    killQuietly(child.pid, 'SIGTERM')
    const timer = setTimeout(() => child.pid !== undefined && killQuietly(child.pid, 'SIGKILL'), 30_000)
    await this.exited
    clearTimeout(timer)
  }

  async kill(): Promise<void> {
    const child = this.child
    if (!child || !this.running || child.pid === undefined) return this.exited
    killQuietly(child.pid, 'SIGKILL')
    await this.exited
  }

  async restart(): Promise<void> {
    await this.stop()
    this.launch()
    // Ready once it serves Metadata listing itself (caught up and unfenced); its peers may be down on purpose.
    await this.ready(this.options.readyTimeoutMs ?? 120_000, [this.nodeId])
  }
}

async function startNodes(count: number, options: StartKafkaOptions): Promise<{ dir: string; nodes: Node[] }> {
  const version = options.version ?? KAFKA_VERSION
  if (options.fetch) fetchKafka(version)
  else if (!existsSync(completeMarker(version))) {
    throw new Error(
      `Apache Kafka ${version} is not installed (${kafkaLibDir(version)}); run: bash scripts/test-deps.sh`,
    )
  }
  const listeners = options.listeners ?? []
  for (const l of listeners) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(l.name) || l.name === 'PLAINTEXT' || l.name === 'CONTROLLER') {
      throw new Error(`listener name ${l.name}: use upper case letters, digits and _, not PLAINTEXT or CONTROLLER`)
    }
  }
  const names = ['PLAINTEXT', 'CONTROLLER', ...listeners.map((l) => l.name)]
  const ports = await freePorts(names.length * count)
  if (options.port !== undefined && options.port !== 0) {
    if (count !== 1) throw new Error('a fixed port is only for a single node')
    ports[0] = options.port
  }
  const dir = mkdtempSync(join(tmpdir(), `everlog-kafka-${version}-`))
  const plans: NodePlan[] = Array.from({ length: count }, (_, i) => ({
    nodeId: i + 1,
    dir: join(dir, `node-${i + 1}`),
    ports: Object.fromEntries(names.map((name, j) => [name, ports[i * names.length + j]!])),
  }))
  const cluster = clusterId()
  const nodes: Node[] = []
  try {
    for (const plan of plans) {
      mkdirSync(plan.dir, { recursive: true })
      const propsFile = join(plan.dir, 'server.properties')
      writeFileSync(propsFile, serverProperties(plan, plans, options, listeners))
      nodes.push(
        new Node(
          plan.nodeId,
          version,
          plan.dir,
          plan.ports,
          propsFile,
          options,
          plans.map((p) => p.nodeId),
        ),
      )
    }
    await Promise.all(nodes.map((node) => format(version, join(node.dir, 'server.properties'), cluster, options)))
    for (const node of nodes) node.launch()
    await Promise.all(nodes.map((node) => node.ready(options.readyTimeoutMs ?? 120_000)))
    return { dir, nodes }
  } catch (e) {
    await Promise.all(nodes.map((node) => node.kill()))
    if (!keep(options)) rmSync(dir, { recursive: true, force: true })
    throw e
  }
}

function keep(options: StartKafkaOptions): boolean {
  return options.keep ?? process.env.EVERLOG_KEEP_KAFKA === '1'
}

/** Starts a single-node Apache Kafka (combined broker and controller, KRaft) and resolves once it answers. */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const { dir, nodes } = await startNodes(1, options)
  const node = nodes[0]!
  return {
    nodeId: node.nodeId,
    version: node.version,
    bootstrap: node.bootstrap,
    brokers: [node.bootstrap],
    listeners: node.listeners,
    get pid() {
      return node.pid
    },
    logFile: node.logFile,
    dir,
    get running() {
      return node.running
    },
    async stop() {
      await node.stop()
      if (!keep(options)) rmSync(dir, { recursive: true, force: true })
    },
    kill: () => node.kill(),
    restart: () => node.restart(),
    logTail: (lines?: number) => node.logTail(lines),
  }
}

/**
 * Starts a Kafka cluster of `nodes` combined nodes (default 3) forming one KRaft quorum: replication factor = node
 * count, min.insync.replicas 2. Each node stops, is killed (SIGKILL) and restarts on its own.
 */
export async function startKafkaCluster(options: StartKafkaOptions & { nodes?: number } = {}): Promise<KafkaCluster> {
  const count = options.nodes ?? 3
  const { dir, nodes } = await startNodes(count, options)
  return {
    version: nodes[0]!.version,
    bootstrap: nodes[0]!.bootstrap,
    brokers: nodes.map((n) => n.bootstrap),
    nodes,
    dir,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
      if (!keep(options)) rmSync(dir, { recursive: true, force: true })
    },
  }
}

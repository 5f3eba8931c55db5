// Runs one side of a comparison in its own Node process (bench/worker.ts), so each side has its own heap, its own
// event loop and its own peak RSS. The worker answers with one JSON line on stdout prefixed by RESULT_PREFIX.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const RESULT_PREFIX = '@@bench-result '

const WORKER = fileURLToPath(new URL('../worker.ts', import.meta.url))

export interface ChildOptions {
  /** Write a V8 CPU profile of the child into this directory (node --cpu-prof). */
  profileDir?: string
  profileName?: string
  timeoutMs?: number
}

export interface ChildMeasure {
  /** Wall seconds of the measured part only (warm-up excluded). */
  seconds: number
  /** CPU seconds (user + system) of the child during the measured part. */
  cpuSeconds: number
  /** Peak resident set of the child process over its life, bytes (VmHWM, see peakRssBytes). */
  maxRssBytes: number
  records: number
  [extra: string]: unknown
}

export function runChild<T = ChildMeasure>(task: string, params: unknown, options: ChildOptions = {}): Promise<T> {
  const args = [...process.execArgv]
  if (options.profileDir) {
    // One directory per profiled side: Node writes one profile per thread (tsx's loader runs in a worker thread),
    // and a fixed --cpu-prof-name would let them overwrite each other. The main thread's file ends in `.0.*`.
    const dir = join(options.profileDir, options.profileName ?? task)
    mkdirSync(dir, { recursive: true })
    args.push('--cpu-prof', '--cpu-prof-dir', dir)
  }
  args.push(WORKER, task, JSON.stringify(params))
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30 * 60_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code === 0 && line) return resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as T)
      const tail = `${err}\n${out}`.trim().split('\n').slice(-15).join('\n')
      reject(new Error(`bench worker "${task}" failed (${signal ?? `exit ${code}`}):\n${tail}`))
    })
  })
}

/**
 * Peak resident set of this process, bytes. VmHWM from /proc, not getrusage's maxrss: Linux keeps ru_maxrss across
 * execve, so a worker would report the high-water mark of the parent it was forked from (which holds the broker's
 * whole log) instead of its own.
 */
export function peakRssBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) return Number(m[1]) * 1024
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024
}

// What the figures were measured on: CPUs, memory, load, Node and the versions of the packages compared.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { arch, availableParallelism, cpus, freemem, loadavg, totalmem, platform } from 'node:os'

const require = createRequire(import.meta.url)

function version(pkg: string): string {
  try {
    // package.json may be hidden by an exports map: read it from the resolved entry's folder instead.
    const entry = require.resolve(pkg)
    const root = entry.slice(0, entry.lastIndexOf(`/node_modules/${pkg}/`) + `/node_modules/${pkg}/`.length)
    return (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memoryBytes: number
  freeMemoryBytes: number
  loadAverage: number[]
  platform: string
  node: string
  packages: Record<string, string>
  /** The commit measured, and the packages/ files that differed from it (others' work in progress is measured too). */
  git: { commit: string; dirtyPackageFiles: string[] }
}

function gitState(): MachineInfo['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
    const status = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { encoding: 'utf8' })
    return {
      commit,
      dirtyPackageFiles: status
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => l.slice(3)),
    }
  } catch {
    return { commit: 'unknown', dirtyPackageFiles: [] }
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    platform: `${platform()} ${arch()}`,
    node: process.version,
    packages: Object.fromEntries(
      ['kafkajs', 'parquet-wasm', 'apache-arrow', '@duckdb/node-api', '@aws-sdk/client-s3', 'tsx'].map((p) => [
        p,
        version(p),
      ]),
    ),
    git: gitState(),
  }
}

// Runs the `everlog` command as a user would: a real process from the repository root, TypeScript via tsx.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

export interface EverlogRun {
  code: number | null
  stdout: string
  stderr: string
}

export function everlog(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<EverlogRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--conditions=everlog-source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
      { cwd: repoRoot, env: { ...process.env, EVERLOG_STORE: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d))
    p.stderr.on('data', (d: Buffer) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

// Starts a worker thread from a module next to the caller, built (.js) or from sources (.ts, under tsx).
import { Worker } from 'node:worker_threads'

/**
 * `moduleUrl` names the worker's .js module; when the caller runs from TypeScript sources (tsx: tests, dev), the
 * .ts file beside it is loaded instead. Node 20 does not apply the parent's --import loader to a worker's entry, so
 * a one-line bootstrap registers tsx first.
 */
export function startWorker(moduleUrl: URL, callerUrl: string): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(moduleUrl)
  const entry = moduleUrl.href.replace(/\.js$/, '.ts')
  const tsx = import.meta.resolve('tsx/esm/api')
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(boot, { eval: true })
}

// The operations endpoint: Prometheus /metrics, liveness /healthz and readiness /readyz.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

export interface HealthSource {
  /** The process works (a failed archiver is not healthy). */
  healthy(): { ok: boolean; detail: string }
  /** Joined the group and archiving. */
  ready(): { ok: boolean; detail: string }
}

export interface OpsServer {
  readonly port: number
  close(): Promise<void>
}

export async function startOpsServer(
  registry: Registry,
  health: HealthSource,
  port: number,
  host: string,
): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
        .catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`))
      return
    }
    if (path === '/healthz' || path === '/readyz') {
      const { ok, detail } = path === '/healthz' ? health.healthy() : health.ready()
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(`${detail}\n`)
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n')
  })
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

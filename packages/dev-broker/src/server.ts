// The TCP side: length-prefixed frames, request headers v1/v2, control hooks, and responses written strictly in
// request order per connection even when handlers (long-poll Fetch, JoinGroup) finish out of order.

import { createServer, type Server, type Socket } from 'node:net'
import { KafkaErrors } from './protocol/errors.js'
import { MalformedFrameError, Reader } from './protocol/reader.js'
import { Writer } from './protocol/writer.js'
import {
  API_VERSIONS_KEY,
  type ApiContext,
  type ApiRegistry,
  type BrokerNode,
  type RequestHeader,
  requestHeaderIsFlexible,
  responseHeaderIsFlexible,
} from './registry.js'
import type { BrokerState } from './state/broker-state.js'

/** pino-compatible subset; the broker is silent without one. */
export interface BrokerLogger {
  debug?(obj: object, msg?: string): void
  info?(obj: object, msg?: string): void
  warn?(obj: object, msg?: string): void
  error?(obj: object, msg?: string): void
}

/** What a control() hook sees of each request. */
export interface ControlRequest extends RequestHeader {
  readonly connectionId: number
  /** The request body after the header (parse it with Reader if needed). */
  readonly body: Buffer
  readonly flexible: boolean
}

/**
 * What a control() hook decides. undefined: not interested, handle normally and keep the hook. An object: act on
 * this request and remove the hook, unless `keep: true`.
 */
export type ControlAction =
  | undefined
  | void
  | {
      /** Answer every error field with this Kafka error code (no state changes). */
      errorCode?: number
      /** Wait this long before handling (or failing/dropping). */
      delayMs?: number
      /** Close the connection instead of answering. */
      drop?: boolean
      /** Keep intercepting later requests of this key. */
      keep?: boolean
    }

export type ControlFn = (req: ControlRequest) => ControlAction

/** Largest frame accepted; anything bigger is a broken or hostile client. */
const MAX_FRAME_BYTES = 256 * 1024 * 1024

interface Slot {
  done: boolean
  chunks: Buffer[] | null
}

class Connection {
  readonly id: number
  readonly socket: Socket
  private readonly server: KafkaServer
  private readonly pending: Buffer[] = []
  private pendingBytes = 0
  private readonly slots: Slot[] = []
  readonly abort = new AbortController()
  closed = false

  constructor(id: number, socket: Socket, server: KafkaServer) {
    this.id = id
    this.socket = socket
    this.server = server
    socket.setNoDelay(true)
    socket.on('data', (d) => this.onData(d))
    socket.on('error', () => this.close())
    socket.on('close', () => this.close())
  }

  private onData(data: Buffer): void {
    this.pending.push(data)
    this.pendingBytes += data.length
    while (!this.closed && this.pendingBytes >= 4) {
      const size = this.peekSize()
      if (size < 8 || size > MAX_FRAME_BYTES) {
        this.fail(`frame size ${size} is not a valid Kafka request`)
        return
      }
      if (this.pendingBytes < 4 + size) return
      this.take(4)
      this.server.dispatch(this, this.take(size))
    }
  }

  private peekSize(): number {
    const first = this.pending[0]!
    if (first.length >= 4) return first.readInt32BE(0)
    const head = Buffer.concat(this.pending, 4)
    return head.readInt32BE(0)
  }

  private take(n: number): Buffer {
    this.pendingBytes -= n
    const first = this.pending[0]!
    if (first.length > n) {
      this.pending[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    if (first.length === n) {
      this.pending.shift()
      return first
    }
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      const c = this.pending[0]!
      const k = Math.min(c.length, n - at)
      c.copy(out, at, 0, k)
      at += k
      if (k === c.length) this.pending.shift()
      else this.pending[0] = c.subarray(k)
    }
    return out
  }

  /** Reserves this request's place in the response order. */
  slot(): Slot {
    const s: Slot = { done: false, chunks: null }
    this.slots.push(s)
    return s
  }

  complete(s: Slot, chunks: Buffer[] | null): void {
    s.done = true
    s.chunks = chunks
    if (this.closed) return
    let wrote = false
    while (this.slots.length > 0 && this.slots[0]!.done) {
      const head = this.slots.shift()!
      if (head.chunks === null) continue
      if (!wrote) this.socket.cork()
      wrote = true
      for (const c of head.chunks) this.socket.write(c)
    }
    if (wrote) this.socket.uncork()
  }

  fail(reason: string, err?: unknown): void {
    this.server.log('warn', { connection: this.id, reason, err: err instanceof Error ? err.message : err }, reason)
    this.close()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.abort.abort()
    this.socket.destroy()
    this.server.forget(this)
  }
}

interface Hook {
  fn: ControlFn
}

export interface KafkaServerOptions {
  host: string
  port: number
  state: BrokerState
  registry: ApiRegistry
  nodeId?: number
  logger?: BrokerLogger
}

export class KafkaServer {
  private readonly server: Server
  private readonly connections = new Set<Connection>()
  private readonly hooks = new Map<number, Hook[]>()
  private nextConnectionId = 1
  readonly state: BrokerState
  readonly registry: ApiRegistry
  private readonly logger: BrokerLogger | undefined
  private readonly requestedHost: string
  private readonly requestedPort: number
  node: BrokerNode

  constructor(options: KafkaServerOptions) {
    this.state = options.state
    this.registry = options.registry
    this.logger = options.logger
    this.requestedHost = options.host
    this.requestedPort = options.port
    this.node = { nodeId: options.nodeId ?? 0, host: options.host, port: options.port }
    this.server = createServer((socket) => {
      const c = new Connection(this.nextConnectionId++, socket, this)
      this.connections.add(c)
    })
  }

  async listen(): Promise<BrokerNode> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.requestedPort, this.requestedHost, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const addr = this.server.address()
    if (addr === null || typeof addr === 'string') throw new Error('dev broker: server has no TCP address')
    this.node = { nodeId: this.node.nodeId, host: this.requestedHost, port: addr.port }
    return this.node
  }

  log(level: keyof BrokerLogger, obj: object, msg: string): void {
    this.logger?.[level]?.(obj, msg)
  }

  control(apiKey: number, fn: ControlFn): () => void {
    const hook: Hook = { fn }
    const list = this.hooks.get(apiKey) ?? []
    list.push(hook)
    this.hooks.set(apiKey, list)
    return () => this.removeHook(apiKey, hook)
  }

  private removeHook(apiKey: number, hook: Hook): void {
    const list = this.hooks.get(apiKey)
    if (list === undefined) return
    const i = list.indexOf(hook)
    if (i >= 0) list.splice(i, 1)
  }

  private runHooks(req: ControlRequest): Exclude<ControlAction, void | undefined> | undefined {
    const list = this.hooks.get(req.apiKey)
    if (list === undefined || list.length === 0) return undefined
    for (const hook of [...list]) {
      let action: ControlAction
      try {
        action = hook.fn(req)
      } catch (err) {
        // a broken test hook must not take the broker down: log it and handle the request normally
        this.log('error', { apiKey: req.apiKey, err }, 'control hook threw; ignoring it for this request')
        continue
      }
      if (action === undefined || action === null) continue
      if (action.keep !== true) this.removeHook(req.apiKey, hook)
      return action
    }
    return undefined
  }

  forget(c: Connection): void {
    this.connections.delete(c)
  }

  /** Drops every client connection; state and the listening socket stay. */
  dropConnections(): void {
    for (const c of [...this.connections]) c.close()
  }

  async close(): Promise<void> {
    this.dropConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  dispatch(conn: Connection, frame: Buffer): void {
    let header: RequestHeader
    let r: Reader
    let flexible: boolean
    try {
      r = new Reader(frame)
      const apiKey = r.int16()
      const apiVersion = r.int16()
      const correlationId = r.int32()
      const clientId = r.nullableString()
      header = { apiKey, apiVersion, correlationId, clientId }
      const mod = this.registry.get(apiKey)
      if (mod === undefined) {
        conn.fail(`unknown API key ${apiKey} from client '${clientId}'; closing the connection`)
        return
      }
      if (!this.registry.supports(apiKey, apiVersion)) {
        if (apiKey === API_VERSIONS_KEY) {
          // KIP-511: answer an unknown ApiVersions version in v0 form so the client can retry with one we have
          this.respond(conn, conn.slot(), header, false, this.unsupportedApiVersions())
          return
        }
        conn.fail(`${mod.name} v${apiVersion} is not supported (v${mod.minVersion}-v${mod.maxVersion}); closing`)
        return
      }
      flexible = requestHeaderIsFlexible(this.registry, apiKey, apiVersion)
      if (flexible) r.taggedFields()
    } catch (err) {
      conn.fail('malformed request header; closing the connection', err)
      return
    }
    const slot = conn.slot()
    const action = this.runHooks({
      ...header,
      connectionId: conn.id,
      body: frame.subarray(r.pos),
      flexible,
    })
    if (action === undefined) {
      this.handle(conn, slot, header, flexible, r, undefined)
      return
    }
    const go = (): void => {
      if (conn.closed) return
      if (action.drop === true) {
        conn.close()
        return
      }
      this.handle(conn, slot, header, flexible, r, action.errorCode)
    }
    if (action.delayMs !== undefined && action.delayMs > 0) setTimeout(go, action.delayMs)
    else go()
  }

  private handle(
    conn: Connection,
    slot: Slot,
    header: RequestHeader,
    flexible: boolean,
    r: Reader,
    injectedError: number | undefined,
  ): void {
    const mod = this.registry.get(header.apiKey)!
    const w = new Writer()
    let skip = false
    const ctx: ApiContext = {
      header,
      version: header.apiVersion,
      flexible,
      state: this.state,
      node: this.node,
      connectionId: conn.id,
      apis: this.registry,
      injectedError,
      signal: conn.abort.signal,
      noResponse: () => {
        skip = true
      },
    }
    const finish = (): void => {
      if (skip) conn.complete(slot, null)
      else
        this.respond(conn, slot, header, responseHeaderIsFlexible(this.registry, header.apiKey, header.apiVersion), w)
    }
    const onError = (err: unknown): void => {
      const what = err instanceof MalformedFrameError ? 'malformed' : 'failed'
      conn.fail(`${mod.name} v${header.apiVersion} request ${what}: ${err instanceof Error ? err.message : err}`, err)
    }
    try {
      const result = mod.handle(r, w, ctx)
      if (result instanceof Promise) result.then(finish, onError)
      else finish()
    } catch (err) {
      onError(err)
    }
  }

  private respond(conn: Connection, slot: Slot, header: RequestHeader, flexibleHeader: boolean, body: Writer): void {
    const head = Buffer.allocUnsafe(flexibleHeader ? 9 : 8)
    head.writeInt32BE(body.length + head.length - 4, 0)
    head.writeInt32BE(header.correlationId, 4)
    if (flexibleHeader) head[8] = 0 // empty tagged fields
    conn.complete(slot, [head, ...body.chunksOut()])
  }

  private unsupportedApiVersions(): Writer {
    const w = new Writer()
    w.int16(KafkaErrors.UNSUPPORTED_VERSION.code)
    w.array(false, this.registry.versions(), (w, v) => w.int16(v.apiKey).int16(v.minVersion).int16(v.maxVersion))
    return w
  }
}

// A minimal Kafka wire client for tests and benchmarks: sends raw requests (header v1) and returns the response
// body, matched by correlation id. Not a Kafka client; it exists to poke the broker where real clients cannot.

import { connect, type Socket } from 'node:net'
import { Reader } from '../protocol/reader.js'
import { Writer } from '../protocol/writer.js'

export class WireClient {
  private readonly socket: Socket
  private nextCorrelationId = 1
  private readonly waiting = new Map<number, { resolve: (r: Buffer) => void; reject: (e: Error) => void }>()
  private pending: Buffer[] = []
  private pendingBytes = 0
  private closedError: Error | undefined
  /** Resolves when the broker closes the connection. */
  readonly closed: Promise<void>

  private constructor(socket: Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('data', (d) => this.onData(d))
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.closedError = new Error('connection closed by the broker')
        for (const w of this.waiting.values()) w.reject(this.closedError)
        this.waiting.clear()
        resolve()
      })
    })
    socket.on('error', () => undefined)
  }

  static async connect(host: string, port: number): Promise<WireClient> {
    const socket = connect(port, host)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new WireClient(socket)
  }

  private onData(d: Buffer): void {
    this.pending.push(d)
    this.pendingBytes += d.length
    for (;;) {
      if (this.pendingBytes < 4) return
      const head = this.pending[0]!.length >= 4 ? this.pending[0]! : Buffer.concat(this.pending)
      const size = head.readInt32BE(0)
      if (this.pendingBytes < 4 + size) return
      let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending)
      const frame = buf.subarray(4, 4 + size)
      buf = buf.subarray(4 + size)
      this.pending = buf.length > 0 ? [buf] : []
      this.pendingBytes = buf.length
      const id = frame.readInt32BE(0)
      const w = this.waiting.get(id)
      this.waiting.delete(id)
      w?.resolve(frame.subarray(4))
    }
  }

  /** Writes bytes as they are (for malformed-frame tests). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /**
   * Sends one request and resolves with a Reader over the response after its correlation id (for flexible
   * responses the caller skips the header's tagged fields). `expectResponse: false` is for acks=0.
   */
  async request(
    apiKey: number,
    version: number,
    body: (w: Writer) => void,
    options: { flexibleHeader?: boolean; expectResponse?: boolean; clientId?: string } = {},
  ): Promise<Reader> {
    if (this.closedError !== undefined) throw this.closedError
    const w = new Writer()
    const correlationId = this.nextCorrelationId++
    w.int32(0)
      .int16(apiKey)
      .int16(version)
      .int32(correlationId)
      .nullableString(options.clientId ?? 'wire-client')
    if (options.flexibleHeader === true) w.tags()
    body(w)
    const frame = w.toBuffer()
    frame.writeInt32BE(frame.length - 4, 0)
    if (options.expectResponse === false) {
      this.socket.write(frame)
      return new Reader(Buffer.alloc(0))
    }
    const response = new Promise<Buffer>((resolve, reject) => this.waiting.set(correlationId, { resolve, reject }))
    this.socket.write(frame)
    return new Reader(await response)
  }

  close(): void {
    this.socket.destroy()
  }
}

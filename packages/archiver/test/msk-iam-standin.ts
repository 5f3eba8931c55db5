// A stand-in for Amazon MSK's IAM authentication (no MSK can run here): a TCP server speaking just ApiVersions,
// SaslHandshake, SaslAuthenticate and Metadata v0, that checks every OAUTHBEARER token as MSK does: a base64url
// SigV4-presigned `kafka-cluster:Connect` URL for kafka.<region>.amazonaws.com, signed with a secret it knows (the
// signature recomputed with AWS's own @smithy/signature-v4 and the test's credentials), and not expired. It answers
// with the session lifetime left on the token, so clients must re-authenticate with a fresh one before it ends.
import { createHash, createHmac } from 'node:crypto'
import type { BinaryLike } from 'node:crypto'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { SignatureV4 } from '@smithy/signature-v4'

export interface StandinAuth {
  ok: boolean
  /** Why the token was refused. */
  reason?: string
  accessKeyId?: string
  token: string
  /** When the token's signature expires (ms since the epoch). */
  expiresAt?: number
  at: number
  /** A SaslHandshake on a connection that had authenticated already. */
  reauthentication: boolean
}

export interface MskIamStandin {
  /** host:port for kafkajs' brokers. */
  readonly address: string
  readonly auths: StandinAuth[]
  close(): Promise<void>
}

const bytes = (d: string | ArrayBuffer | ArrayBufferView): BinaryLike =>
  typeof d === 'string'
    ? d
    : ArrayBuffer.isView(d)
      ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
      : new Uint8Array(d)

class NodeSha256 {
  private readonly hash
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret))
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data))
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest())
  }
}

const API_VERSIONS = 18
const SASL_HANDSHAKE = 17
const SASL_AUTHENTICATE = 36
const METADATA = 3
const SASL_AUTHENTICATION_FAILED = 58
const UNSUPPORTED_SASL_MECHANISM = 33

class Out {
  private parts: Buffer[] = []
  int16(v: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(v)
    this.parts.push(b)
    return this
  }
  int32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    this.parts.push(b)
    return this
  }
  int64(v: bigint): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(v)
    this.parts.push(b)
    return this
  }
  string(v: string | null): this {
    if (v === null) return this.int16(-1)
    const s = Buffer.from(v)
    this.int16(s.length)
    this.parts.push(s)
    return this
  }
  bytes(v: Buffer): this {
    this.int32(v.length)
    this.parts.push(v)
    return this
  }
  frame(correlationId: number): Buffer {
    const body = Buffer.concat(this.parts)
    const head = Buffer.alloc(8)
    head.writeInt32BE(body.length + 4)
    head.writeInt32BE(correlationId, 4)
    return Buffer.concat([head, body])
  }
}

async function verifyToken(
  token: string,
  region: string,
  secrets: Record<string, string>,
  now: number,
): Promise<Omit<StandinAuth, 'at' | 'reauthentication'>> {
  const refuse = (reason: string, extra: Partial<StandinAuth> = {}) => ({ ok: false, reason, token, ...extra })
  let url: URL
  try {
    url = new URL(Buffer.from(token, 'base64url').toString('utf8'))
  } catch {
    return refuse('the token is not a base64url URL')
  }
  const q = url.searchParams
  const host = `kafka.${region}.amazonaws.com`
  if (url.protocol !== 'https:' || url.host !== host || url.pathname !== '/') return refuse(`not a URL of ${host}`)
  if (q.get('Action') !== 'kafka-cluster:Connect') return refuse('the action is not kafka-cluster:Connect')
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return refuse('not SigV4')
  const [accessKeyId, day, credRegion, service, terminator] = (q.get('X-Amz-Credential') ?? '').split('/')
  if (credRegion !== region || service !== 'kafka-cluster' || terminator !== 'aws4_request') {
    return refuse('the credential scope is not <region>/kafka-cluster/aws4_request')
  }
  const secret = secrets[accessKeyId!]
  if (secret === undefined) return refuse(`unknown access key ${accessKeyId}`)
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get('X-Amz-Date') ?? '')
  if (!m || day !== `${m[1]}${m[2]}${m[3]}`) return refuse('a bad X-Amz-Date')
  const signedAt = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
  const expires = Number(q.get('X-Amz-Expires'))
  if (!(expires > 0 && expires <= 900)) return refuse('X-Amz-Expires is not 1..900 seconds')
  const expiresAt = signedAt + expires * 1000
  const signer = new SignatureV4({
    service: 'kafka-cluster',
    region,
    credentials: {
      accessKeyId: accessKeyId!,
      secretAccessKey: secret,
      ...(q.get('X-Amz-Security-Token') ? { sessionToken: q.get('X-Amz-Security-Token')! } : {}),
    },
    sha256: NodeSha256,
  })
  const expected = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname: host,
      path: '/',
      headers: { host },
      query: { Action: 'kafka-cluster:Connect' },
    },
    { signingDate: new Date(signedAt), expiresIn: expires },
  )
  if (expected.query?.['X-Amz-Signature'] !== q.get('X-Amz-Signature')) {
    return refuse('the signature does not match', { accessKeyId: accessKeyId! })
  }
  if (now >= expiresAt) return refuse('the token has expired', { accessKeyId: accessKeyId!, expiresAt })
  return { ok: true, token, accessKeyId: accessKeyId!, expiresAt }
}

export async function startMskIamStandin(options: {
  region: string
  /** Secret access keys by access key id. */
  secrets: Record<string, string>
}): Promise<MskIamStandin> {
  const auths: StandinAuth[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let buffered = Buffer.alloc(0)
    let authenticated = false
    let handshaken = false
    let chain = Promise.resolve()
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const size = buffered.readInt32BE(0)
        const request = buffered.subarray(4, 4 + size)
        buffered = buffered.subarray(4 + size)
        chain = chain.then(() => handle(request)).catch(() => void socket.destroy())
      }
    })
    const handle = async (req: Buffer) => {
      const apiKey = req.readInt16BE(0)
      const version = req.readInt16BE(2)
      const correlationId = req.readInt32BE(4)
      const clientIdLength = req.readInt16BE(8)
      let at = 10 + Math.max(0, clientIdLength)
      const out = new Out()
      if (apiKey === API_VERSIONS) {
        const apis = [
          [API_VERSIONS, 0, 2],
          [SASL_HANDSHAKE, 0, 1],
          [SASL_AUTHENTICATE, 0, 1],
          [METADATA, 0, 0],
        ]
        out.int16(0).int32(apis.length)
        for (const [k, min, max] of apis) out.int16(k!).int16(min!).int16(max!)
        if (version >= 1) out.int32(0)
      } else if (apiKey === SASL_HANDSHAKE) {
        const length = req.readInt16BE(at)
        const mechanism = req.subarray(at + 2, at + 2 + length).toString()
        handshaken = true
        out
          .int16(mechanism === 'OAUTHBEARER' ? 0 : UNSUPPORTED_SASL_MECHANISM)
          .int32(1)
          .string('OAUTHBEARER')
      } else if (apiKey === SASL_AUTHENTICATE && handshaken) {
        const length = req.readInt32BE(at)
        at += 4
        const message = req.subarray(at, at + length).toString()
        // n,,<SOH>auth=Bearer <token><SOH><SOH> (RFC 7628)
        const token =
          message
            .split(String.fromCharCode(1))
            .find((p) => p.startsWith('auth=Bearer '))
            ?.slice('auth=Bearer '.length) ?? ''
        const now = Date.now()
        const result = await verifyToken(token, options.region, options.secrets, now)
        auths.push({ ...result, at: now, reauthentication: authenticated })
        handshaken = false
        if (result.ok) {
          authenticated = true
          out.int16(0).string(null).bytes(Buffer.alloc(0))
          if (version >= 1) out.int64(BigInt(result.expiresAt! - now))
        } else {
          out.int16(SASL_AUTHENTICATION_FAILED).string(`[MSK stand-in] ${result.reason}`).bytes(Buffer.alloc(0))
          if (version >= 1) out.int64(0n)
          socket.write(out.frame(correlationId))
          // As MSK: a failed authentication ends the connection.
          socket.end()
          return
        }
      } else if (apiKey === METADATA && authenticated) {
        const { port } = server.address() as AddressInfo
        out.int32(1).int32(0).string('127.0.0.1').int32(port).int32(0)
      } else {
        socket.destroy()
        return
      }
      socket.write(out.frame(correlationId))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    auths,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

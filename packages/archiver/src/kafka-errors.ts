// What Kafka's refusals mean for the user, in one place: kafkajs' SASL errors, node's TLS errors and Kafka's ACL
// error codes become typed Everlog errors whose one line names the cause and the setting to check. None of them is
// retriable: the same settings would fail the same way, so nobody loops on them.
import { connect as netConnect, isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { ConnectionOptions } from 'node:tls'
import type { EverlogError } from '@everlog/core'
import { KafkaAuthenticationError, KafkaAuthorizationError, KafkaTlsError, isEverlogError } from '@everlog/core'
import type { KafkaConfig } from 'kafkajs'
import type { KafkaSettings } from './config.js'

/** What the failing call was about, so the message can name the topic or group. */
export interface KafkaErrorContext {
  topics?: readonly string[]
  groups?: readonly string[]
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
])

/** The principal Kafka sees, as far as the settings say. */
function principal(settings: KafkaSettings | undefined): string {
  const sasl = settings?.kafka.sasl
  if (sasl?.mechanism === 'aws-msk-iam') return 'the IAM identity of the AWS credentials'
  if (sasl !== undefined) return `User:${sasl.username}`
  if (hasClientCertificate(settings)) return "the client certificate's subject"
  return 'the principal of this connection'
}

function hasClientCertificate(settings: KafkaSettings | undefined): boolean {
  const ssl = settings?.kafka.ssl
  return typeof ssl === 'object' && ssl.certFile !== undefined
}

/** Errors reachable from err: itself, its causes and kafkajs' wrapped or aggregated errors. */
function chain(err: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  const queue: unknown[] = [err]
  while (queue.length > 0 && out.length < 20) {
    const e = queue.shift()
    if (typeof e !== 'object' || e === null || out.includes(e as Record<string, unknown>)) continue
    const r = e as Record<string, unknown>
    out.push(r)
    queue.push(r.cause, r.originalError)
    if (Array.isArray(r.errors)) queue.push(...(r.errors as unknown[]))
  }
  return out
}

/** A TLS failure against `broker` as a typed error, or undefined when err is no TLS problem. */
export function tlsFailure(
  err: unknown,
  broker: string,
  clientCertificate: boolean,
): KafkaTlsError | KafkaAuthenticationError | undefined {
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : ''
    const reason = typeof e.message === 'string' ? e.message.replace(/^Connection error: /, '') : code
    const opts = { cause: err }
    if (code === 'CERT_HAS_EXPIRED') {
      return new KafkaTlsError(
        `the TLS certificate of Kafka broker ${broker} has expired: the broker's certificate must be renewed ` +
          "(or this machine's clock is wrong); kafka.ssl cannot fix this",
        opts,
      )
    }
    if (code === 'CERT_NOT_YET_VALID') {
      return new KafkaTlsError(
        `the TLS certificate of Kafka broker ${broker} is not valid yet: check this machine's clock and the broker's certificate`,
        opts,
      )
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return new KafkaTlsError(
        `the TLS certificate of Kafka broker ${broker} is for another host name (${reason}): connect by a name ` +
          'the certificate lists (--brokers / brokers, and the advertised listeners) or set kafka.ssl.servername',
        opts,
      )
    }
    if (UNTRUSTED.has(code)) {
      return new KafkaTlsError(
        `the TLS certificate of Kafka broker ${broker} is not trusted (${code}): set kafka.ssl.caFile ` +
          "(--ssl-ca-file, EVERLOG_KAFKA__SSL__CA_FILE) to the CA that signed the broker's certificate",
        opts,
      )
    }
    // Brokers answer a missing client certificate with certificate_required (TLS 1.3), bad_certificate (Java) or
    // handshake_failure: which one it was, the settings tell.
    const alert = /ALERT_(CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN)/
    if (alert.test(code) && !clientCertificate) {
      return new KafkaAuthenticationError(
        `Kafka broker ${broker} requires a client certificate (mutual TLS): set kafka.ssl.certFile and ` +
          'kafka.ssl.keyFile (--ssl-cert-file, --ssl-key-file)',
        opts,
      )
    }
    if (alert.test(code) || /ALERT_CERTIFICATE_EXPIRED/.test(code)) {
      return new KafkaAuthenticationError(
        `Kafka broker ${broker} refused the client certificate (${code}): kafka.ssl.certFile must be valid and ` +
          "signed by a CA in the broker's truststore",
        opts,
      )
    }
    // A Kafka PLAINTEXT listener reads the TLS ClientHello as an oversized request and hangs up.
    if (
      code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
      code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
      reason.includes('disconnected before secure TLS connection was established')
    ) {
      return new KafkaTlsError(
        `Kafka broker ${broker} does not speak TLS on that port (it hung up on the TLS handshake): use the port ` +
          'of its SSL/SASL_SSL listener, or ' +
          'drop kafka.ssl (--ssl) for a PLAINTEXT/SASL_PLAINTEXT listener',
        opts,
      )
    }
  }
  return undefined
}

const SASL_HINT = 'kafka.sasl.username and kafka.sasl.password or passwordFile (--sasl-username, --sasl-password-file)'

/**
 * Kafka's refusal of the connection or of an operation as a typed, non-retriable Everlog error, or undefined when
 * err is something else (a network failure, a bug): those keep their own handling.
 */
export function kafkaSecurityError(
  err: unknown,
  settings?: KafkaSettings,
  context: KafkaErrorContext = {},
): EverlogError | undefined {
  const errors = chain(err)
  for (const e of errors) {
    if (
      isEverlogError(e) &&
      (e.code === 'KAFKA_TLS' || e.code === 'KAFKA_AUTHENTICATION' || e.code === 'KAFKA_AUTHORIZATION')
    ) {
      return e
    }
  }
  const broker =
    errors.map((e) => e.broker).find((b): b is string => typeof b === 'string') ??
    settings?.brokers.join(',') ??
    'Kafka'
  const tls = tlsFailure(err, broker, hasClientCertificate(settings))
  if (tls) return tls
  const sasl = settings?.kafka.sasl
  const mechanism = sasl?.mechanism ?? 'SASL'
  for (const e of errors) {
    const name = typeof e.name === 'string' ? e.name : ''
    const type = typeof e.type === 'string' ? e.type : ''
    const message = typeof e.message === 'string' ? e.message : ''
    const opts = { cause: err }
    if (
      name === 'KafkaJSSASLAuthenticationError' ||
      type === 'SASL_AUTHENTICATION_FAILED' ||
      type === 'UNSUPPORTED_SASL_MECHANISM'
    ) {
      if (type === 'UNSUPPORTED_SASL_MECHANISM' || /mechanism is not supported by the server/.test(message)) {
        return new KafkaAuthenticationError(
          `Kafka at ${broker} does not offer SASL mechanism ${mechanism} on this listener: check ` +
            "kafka.sasl.mechanism (--sasl-mechanism) against the listener's sasl.enabled.mechanisms",
          opts,
        )
      }
      const why = message.replace(/^SASL [A-Z0-9-]+ authentication failed: /i, '').split('\n')[0]
      const hint =
        mechanism === 'aws-msk-iam'
          ? 'check the AWS credentials this process gets and that its IAM policy allows kafka-cluster:Connect'
          : `check ${SASL_HINT}`
      return new KafkaAuthenticationError(
        `SASL ${mechanism} authentication${sasl?.username ? ` as "${sasl.username}"` : ''} failed at ${broker} ` +
          `(${why}): ${hint}`,
        opts,
      )
    }
    if (type === 'ILLEGAL_SASL_STATE') {
      return new KafkaAuthenticationError(
        `Kafka at ${broker} refused the SASL exchange (${type}): check kafka.sasl.mechanism (--sasl-mechanism) ` +
          'and whether this listener uses SASL at all',
        opts,
      )
    }
    if (type === 'TOPIC_AUTHORIZATION_FAILED') {
      const topics = context.topics?.length ? ` ${context.topics.join(', ')}` : ''
      return new KafkaAuthorizationError(
        `Kafka denied ${principal(settings)} access to topic${topics} (TOPIC_AUTHORIZATION_FAILED): an ACL must ` +
          'allow DESCRIBE and READ on it (WRITE to restore into it, CREATE to create it); check the ACLs or ' +
          'the identity in kafka.sasl / kafka.ssl.certFile',
        opts,
      )
    }
    if (type === 'GROUP_AUTHORIZATION_FAILED') {
      const groups = context.groups?.length ? ` ${context.groups.join(', ')}` : ''
      return new KafkaAuthorizationError(
        `Kafka denied ${principal(settings)} access to consumer group${groups} (GROUP_AUTHORIZATION_FAILED): an ` +
          'ACL must allow READ and DESCRIBE on the group; check the ACLs, the group setting (--group / group), or ' +
          'the identity in kafka.sasl / kafka.ssl.certFile',
        opts,
      )
    }
    if (name === 'KafkaJSGroupCoordinatorNotFound') {
      // kafkajs drops FindCoordinator's error here (it tries every broker and keeps no reason). Two causes give
      // this: a principal the group's ACLs leave out, and a new cluster still creating __consumer_offsets for its
      // first group (COORDINATOR_NOT_AVAILABLE for a few seconds). Name both, the transient one first, since the
      // fix differs and nothing here tells them apart.
      const groups = context.groups?.length ? ` ${context.groups.join(', ')}` : ''
      return new KafkaAuthorizationError(
        `Kafka named no coordinator for consumer group${groups} (kafkajs does not pass on the broker's reason): ` +
          'on a new cluster, __consumer_offsets may still be being created for its first group, so try again in ' +
          `a few seconds; if it persists, most likely ${principal(settings)} lacks an ACL allowing DESCRIBE and ` +
          'READ on the group (GROUP_AUTHORIZATION_FAILED): check the ACLs, the group setting (--group / group), ' +
          'or the identity in kafka.sasl / kafka.ssl.certFile',
        opts,
      )
    }
    if (type === 'CLUSTER_AUTHORIZATION_FAILED' || type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED') {
      return new KafkaAuthorizationError(
        `Kafka denied ${principal(settings)} a cluster operation (${type}): an idempotent producer needs ` +
          'IDEMPOTENT_WRITE on the cluster (Kafka < 3.0), creating topics needs CREATE; check the ACLs',
        opts,
      )
    }
  }
  return undefined
}

/** err as its typed Kafka security error when it is one, else unchanged. */
export function explainKafkaError(err: unknown, settings?: KafkaSettings, context?: KafkaErrorContext): unknown {
  return kafkaSecurityError(err, settings, context) ?? err
}

const API_VERSIONS_V0 = Buffer.from([0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff])

/** What the connection check saw when a broker hung up on a plaintext ApiVersions request. */
const PLAINTEXT_UNANSWERED = 'EVERLOG_PLAINTEXT_UNANSWERED'

/**
 * Opens one connection to each bootstrap broker in turn, as the client will (TLS or not), and asks it ApiVersions
 * (allowed before SASL), so that a certificate problem, or TLS missing on one side, fails at once with its cause:
 * kafkajs would take either for a network error and retry it until its retries run out. Returns as soon as one
 * broker answers; unreachable or silent brokers are left to kafkajs.
 */
export async function checkKafkaConnection(settings: KafkaSettings, client: KafkaConfig): Promise<void> {
  const tls: ConnectionOptions | undefined = client.ssl ? (client.ssl === true ? {} : client.ssl) : undefined
  let failure: EverlogError | undefined
  for (const broker of settings.brokers) {
    const at = broker.lastIndexOf(':')
    const host = broker.slice(0, at).replace(/^\[|\]$/g, '')
    const port = Number(broker.slice(at + 1))
    const err = await probe(host, port, tls, client.connectionTimeout ?? 1000)
    if (err === undefined) return
    const typed =
      (err as { code?: string }).code === PLAINTEXT_UNANSWERED
        ? new KafkaTlsError(
            `Kafka broker ${broker} hung up on a plaintext request: if it is a TLS listener (SSL or SASL_SSL, as on ` +
              'Confluent Cloud and Amazon MSK), turn TLS on with --ssl (kafka.ssl: true, EVERLOG_KAFKA__SSL=true)',
          )
        : tlsFailure(err, broker, hasClientCertificate(settings))
    if (typed === undefined) continue
    failure ??= typed
  }
  if (failure) throw failure
}

function probe(
  host: string,
  port: number,
  tls: ConnectionOptions | undefined,
  timeoutMs: number,
): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let settled = false
    let received = Buffer.alloc(0)
    const done = (err: Error | undefined) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(err)
    }
    const unanswered = () =>
      Object.assign(new Error('the broker closed the connection without a Kafka answer'), {
        code: tls ? 'ECONNRESET' : PLAINTEXT_UNANSWERED,
      })
    const socket = tls
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...tls })
      : netConnect({ host, port })
    // A broker that accepts the connection but says nothing in time is kafkajs' to retry.
    const timer = setTimeout(() => done(undefined), timeoutMs + 1000)
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(API_VERSIONS_V0))
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      // A Kafka response: size, then our correlation id (1). Anything else (a TLS alert) is no answer.
      if (received.length >= 8) done(received.readInt32BE(4) === 1 ? undefined : unanswered())
    })
    socket.once('error', (err) => done(err))
    socket.once('close', () => done(unanswered()))
  })
}

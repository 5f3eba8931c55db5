// Secured Kafka for real: one Apache Kafka broker with listeners for SSL, mutual TLS, SASL_PLAINTEXT and SASL_SSL
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; SCRAM users made at format time), broken certificates (expired, another host
// name) and ACLs (StandardAuthorizer), beside a PLAINTEXT admin listener. Every Kafka-facing command runs over every
// secured listener (settings by flags, env or file), then an ArchiveConsumer on a kafkajs client with the same
// settings; each failure a user meets is one line naming its cause and the setting to check, in bounded time.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { kafkaConnectionConfig, loadKafkaSettings } from '@everlog/archiver'
import { ArchiveConsumer } from '@everlog/consumer'
import { kafkaMissing, makeTestPki, startKafka } from '@everlog/testkit'
import type { KafkaBroker } from '@everlog/testkit'
import kafkajs from 'kafkajs'
import type { Admin } from 'kafkajs'
import { defaultContext } from '../src/context.js'
import type { CliContext } from '../src/context.js'
import { run } from '../src/run.js'

const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs

const skip = kafkaMissing()
const PASSWORDS = { alice: 'alice-Pa55-9d1e-never-logged', reader: 'reader-Pa55-4c2b-never-logged' }
const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const
const RECORDS = 30

let dir: string
let pki: ReturnType<typeof makeTestPki>
let kafka: KafkaBroker
let admin: Admin
const outputs: string[] = []

class Capture extends Writable {
  text = ''
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

async function everlog(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new Capture()
  const stderr = new Capture()
  const base = defaultContext({ EVERLOG_STORE: '', ...env })
  const context: CliContext = { stdout, stderr, env: base.env, openStore: base.openStore }
  const started = Date.now()
  const code = await run(args, { context })
  outputs.push(stdout.text, stderr.text)
  return { code, stdout: stdout.text, stderr: stderr.text, ms: Date.now() - started }
}

/** A PEM file as one server.properties value (Java reads \n as a newline). */
const pemValue = (file: string) => readFileSync(file, 'utf8').trim().replaceAll('\n', '\\n')

before(async () => {
  if (skip) return
  dir = mkdtempSync(join(tmpdir(), 'everlog-kafka-sec-'))
  pki = makeTestPki()
  const jaas: Record<string, string> = {}
  for (const l of ['sasl_plaintext', 'sasl_ssl']) {
    jaas[`listener.name.${l}.plain.sasl.jaas.config`] =
      'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
      `user_alice="${PASSWORDS.alice}" user_reader="${PASSWORDS.reader}";`
    for (const m of ['scram-sha-256', 'scram-sha-512']) {
      jaas[`listener.name.${l}.${m}.sasl.jaas.config`] =
        'org.apache.kafka.common.security.scram.ScramLoginModule required;'
    }
  }
  const keystore = (listener: string, cert: { certFile: string; keyFile: string }) => ({
    [`listener.name.${listener}.ssl.keystore.type`]: 'PEM',
    [`listener.name.${listener}.ssl.keystore.certificate.chain`]: pemValue(cert.certFile),
    [`listener.name.${listener}.ssl.keystore.key`]: pemValue(cert.keyFile),
  })
  kafka = await startKafka({
    // Seven listeners, TLS and an authorizer start slower than a plain broker, more so on a busy machine.
    readyTimeoutMs: 120_000,
    listeners: [
      { name: 'SSL', protocol: 'SSL' },
      { name: 'MTLS', protocol: 'SSL' },
      { name: 'EXPIRED', protocol: 'SSL' },
      { name: 'WRONGHOST', protocol: 'SSL' },
      { name: 'SASL_PLAINTEXT', protocol: 'SASL_PLAINTEXT' },
      { name: 'SASL_SSL', protocol: 'SASL_SSL' },
    ],
    scramUsers: (['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const).flatMap((mechanism) =>
      Object.entries(PASSWORDS).map(([name, password]) => ({ mechanism, name, password })),
    ),
    serverProperties: {
      'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      // The PLAINTEXT admin and controller listeners (ANONYMOUS), alice and the mTLS client may do anything.
      'super.users': 'User:ANONYMOUS;User:alice;User:CN=everlog-client',
      'sasl.enabled.mechanisms': MECHANISMS.join(','),
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.certificate.chain': pemValue(pki.server.certFile),
      'ssl.keystore.key': pemValue(pki.server.keyFile),
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': pki.ca.certFile,
      'listener.name.mtls.ssl.client.auth': 'required',
      ...keystore('expired', pki.expired),
      ...keystore('wronghost', pki.wrongHost),
      ...jaas,
    },
  })
  admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  // reader: READ+DESCRIBE on acl-read, DESCRIBE only on acl-describe, READ on the group acl-group; nothing else.
  const allow = (resourceType: number, resourceName: string, operation: number) => ({
    resourceType,
    resourceName,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: 'User:reader',
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  })
  await admin.createAcls({
    acl: [
      allow(AclResourceTypes.TOPIC, 'acl-read', AclOperationTypes.READ),
      allow(AclResourceTypes.TOPIC, 'acl-read', AclOperationTypes.DESCRIBE),
      allow(AclResourceTypes.TOPIC, 'acl-describe', AclOperationTypes.DESCRIBE),
      allow(AclResourceTypes.GROUP, 'acl-group', AclOperationTypes.READ),
    ],
  })
  await admin.createTopics({
    topics: ['acl-read', 'acl-describe'].map((topic) => ({ topic, numPartitions: 1 })),
    waitForLeaders: true,
  })
  for (const topic of ['acl-read', 'acl-describe']) {
    await kafkaProducerSend(topic)
  }
})

async function kafkaProducerSend(topic: string): Promise<void> {
  const producer = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: `v${i}` })) })
  await producer.disconnect()
}

after(async () => {
  await admin?.disconnect().catch(() => {})
  await kafka?.stop()
  pki?.remove()
  if (dir) rmSync(dir, { recursive: true, force: true })
  // Nothing any command printed, in any case, holds a password.
  for (const text of outputs) {
    for (const pw of Object.values(PASSWORDS)) assert.ok(!text.includes(pw), `a SASL password was printed:\n${text}`)
  }
})

interface Listener {
  name: string
  listener: string
  /** Kafka settings as the config file / library take them. */
  kafka: Record<string, unknown>
  /** How the CLI is given them. */
  via: 'flags' | 'env' | 'file'
}

function passwordFile(user: keyof typeof PASSWORDS): string {
  const file = join(dir, `${user}.password`)
  writeFileSync(file, `${PASSWORDS[user]}\n`, { mode: 0o600 })
  return file
}

const tls = () => ({ caFile: pki.ca.certFile })
const sasl = (mechanism: string, user: keyof typeof PASSWORDS = 'alice') => ({
  mechanism: mechanism.toLowerCase(),
  username: user,
  passwordFile: passwordFile(user),
})

function listeners(): Listener[] {
  const out: Listener[] = [
    { name: 'SSL', listener: 'SSL', kafka: { ssl: tls() }, via: 'flags' },
    {
      name: 'SSL with client authentication (mTLS)',
      listener: 'MTLS',
      kafka: { ssl: { ...tls(), certFile: pki.client.certFile, keyFile: pki.client.keyFile } },
      via: 'file',
    },
  ]
  const vias = ['flags', 'env', 'file'] as const
  MECHANISMS.forEach((m, i) => {
    out.push({ name: `SASL_PLAINTEXT ${m}`, listener: 'SASL_PLAINTEXT', kafka: { sasl: sasl(m) }, via: vias[i]! })
    out.push({
      name: `SASL_SSL ${m}`,
      listener: 'SASL_SSL',
      kafka: { ssl: tls(), sasl: sasl(m) },
      via: vias[(i + 1) % 3]!,
    })
  })
  return out
}

/** CLI arguments and env giving `kafkaSettings` the listener's way. */
function cliKafka(l: Listener, command: string, kafkaSettings = l.kafka): { args: string[]; env: NodeJS.ProcessEnv } {
  const brokers = kafka.listeners[l.listener]!
  const on = kafkaSettings.ssl === true
  const ssl = (on ? {} : kafkaSettings.ssl) as Record<string, string> | undefined
  const s = kafkaSettings.sasl as Record<string, string> | undefined
  if (l.via === 'flags') {
    const args = ['--brokers', brokers, ...(on ? ['--ssl'] : [])]
    if (ssl?.caFile) args.push('--ssl-ca-file', ssl.caFile)
    if (ssl?.certFile) args.push('--ssl-cert-file', ssl.certFile, '--ssl-key-file', ssl.keyFile!)
    if (s) args.push('--sasl-mechanism', s.mechanism!, '--sasl-username', s.username!)
    if (s?.passwordFile) args.push('--sasl-password-file', s.passwordFile)
    return { args, env: {} }
  }
  if (l.via === 'env') {
    const env: NodeJS.ProcessEnv = { EVERLOG_BROKERS: brokers, ...(on ? { EVERLOG_KAFKA__SSL: 'true' } : {}) }
    if (ssl?.caFile) env.EVERLOG_KAFKA__SSL__CA_FILE = ssl.caFile
    if (ssl?.certFile) Object.assign(env, { EVERLOG_KAFKA__SSL__CERT_FILE: ssl.certFile })
    if (ssl?.keyFile) Object.assign(env, { EVERLOG_KAFKA__SSL__KEY_FILE: ssl.keyFile })
    if (s) {
      env.EVERLOG_KAFKA__SASL__MECHANISM = s.mechanism
      env.EVERLOG_KAFKA__SASL__USERNAME = s.username
      // The password itself by env here, its file elsewhere: both ways are in the table.
      env.EVERLOG_KAFKA__SASL__PASSWORD = PASSWORDS[s.username as keyof typeof PASSWORDS]
    }
    return { args: [], env }
  }
  const file = join(dir, `${l.listener}-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, JSON.stringify({ brokers: [brokers], kafka: kafkaSettings }))
  return { args: [command === 'archive' ? '--config' : '--kafka-config', file], env: {} }
}

async function ok(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await everlog(args, env)
  assert.equal(r.code, 0, `everlog ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout.slice(-3000)}`)
  return r.stdout
}

describe('every Kafka-facing command over every secured listener of a real Kafka', { skip }, () => {
  for (const l of listeners()) {
    test(`${l.name} (settings by ${l.via}): produce-sample, archive, backup-groups, restore, restore-groups, ArchiveConsumer`, async () => {
      const slug = l.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')
      const topic = `t-${slug}`
      const restored = `${topic}-restored`
      const store = pathToFileURL(join(dir, `archive-${slug}`)).href
      const k = (command: string) => cliKafka(l, command)
      const cmd = (command: string, rest: string[]) => {
        const { args, env } = k(command)
        return ok([command, ...args, ...rest], env)
      }
      await cmd('produce-sample', ['--topic', topic, '--count', String(RECORDS), '--rate', '10000'])
      await cmd('archive', [
        '--topics',
        topic,
        '--store',
        store,
        '--group',
        `archiver-${slug}`,
        '--once',
        '--http-port',
        '0',
        '--segment-max-records',
        '10',
        '--log-level',
        'warn',
      ])
      // An application's group, committed through the admin listener, backed up and moved over the secured one.
      const app = `app-${slug}`
      await admin.setOffsets({ groupId: app, topic, partitions: [{ partition: 0, offset: '12' }] })
      await cmd('backup-groups', ['--store', store, '--groups', app])
      await cmd('restore', ['--store', store, '--topic', topic, '--to-topic', restored])
      await cmd('restore-groups', ['--store', store, '--groups', app, '--topic', topic, '--to-topic', restored])

      const source = await admin.fetchTopicOffsets(topic)
      const target = await admin.fetchTopicOffsets(restored)
      assert.equal(source[0]!.high, String(RECORDS))
      assert.equal(target[0]!.high, String(RECORDS), 'restore wrote every archived record')
      const moved = await admin.fetchOffsets({ groupId: app, topics: [restored] })
      assert.equal(moved[0]!.partitions[0]!.offset, '12', 'restore-groups moved the group')

      // An application's ArchiveConsumer, on a kafkajs client with the same settings, reads the history back.
      const settings = loadKafkaSettings({
        env: {},
        overrides: { brokers: kafka.listeners[l.listener], kafka: l.kafka },
      })
      const client = new Kafka({ ...kafkaConnectionConfig(settings), logLevel: logLevel.NOTHING })
      const consumer = new ArchiveConsumer({ kafka: client, archive: store, groupId: `replay-${slug}` })
      const seen: { offset: number; value: string }[] = []
      try {
        await consumer.connect()
        await consumer.subscribe({ topics: [topic], fromBeginning: true })
        let resolveAll!: () => void
        const all = new Promise<void>((r) => (resolveAll = r))
        await consumer.run({
          eachMessage: async ({ message }) => {
            seen.push({ offset: Number(message.offset), value: message.value!.toString() })
            if (seen.length === RECORDS) resolveAll()
          },
        })
        await all
      } finally {
        await consumer.disconnect()
      }
      assert.deepEqual(
        seen.map((r) => r.offset),
        Array.from({ length: RECORDS }, (_, i) => i),
      )
      assert.ok(
        seen.every((r) => r.value.startsWith('{')),
        'sample orders are JSON',
      )
    })
  }
})

interface Refusal {
  name: string
  listener: string
  kafka: Record<string, unknown>
  expect: RegExp
  env?: NodeJS.ProcessEnv
}

/** One line on stderr starting with "everlog", no stack, a non-zero exit, within the bound. */
function assertRefused(r: Awaited<ReturnType<typeof everlog>>, pattern: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: exit code 0; output:\n${r.stdout.slice(-4000)}`)
  const lines = r.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `${what}: expected one line, got:\n${r.stderr}`)
  assert.match(lines[0]!, /^everlog/, what)
  assert.match(lines[0]!, pattern, what)
  assert.ok(r.ms < 20_000, `${what}: took ${r.ms} ms`)
}

// kafkajs reports a group's refusal as the refusal itself, or (finding the coordinator) as no coordinator at all.
const GROUP_DENIED =
  /Kafka denied User:reader access to consumer group other-group \(GROUP_AUTHORIZATION_FAILED\)|consumer group other-group .*User:reader lacks an ACL allowing DESCRIBE and READ on the group \(GROUP_AUTHORIZATION_FAILED\)/

describe(
  'Kafka refusals a user can act on: one line naming the cause and the setting, in bounded time',
  { skip },
  () => {
    const wrong = () => {
      const file = join(dir, 'wrong.password')
      writeFileSync(file, 'not-the-password\n')
      return file
    }
    const refusals = (): Refusal[] => [
      {
        name: 'wrong password (SASL_SSL SCRAM-SHA-512)',
        listener: 'SASL_SSL',
        kafka: { ssl: tls(), sasl: { mechanism: 'scram-sha-512', username: 'alice', passwordFile: wrong() } },
        expect: /SASL scram-sha-512 authentication as "alice" failed at 127\.0\.0\.1:\d+ .*kafka\.sasl\.password/,
      },
      {
        name: 'wrong password (SASL_PLAINTEXT PLAIN)',
        listener: 'SASL_PLAINTEXT',
        kafka: { sasl: { mechanism: 'plain', username: 'alice', passwordFile: wrong() } },
        expect: /SASL plain authentication as "alice" failed .*--sasl-password-file/,
      },
      {
        name: 'unknown SASL mechanism',
        listener: 'SASL_PLAINTEXT',
        kafka: { sasl: { mechanism: 'gssapi', username: 'alice', passwordFile: passwordFile('alice') } },
        expect: /kafka\.sasl\.mechanism: .*"plain".*"scram-sha-512".*"aws-msk-iam".*\(got "gssapi"\)/,
      },
      {
        name: 'a mechanism the listener does not offer (aws-msk-iam on SASL_PLAINTEXT)',
        listener: 'SASL_PLAINTEXT',
        kafka: { sasl: { mechanism: 'aws-msk-iam', region: 'us-east-1' } },
        env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'test-secret-key-not-real' },
        expect: /does not offer SASL mechanism aws-msk-iam on this listener: check kafka\.sasl\.mechanism/,
      },
      {
        name: 'untrusted certificate (no CA given)',
        listener: 'SSL',
        kafka: { ssl: true },
        expect: /certificate of Kafka broker 127\.0\.0\.1:\d+ is not trusted \(\w+\): set kafka\.ssl\.caFile/,
      },
      {
        name: 'certificate for another host name',
        listener: 'WRONGHOST',
        kafka: { ssl: tls() },
        expect: /certificate of Kafka broker 127\.0\.0\.1:\d+ is for another host name .*kafka\.ssl\.servername/,
      },
      {
        name: 'expired certificate',
        listener: 'EXPIRED',
        kafka: { ssl: tls() },
        expect: /certificate of Kafka broker 127\.0\.0\.1:\d+ has expired/,
      },
      {
        name: 'mTLS listener without a client certificate',
        listener: 'MTLS',
        kafka: { ssl: tls() },
        expect: /requires a client certificate \(mutual TLS\): set kafka\.ssl\.certFile and kafka\.ssl\.keyFile/,
      },
      {
        name: 'mTLS with a client certificate of an untrusted CA',
        listener: 'MTLS',
        kafka: { ssl: { ...tls(), certFile: pki.untrustedClient.certFile, keyFile: pki.untrustedClient.keyFile } },
        expect: /refused the client certificate .*kafka\.ssl\.certFile/,
      },
      {
        name: 'no TLS to a TLS listener',
        listener: 'SASL_SSL',
        kafka: { sasl: sasl('SCRAM-SHA-512') },
        expect: /Kafka broker 127\.0\.0\.1:\d+ hung up on a plaintext request: .*turn TLS on with --ssl/,
      },
      {
        name: 'TLS to a listener without TLS',
        listener: 'SASL_PLAINTEXT',
        kafka: { ssl: tls() },
        expect: /does not speak TLS on that port/,
      },
    ]

    test('produce-sample, restore and backup-groups: wrong password, mechanism, certificates', async () => {
      for (const c of refusals()) {
        const l: Listener = { name: c.name, listener: c.listener, kafka: c.kafka, via: 'file' }
        const { args } = cliKafka(l, 'produce-sample')
        const r = await everlog(['produce-sample', ...args, '--topic', 'refused', '--count', '1'], c.env)
        assertRefused(r, c.expect, c.name)
      }
      // The same refusals through the other commands, by flags, on an archive made over the admin listener.
      const store = pathToFileURL(join(dir, 'archive-for-refusals')).href
      await ok(
        [
          'archive',
          '--brokers',
          kafka.bootstrap,
          '--topics',
          'acl-read',
          '--store',
          store,
          '--once',
          '--http-port',
          '0',
        ],
        {},
      )
      const [badPassword, , , , untrusted] = refusals()
      for (const c of [badPassword!, untrusted!]) {
        const l: Listener = { name: c.name, listener: c.listener, kafka: c.kafka, via: 'flags' }
        const { args } = cliKafka(l, 'restore')
        assertRefused(
          await everlog(['restore', ...args, '--store', store, '--topic', 'acl-read', '--to-topic', 'x']),
          c.expect,
          c.name,
        )
        assertRefused(await everlog(['backup-groups', ...args, '--store', store, '--groups', 'g']), c.expect, c.name)
        // --verbose shows the cause in full, but still no password (checked for every output after the file).
        const verbose = await everlog(['backup-groups', ...args, '--store', store, '--groups', 'g', '--verbose'])
        assert.match(verbose.stderr, c.expect)
      }
    })

    test('archive: a wrong password and an untrusted certificate end the archiver at once with the cause', async () => {
      const [badPassword, , , , untrusted, , expired] = refusals()
      for (const c of [badPassword!, untrusted!, expired!]) {
        const l: Listener = { name: c.name, listener: c.listener, kafka: c.kafka, via: 'file' }
        const { args } = cliKafka(l, 'archive')
        const store = pathToFileURL(join(dir, 'archive-refused')).href
        const r = await everlog([
          'archive',
          ...args,
          '--topics',
          'acl-read',
          '--store',
          store,
          '--once',
          '--http-port',
          '0',
          '--log-level',
          'silent',
        ])
        assert.equal(r.code, 1, c.name)
        assertRefused(r, c.expect, c.name)
      }
    })

    test('ACLs: a principal allowed to read one topic and its group archives it, and is told what it lacks elsewhere', async () => {
      const reader: Listener = {
        name: 'reader',
        listener: 'SASL_PLAINTEXT',
        kafka: { sasl: sasl('SCRAM-SHA-256', 'reader') },
        via: 'flags',
      }
      const { args } = cliKafka(reader, 'archive')
      const archive = (topic: string, group: string) =>
        everlog([
          'archive',
          ...args,
          '--topics',
          topic,
          '--group',
          group,
          '--store',
          pathToFileURL(join(dir, `archive-acl-${topic}-${group}`)).href,
          '--once',
          '--http-port',
          '0',
          '--log-level',
          'info',
        ])
      const allowed = await archive('acl-read', 'acl-group')
      assert.equal(allowed.code, 0, allowed.stderr)
      assertRefused(
        await archive('acl-describe', 'acl-group'),
        /Kafka denied User:reader access to topic acl-describe \(TOPIC_AUTHORIZATION_FAILED\): an ACL must allow DESCRIBE and READ/,
        'topic without READ',
      )
      assertRefused(await archive('acl-read', 'other-group'), GROUP_DENIED, 'group without READ')
      const store = pathToFileURL(join(dir, 'archive-acl-acl-read-acl-group')).href
      assertRefused(
        await everlog(['backup-groups', ...args, '--store', store, '--groups', 'other-group']),
        GROUP_DENIED,
        'backup-groups of a group without DESCRIBE',
      )
      assertRefused(
        await everlog(['produce-sample', ...args, '--topic', 'acl-read', '--count', '1']),
        /Kafka denied User:reader (access to topic acl-read|a cluster operation)/,
        'produce without WRITE',
      )
    })
  },
)

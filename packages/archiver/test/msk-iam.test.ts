// MSK IAM against a local token-checking stand-in (Amazon MSK cannot run here): tokens signed by AWS's signer
// library from the standard AWS credential chain are accepted only when their SigV4 signature, region and expiry
// hold, a wrong secret is a one-line authentication error, and tokens are renewed before they expire while a
// connection re-authenticates.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KafkaAuthenticationError } from '@everlog/core'
import kafkajs from 'kafkajs'
import { loadKafkaSettings } from '../src/config.js'
import { kafkaConnectionConfig } from '../src/kafka.js'
import { explainKafkaError } from '../src/kafka-errors.js'
import { mskIamTokenProvider, mskRegionOf } from '../src/msk-iam.js'
import { startMskIamStandin } from './msk-iam-standin.js'
import type { MskIamStandin } from './msk-iam-standin.js'

const { Kafka, logLevel } = kafkajs
const REGION = 'eu-west-1'
const KEY = 'AKIAEVERLOGTEST0001'
const SECRET = 'everlog/test+secret/key-0001-never-real'
const SHORT_KEY = 'ASIAEVERLOGSHORT0001'
const SHORT_SECRET = 'everlog/short+lived/secret-0001'

let standin: MskIamStandin
let dir: string
const AWS_VARS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_REGION',
]
const saved = new Map(AWS_VARS.map((k) => [k, process.env[k]]))

/** The process environment as the AWS credential chain reads it: only what `vars` sets, nothing from this machine. */
function awsEnv(vars: Record<string, string>): void {
  for (const k of AWS_VARS) delete process.env[k]
  Object.assign(process.env, {
    AWS_CONFIG_FILE: join(dir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...vars,
  })
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'everlog-msk-iam-'))
  standin = await startMskIamStandin({ region: REGION, secrets: { [KEY]: SECRET, [SHORT_KEY]: SHORT_SECRET } })
})

after(async () => {
  await standin?.close()
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  rmSync(dir, { recursive: true, force: true })
})

function client() {
  const settings = loadKafkaSettings({
    env: {},
    overrides: { brokers: standin.address, kafka: { sasl: { mechanism: 'aws-msk-iam', region: REGION } } },
  })
  return {
    settings,
    kafka: new Kafka({ ...kafkaConnectionConfig(settings), logLevel: logLevel.NOTHING, retry: { retries: 0 } }),
  }
}

describe('MSK IAM against a local token-checking stand-in', () => {
  test('a token signed from the standard credential chain (env) passes the signature, region and expiry checks', async () => {
    awsEnv({ AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET })
    const { kafka } = client()
    const admin = kafka.admin()
    const from = standin.auths.length
    await admin.connect()
    assert.deepEqual(await admin.listTopics(), [])
    await admin.disconnect()
    const auths = standin.auths.slice(from)
    assert.ok(auths.length >= 1)
    for (const a of auths) {
      assert.equal(a.ok, true, a.reason)
      assert.equal(a.accessKeyId, KEY)
      // 15 minutes is the most a token lives.
      assert.ok(a.expiresAt! - a.at <= 900_000 && a.expiresAt! - a.at > 800_000)
    }
  })

  test('a wrong secret key is refused by the stand-in and reported as one line naming what to check', async () => {
    awsEnv({ AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: 'not-the-secret' })
    const { kafka, settings } = client()
    const admin = kafka.admin()
    const from = standin.auths.length
    const started = Date.now()
    const err = await admin.connect().then(
      () => assert.fail('connected with a wrong secret'),
      (e: unknown) => explainKafkaError(e, settings),
    )
    assert.ok(Date.now() - started < 10_000)
    assert.ok(err instanceof KafkaAuthenticationError, String(err))
    assert.equal(err.code, 'KAFKA_AUTHENTICATION')
    assert.match(
      err.message,
      /^SASL aws-msk-iam authentication failed at 127\.0\.0\.1:\d+ \(.*signature does not match/,
    )
    assert.match(err.message, /AWS credentials .* kafka-cluster:Connect/)
    assert.ok(!err.message.includes('\n') && !err.message.includes('not-the-secret'))
    assert.equal(standin.auths.slice(from)[0]?.reason, 'the signature does not match')
  })

  test('no AWS credentials at all: one typed error, not a retry loop', async () => {
    awsEnv({})
    const { kafka, settings } = client()
    const admin = kafka.admin()
    const err = explainKafkaError(
      await admin.connect().then(
        () => undefined,
        (e: unknown) => e,
      ),
      settings,
    )
    assert.ok(err instanceof KafkaAuthenticationError, String(err))
    assert.match(err.message, /aws-msk-iam: could not sign a token: .*AWS_PROFILE/)
  })

  test('tokens are renewed before they expire: short-lived credentials from credential_process, live re-authentication', async () => {
    // The standard chain's credential_process, handing out credentials that expire 6 s after they are asked for:
    // the signer caps a token's life at its credentials', so the stand-in ends each session within 6 s.
    const script = join(dir, 'credentials.cjs')
    writeFileSync(
      script,
      `const exp = new Date(Math.floor(Date.now() / 1000) * 1000 + 6000).toISOString()
process.stdout.write(JSON.stringify({ Version: 1, AccessKeyId: ${JSON.stringify(SHORT_KEY)},
  SecretAccessKey: ${JSON.stringify(SHORT_SECRET)}, SessionToken: 'session-token-1', Expiration: exp }))\n`,
    )
    writeFileSync(join(dir, 'config'), `[default]\ncredential_process = ${process.execPath} ${script}\n`)
    awsEnv({ AWS_CONFIG_FILE: join(dir, 'config') })
    const { kafka } = client()
    const admin = kafka.admin()
    const from = standin.auths.length
    await admin.connect()
    // Requests for 14 s, more than two token lives: kafkajs re-authenticates the connection before the session
    // ends, and every token it presents must still be valid.
    const until = Date.now() + 14_000
    while (Date.now() < until) {
      assert.deepEqual(await admin.listTopics(), [])
      await new Promise((r) => setTimeout(r, 250))
    }
    await admin.disconnect()
    const auths = standin.auths.slice(from)
    for (const a of auths) assert.equal(a.ok, true, a.reason)
    const tokens = new Set(auths.map((a) => a.token))
    assert.ok(tokens.size >= 3, `expected fresh tokens as each expired, saw ${tokens.size}`)
    assert.ok(
      auths.some((a) => a.reauthentication),
      'the live connection re-authenticated',
    )
    for (const a of auths) assert.equal(a.accessKeyId, SHORT_KEY)
  })

  test('the token provider reuses a token for 80% of its life, then signs a new one', async () => {
    let clock = 1_700_000_000_000
    let signed = 0
    const provider = mskIamTokenProvider({
      region: REGION,
      now: () => clock,
      credentials: async () => {
        signed++
        return { accessKeyId: KEY, secretAccessKey: SECRET }
      },
    })
    const first = await provider()
    clock += 60_000
    assert.equal((await provider()).value, first.value)
    assert.equal(signed, 1)
    // Tokens live 900 s (from the signing time the signer reads off the real clock); 80% of that has passed here.
    clock += 900_000
    await provider()
    assert.equal(signed, 2)
  })

  test('the region comes from MSK broker host names when not given', () => {
    assert.equal(mskRegionOf(['b-1.demo.abc123.c2.kafka.us-east-1.amazonaws.com:9098']), 'us-east-1')
    assert.equal(mskRegionOf(['boot-abc.c1.kafka-serverless.eu-central-1.amazonaws.com:9098']), 'eu-central-1')
    assert.equal(mskRegionOf(['localhost:9092']), undefined)
  })
})

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { ConfigError } from '@everlog/core'
import { loadConfig, loadKafkaSettings } from '../src/config.js'
import { kafkaClientConfig, kafkaConnectionConfig } from '../src/kafka.js'
import { createLogger, redactUrl } from '../src/logger.js'

const dir = mkdtempSync(join(tmpdir(), 'everlog-archiver-kafka-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const logger = createLogger('silent')
const base = { brokers: 'a:9092,b:9093', topics: 't', store: 'file:///x' }

describe('kafkajs client settings from the configuration', () => {
  test('brokers, client id, timeouts and SASL pass through', () => {
    const config = loadConfig({
      env: {},
      overrides: {
        ...base,
        kafka: {
          clientId: 'arch-1',
          connectionTimeout: '5s',
          requestTimeout: '45s',
          sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
        },
      },
    })
    const k = kafkaClientConfig(config, logger)
    assert.deepEqual(k.brokers, ['a:9092', 'b:9093'])
    assert.equal(k.clientId, 'arch-1')
    assert.equal(k.connectionTimeout, 5000)
    assert.equal(k.requestTimeout, 45_000)
    assert.deepEqual(k.sasl, { mechanism: 'scram-sha-256', username: 'u', password: 'p' })
    assert.equal(k.ssl, undefined)
  })

  test('TLS: true, or PEM files read at start; a missing file names its setting', () => {
    assert.equal(
      kafkaClientConfig(loadConfig({ env: {}, overrides: { ...base, kafka: { ssl: 'true' } } }), logger).ssl,
      true,
    )
    const ca = join(dir, 'ca.pem')
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    const tls = kafkaClientConfig(
      loadConfig({ env: {}, overrides: { ...base, kafka: { ssl: { caFile: ca, rejectUnauthorized: false } } } }),
      logger,
    ).ssl as { ca: Buffer[]; rejectUnauthorized: boolean }
    assert.match(tls.ca[0]!.toString(), /BEGIN CERTIFICATE/)
    assert.equal(tls.rejectUnauthorized, false)
    assert.throws(
      () =>
        kafkaClientConfig(
          loadConfig({ env: {}, overrides: { ...base, kafka: { ssl: { certFile: join(dir, 'nope.pem') } } } }),
          logger,
        ),
      (err: unknown) => err instanceof ConfigError && /kafka\.ssl\.certFile: cannot read .*nope\.pem/.test(err.message),
    )
  })

  test('the SASL password from a file (its trailing newline dropped); a missing file names the setting, not a secret', () => {
    const file = join(dir, 'password')
    writeFileSync(file, 'file-Secret-77\n')
    const settings = loadKafkaSettings({
      env: {},
      overrides: {
        brokers: 'a:9092',
        kafka: { sasl: { mechanism: 'scram-sha-512', username: 'u', passwordFile: file } },
      },
    })
    assert.deepEqual(kafkaConnectionConfig(settings).sasl, {
      mechanism: 'scram-sha-512',
      username: 'u',
      password: 'file-Secret-77',
    })
    const missing = loadKafkaSettings({
      env: {},
      overrides: {
        brokers: 'a:9092',
        kafka: { sasl: { mechanism: 'plain', username: 'u', passwordFile: `${file}.x` } },
      },
    })
    assert.throws(
      () => kafkaConnectionConfig(missing),
      (err: unknown) =>
        err instanceof ConfigError && /kafka\.sasl\.passwordFile: cannot read .*password\.x/.test(err.message),
    )
  })

  test('every TLS and SASL field has its env name, and --ssl over env files keeps them', () => {
    const settings = loadKafkaSettings({
      env: {
        EVERLOG_BROKERS: 'k1:9093,k2:9093',
        EVERLOG_KAFKA__SSL__CA_FILE: '/etc/ca.pem',
        EVERLOG_KAFKA__SSL__CERT_FILE: '/etc/client.pem',
        EVERLOG_KAFKA__SSL__KEY_FILE: '/etc/client.key',
        EVERLOG_KAFKA__SASL__MECHANISM: 'scram-sha-256',
        EVERLOG_KAFKA__SASL__USERNAME: 'env-user',
        EVERLOG_KAFKA__SASL__PASSWORD_FILE: '/run/secrets/pw',
        EVERLOG_TOPICS: 'ignored-here',
      },
      overrides: { kafka: { ssl: true } },
    })
    assert.deepEqual(settings.brokers, ['k1:9093', 'k2:9093'])
    assert.deepEqual(settings.kafka.ssl, {
      caFile: '/etc/ca.pem',
      certFile: '/etc/client.pem',
      keyFile: '/etc/client.key',
    })
    assert.deepEqual(settings.kafka.sasl, {
      mechanism: 'scram-sha-256',
      username: 'env-user',
      passwordFile: '/run/secrets/pw',
    })
  })

  test('SASL settings are checked per mechanism, naming each field', () => {
    const message = (sasl: Record<string, unknown>) => {
      try {
        loadKafkaSettings({ env: {}, overrides: { brokers: 'a:9092', kafka: { sasl } } })
      } catch (err) {
        assert.ok(err instanceof ConfigError)
        return err.message
      }
      assert.fail('expected a ConfigError')
    }
    assert.match(message({ mechanism: 'plain' }), /kafka\.sasl\.username: needed by plain/)
    assert.match(
      message({ mechanism: 'plain' }),
      /kafka\.sasl\.password: needed by plain: set kafka\.sasl\.password or/,
    )
    assert.match(
      message({ mechanism: 'plain', username: 'u', password: 'p', passwordFile: '/x' }),
      /kafka\.sasl\.passwordFile: give kafka\.sasl\.password or kafka\.sasl\.passwordFile, not both/,
    )
    const iam = message({ mechanism: 'aws-msk-iam', username: 'u', password: 'iam-Secret-3' })
    assert.match(iam, /kafka\.sasl\.username: not used by aws-msk-iam/)
    assert.ok(!iam.includes('iam-Secret-3'))
  })

  test('aws-msk-iam: an OAUTHBEARER provider; the region from the broker names, else AWS_REGION, else an error', async () => {
    const msk = loadKafkaSettings({
      env: {},
      overrides: {
        brokers: 'b-1.demo.abc123.c2.kafka.eu-north-1.amazonaws.com:9098',
        kafka: { ssl: true, sasl: { mechanism: 'aws-msk-iam' } },
      },
    })
    const sasl = kafkaConnectionConfig(msk, {
      awsCredentials: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }),
    }).sasl as { mechanism: string; oauthBearerProvider: () => Promise<{ value: string }> }
    assert.equal(sasl.mechanism, 'oauthbearer')
    const url = new URL(Buffer.from((await sasl.oauthBearerProvider()).value, 'base64url').toString())
    assert.equal(url.host, 'kafka.eu-north-1.amazonaws.com')
    const local = loadKafkaSettings({
      env: {},
      overrides: { brokers: 'localhost:9098', kafka: { sasl: { mechanism: 'aws-msk-iam' } } },
    })
    assert.throws(
      () => kafkaConnectionConfig(local, {}, {}),
      /kafka\.sasl\.region: aws-msk-iam needs the cluster region/,
    )
    assert.doesNotThrow(() => kafkaConnectionConfig(local, {}, { AWS_REGION: 'us-west-2' }))
  })

  test('URLs are logged without credentials', () => {
    assert.equal(redactUrl('s3://AKID:secret@bucket/prefix'), 's3://[redacted]@bucket/prefix')
    assert.equal(redactUrl('file:///var/lib/everlog'), 'file:///var/lib/everlog')
  })
})

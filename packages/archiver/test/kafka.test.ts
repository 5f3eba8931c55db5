import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { ConfigError } from '@everlog/core'
import { loadConfig } from '../src/config.js'
import { kafkaClientConfig } from '../src/kafka.js'
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

  test('URLs are logged without credentials', () => {
    assert.equal(redactUrl('s3://AKID:secret@bucket/prefix'), 's3://[redacted]@bucket/prefix')
    assert.equal(redactUrl('file:///var/lib/everlog'), 'file:///var/lib/everlog')
  })
})

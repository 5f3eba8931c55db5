import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { ConfigError } from '@everlog/core'
import { loadConfig, parseConfig, selectTopics, topicSelector } from '../src/config.js'

const dir = mkdtempSync(join(tmpdir(), 'everlog-archiver-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const minimal = { brokers: 'localhost:9092', topics: 'orders', store: 'file:///var/lib/everlog' }

function configError(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.equal(err.code, 'CONFIG')
    return err.message
  }
  assert.fail('expected a ConfigError')
}

describe('archiver configuration', () => {
  test('defaults fill everything but brokers, topics and store', () => {
    const c = loadConfig({ env: {}, overrides: minimal })
    assert.deepEqual(c.brokers, ['localhost:9092'])
    assert.deepEqual(c.topics, ['orders'])
    assert.equal(c.group, 'everlog-archiver')
    assert.equal(c.startFrom, 'earliest')
    assert.equal(c.onDataLoss, 'continue')
    assert.equal(c.once, false)
    assert.equal(c.http.port, 9464)
    assert.equal(c.segment.maxBytes, 32 * 1024 * 1024)
    assert.equal(c.segment.maxAgeMs, 300_000)
    assert.equal(c.segment.compression, 'zstd')
    assert.equal(c.maxBufferedBytes, 64 * 1024 * 1024)
    assert.equal(c.kafka.maxBytes, 8 * 1024 * 1024)
    assert.equal(c.kafka.maxBytesPerPartition, 1024 * 1024)
  })

  test('file < env < flags, with units for sizes and durations', () => {
    const file = join(dir, 'archiver.yaml')
    writeFileSync(
      file,
      [
        'brokers: [a:9092, b:9092]',
        'topics: [orders, payments]',
        'store: s3://bucket/prefix',
        'group: from-file',
        'segment:',
        '  maxBytes: 16MiB',
        '  maxAgeMs: 2m',
        'kafka:',
        '  sasl: { mechanism: scram-sha-512, username: archiver, password: from-file }',
      ].join('\n'),
    )
    const c = loadConfig({
      file,
      env: { EVERLOG_GROUP: 'from-env', EVERLOG_SEGMENT__MAX_RECORDS: '5000', EVERLOG_KAFKA__SASL__PASSWORD: 'env-pw' },
      overrides: { group: 'from-flags', once: 'true' },
    })
    assert.deepEqual(c.brokers, ['a:9092', 'b:9092'])
    assert.deepEqual(c.topics, ['orders', 'payments'])
    assert.equal(c.group, 'from-flags')
    assert.equal(c.once, true)
    assert.equal(c.segment.maxBytes, 16 * 1024 * 1024)
    assert.equal(c.segment.maxAgeMs, 120_000)
    assert.equal(c.segment.maxRecords, 5000)
    assert.deepEqual(c.kafka.sasl, { mechanism: 'scram-sha-512', username: 'archiver', password: 'env-pw' })
  })

  test('a JSON file works too, and a regex selector picks matching non-internal topics', () => {
    const file = join(dir, 'archiver.json')
    writeFileSync(file, JSON.stringify({ ...minimal, topics: '/^orders\\..+/' }))
    const c = loadConfig({ file, env: {} })
    const selector = topicSelector(c.topics)
    assert.equal(selector.kind, 'pattern')
    assert.deepEqual(selectTopics(selector, ['orders.eu', 'orders', 'payments', '__consumer_offsets', 'orders.us']), [
      'orders.eu',
      'orders.us',
    ])
  })

  test('every bad field is reported with its exact path, what is allowed and where it came from', () => {
    const message = configError(() =>
      loadConfig({
        env: { EVERLOG_SEGMENT__MAX_AGE_MS: 'soon' },
        overrides: {
          brokers: 'no-port',
          topics: ['ok', 'bad topic'],
          store: 'ftp://host/x',
          startFrom: 'middle',
          segment: { maxBytes: '0', colour: 'red' },
          kafka: { sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } },
          http: { port: 70000 },
        },
      }),
    )
    const lines = message.split('\n').map((l) => l.trim())
    assert.equal(lines[0], 'invalid archiver configuration:')
    const expect = (prefix: string, ...parts: string[]) => {
      const line = lines.find((l) => l.startsWith(`${prefix}:`))
      assert.ok(line, `no line for ${prefix} in:\n${message}`)
      for (const p of parts) assert.ok(line.includes(p), `"${line}" should mention ${p}`)
    }
    expect('brokers.0', 'host:port', '[from flags]')
    expect('topics.1', 'Kafka topic name', '"bad topic"')
    expect('store', 's3://bucket/prefix', '"ftp://host/x"')
    expect('startFrom', '"earliest"', '"latest"', '"middle"')
    expect('segment.maxBytes', 'at least 1')
    expect('segment.colour', 'unknown setting')
    expect('segment.maxAgeMs', 'duration', '"soon"', 'env EVERLOG_SEGMENT__MAX_AGE_MS')
    expect('kafka.sasl.mechanism', '"plain"', '"scram-sha-256"', '"scram-sha-512"', '"gssapi"')
    expect('http.port', '65535')
  })

  test('missing required settings are named', () => {
    const message = configError(() => parseConfig({}))
    for (const field of ['brokers', 'topics', 'store']) assert.match(message, new RegExp(`^  ${field}: `, 'm'))
  })

  test('an invalid regular expression is rejected', () => {
    const message = configError(() => loadConfig({ env: {}, overrides: { ...minimal, topics: '/orders[/' } }))
    assert.match(message, /topics: is not a valid regular expression/)
  })

  test('a password never appears in a configuration error', () => {
    const message = configError(() =>
      loadConfig({
        env: { EVERLOG_KAFKA__SASL__PASSWORD: 's3cr3t-value' },
        overrides: { ...minimal, kafka: { sasl: { mechanism: 'bogus', username: 'u' } } },
      }),
    )
    assert.match(message, /kafka\.sasl\.mechanism/)
    assert.ok(!message.includes('s3cr3t-value'))
    const empty = configError(() =>
      loadConfig({
        env: {},
        overrides: { ...minimal, kafka: { sasl: { mechanism: 'plain', username: 'u', password: 7 } } },
      }),
    )
    assert.match(empty, /kafka\.sasl\.password/)
    assert.ok(!empty.includes('7)'))
  })

  test('an unreadable or malformed file is a ConfigError naming the file', () => {
    assert.match(
      configError(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })),
      /cannot read config file .*missing\.yaml/,
    )
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{ not json')
    assert.match(
      configError(() => loadConfig({ file: bad, env: {} })),
      /bad\.json is not valid JSON/,
    )
  })

  test('flags win over env, and unrelated EVERLOG_* variables are ignored', () => {
    const c = loadConfig({ env: { EVERLOG_STORE: 'memory://x', EVERLOG_SOMETHING_ELSE: '1' }, overrides: minimal })
    assert.equal(c.store, 'file:///var/lib/everlog')
  })
})

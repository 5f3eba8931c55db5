// The archiver proves the store fences HEAD before its first write: a store that accepts a second create-if-absent
// or a stale replace-if-match stops it (nothing written), unless conditionalWrites is unsafe-single-writer; a log
// line and a metric say which mode is in force.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConditionalWritesUnsupportedError, MemoryStore } from '@everlog/core'
import type { ObjectStore, PutOptions } from '@everlog/core'
import { Archiver } from '../src/archiver.js'
import { loadConfig } from '../src/config.js'
import { LogSink, broker, producer, useBroker } from './support.js'

useBroker()

/** A store whose conditional writes are plain writes, like servers that ignore If-None-Match and If-Match. */
class UnconditionalStore extends MemoryStore implements ObjectStore {
  override putIfAbsent(key: string, body: Uint8Array, options?: PutOptions) {
    return this.put(key, body, options)
  }
  override putIfMatch(key: string, body: Uint8Array, _etag: string, options?: PutOptions) {
    return this.put(key, body, options)
  }
}

async function keys(store: ObjectStore): Promise<string[]> {
  const out: string[] = []
  for await (const info of store.list('')) out.push(info.key)
  return out
}

function config(topic: string, env: Record<string, string> = {}) {
  return loadConfig({
    env: {
      EVERLOG_BROKERS: broker.brokers.join(','),
      EVERLOG_TOPICS: topic,
      EVERLOG_STORE: 'memory://',
      EVERLOG_ONCE: 'true',
      EVERLOG_HTTP__PORT: '0',
      EVERLOG_HTTP__HOST: '127.0.0.1',
      EVERLOG_GROUP: `g-${topic}`,
      ...env,
    },
  })
}

async function modeMetric(a: Archiver): Promise<string> {
  const text = await a.metrics.registry.metrics()
  return text
    .split('\n')
    .filter((l) => l.startsWith('everlog_archiver_conditional_writes_mode{'))
    .sort()
    .join('\n')
}

describe('conditional-write probe', () => {
  test('a store that ignores conditional writes: the archiver refuses to start and writes nothing', async () => {
    const store = new UnconditionalStore()
    const logs = new LogSink()
    const a = new Archiver(config('cw-refused'), { store, logStream: logs, processMetrics: false })
    await assert.rejects(a.start(), (err) => {
      assert.ok(err instanceof ConditionalWritesUnsupportedError, String(err))
      assert.deepEqual(err.unsupported, ['If-None-Match', 'If-Match'])
      assert.match(err.message, /does not honour conditional writes/)
      return true
    })
    assert.deepEqual(await keys(store), ['everlog.probe'], 'nothing but the probe object: no everlog.json')
    assert.ok(
      logs.lines.some((l) => /^archiver failed to start: the store memory:\/\/ does not honour/.test(String(l.msg))),
      logs.text,
    )
  })

  test('EVERLOG_CONDITIONAL_WRITES=unsafe-single-writer: it archives, warns, and the metric says unfenced', async () => {
    const topic = 'cw-unsafe'
    await producer.send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ value: `v${i}` })) })
    const store = new UnconditionalStore()
    const logs = new LogSink()
    const a = new Archiver(config(topic, { EVERLOG_CONDITIONAL_WRITES: 'unsafe-single-writer' }), {
      store,
      logStream: logs,
      processMetrics: false,
    })
    await a.start()
    await a.done
    const warning = logs.lines.find((l) => l.mode === 'unsafe_single_writer')
    assert.equal(warning?.level, 40, 'a warning')
    assert.match(String(warning?.msg), /does not honour If-None-Match and If-Match: running as the single writer/)
    assert.equal(
      await modeMetric(a),
      [
        'everlog_archiver_conditional_writes_mode{mode="fenced"} 0',
        'everlog_archiver_conditional_writes_mode{mode="unsafe_single_writer"} 1',
      ].join('\n'),
    )
    assert.ok(
      (await keys(store)).some((k) => k.endsWith('/HEAD')),
      'it archived',
    )
  })

  test('a store that honours them: fenced, said at start, whatever the setting', async () => {
    const topic = 'cw-fenced'
    await producer.send({ topic, messages: [{ value: 'x' }] })
    const logs = new LogSink()
    const a = new Archiver(config(topic, { EVERLOG_CONDITIONAL_WRITES: 'unsafe-single-writer' }), {
      store: new MemoryStore(),
      logStream: logs,
      processMetrics: false,
    })
    await a.start()
    await a.done
    assert.ok(logs.lines.some((l) => l.msg === 'conditional writes verified: HEAD is fenced' && l.mode === 'fenced'))
    assert.match(await modeMetric(a), /mode="fenced"\} 1/)
  })

  test('an unknown mode is a configuration error naming the field', () => {
    assert.throws(() => config('x', { EVERLOG_CONDITIONAL_WRITES: 'sometimes' }), /conditionalWrites/)
  })
})

// How kafkajs' failures become Everlog's one-line Kafka errors, where no broker is needed to produce them.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KafkaAuthorizationError } from '@everlog/core'
import kafkajs from 'kafkajs'
import { explainKafkaError } from '../src/kafka-errors.js'

test('a group with no coordinator names both causes: a new cluster creating __consumer_offsets, then an ACL', () => {
  // kafkajs raises this after every broker failed FindCoordinator, keeping none of their reasons.
  // (kafkajs' types leave out the message its constructor takes.)
  const NotFound = kafkajs.KafkaJSGroupCoordinatorNotFound as unknown as new (message: string) => Error
  const cause = new NotFound('Failed to find group coordinator')
  const retriesExceeded = new kafkajs.KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 5, retryTime: 3000 })
  for (const err of [cause, retriesExceeded]) {
    const settings = {
      brokers: ['localhost:9092'],
      kafka: { sasl: { mechanism: 'scram-sha-256', username: 'reader' } },
    }
    const explained = explainKafkaError(err, settings as never, { groups: ['everlog-archiver'] })
    assert.ok(explained instanceof KafkaAuthorizationError, `typed: ${String(explained)}`)
    const message = (explained as Error).message
    assert.match(message, /no coordinator for consumer group everlog-archiver/)
    assert.match(message, /__consumer_offsets may still be being created .* try again in a few seconds/)
    assert.match(
      message,
      /if it persists, most likely User:reader lacks an ACL allowing DESCRIBE and READ on the group/,
    )
    assert.ok(
      message.indexOf('__consumer_offsets') < message.indexOf('lacks an ACL'),
      'the transient cause comes first',
    )
  }
})

test('an error kafkajs raises for something else passes through unchanged', () => {
  const err = new kafkajs.KafkaJSConnectionError('Connection timeout')
  assert.equal(explainKafkaError(err, undefined, {}), err)
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { OffsetBook } from '../src/offset-book.js'

test('uncommitted offsets are the resolved ones that differ from the last commit', () => {
  const book = new OffsetBook()
  book.committed('a', 0, 10n)
  book.resolve('a', 0, 15n)
  book.resolve('a', 1, 3n)
  book.resolve('b', 2, 7n)
  book.committed('b', 2, 7n)
  assert.deepEqual(book.uncommitted(), {
    topics: [
      {
        topic: 'a',
        partitions: [
          { partition: 0, offset: '15' },
          { partition: 1, offset: '3' },
        ],
      },
    ],
  })
  assert.equal(book.pendingCount(), 8n)
  book.markCommitted(book.uncommitted().topics)
  assert.deepEqual(book.uncommitted(), { topics: [] })
  assert.equal(book.pendingCount(), 0n)
  // A commit answer never moves the resolved position back.
  book.resolve('a', 0, 20n)
  book.committed('a', 0, 16n)
  assert.equal(book.resolved('a', 0), 20n)
})

test('commitDue follows autoCommitInterval and autoCommitThreshold', () => {
  const book = new OffsetBook()
  const t0 = book.lastCommit
  book.resolve('a', 0, 4n)
  assert.equal(book.commitDue(null, null, t0 + 1_000_000), false)
  assert.equal(book.commitDue(5000, null, t0 + 4999), false)
  assert.equal(book.commitDue(5000, null, t0 + 5000), true)
  assert.equal(book.commitDue(null, 5, t0), false)
  book.resolve('a', 1, 1n)
  assert.equal(book.commitDue(null, 5, t0), true)
  book.forget('a', 1)
  assert.equal(book.commitDue(null, 5, t0), false)
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chooseSource, earliestOffset, initialPosition } from '../src/position.js'
import type { PartitionExtent } from '../src/position.js'

// Archive holds [0, 100); Kafka holds [60, 150).
const overlap: PartitionExtent = { archive: { first: 0n, next: 100n }, kafka: { logStart: 60n, highWatermark: 150n } }

test('archive-first reads the archive wherever it covers the position, then Kafka at its end', () => {
  assert.deepEqual(chooseSource(0n, overlap, 'archive-first'), { kind: 'archive', toOffset: 99n })
  assert.deepEqual(chooseSource(70n, overlap, 'archive-first'), { kind: 'archive', toOffset: 99n })
  assert.deepEqual(chooseSource(100n, overlap, 'archive-first'), { kind: 'kafka' })
  assert.deepEqual(chooseSource(150n, overlap, 'archive-first'), { kind: 'kafka' })
})

test("archive-first below the archive's first offset: Kafka serves up to it, then the archive takes over", () => {
  // A compacted topic archived after the cleaner had emptied 0..29 (or an archive begun at the log end): Kafka's log
  // starts at 0, the archive's first record is 30, and the archive keeps records Kafka may have compacted since.
  const late: PartitionExtent = { archive: { first: 30n, next: 100n }, kafka: { logStart: 0n, highWatermark: 150n } }
  assert.deepEqual(chooseSource(0n, late, 'archive-first'), { kind: 'kafka', until: 30n })
  assert.deepEqual(chooseSource(29n, late, 'archive-first'), { kind: 'kafka', until: 30n })
  assert.deepEqual(chooseSource(30n, late, 'archive-first'), { kind: 'archive', toOffset: 99n })
  assert.deepEqual(chooseSource(100n, late, 'archive-first'), { kind: 'kafka' })
  // kafka-first reads Kafka wherever it has the position, as before.
  assert.deepEqual(chooseSource(0n, late, 'kafka-first'), { kind: 'kafka' })
  assert.equal(initialPosition(undefined, true, late), 0n)
})

test('kafka-first reads the archive only below the log start', () => {
  assert.deepEqual(chooseSource(0n, overlap, 'kafka-first'), { kind: 'archive', toOffset: 59n })
  assert.deepEqual(chooseSource(59n, overlap, 'kafka-first'), { kind: 'archive', toOffset: 59n })
  assert.deepEqual(chooseSource(60n, overlap, 'kafka-first'), { kind: 'kafka' })
  assert.deepEqual(chooseSource(99n, overlap, 'kafka-first'), { kind: 'kafka' })
})

test('offsets in neither place resume at the next offset someone holds', () => {
  // Archive [0, 100), Kafka from 120: 100..119 were lost to retention before archiving.
  const lost: PartitionExtent = { archive: { first: 0n, next: 100n }, kafka: { logStart: 120n, highWatermark: 200n } }
  assert.deepEqual(chooseSource(100n, lost, 'archive-first'), { kind: 'missing', resumeAt: 120n })
  assert.deepEqual(chooseSource(100n, lost, 'kafka-first'), { kind: 'missing', resumeAt: 120n })
  // The archive starts later than the position: resume at its first offset.
  const late: PartitionExtent = { archive: { first: 30n, next: 100n }, kafka: { logStart: 80n, highWatermark: 90n } }
  assert.deepEqual(chooseSource(5n, late, 'archive-first'), { kind: 'missing', resumeAt: 30n })
  // Nothing archived at all.
  const none: PartitionExtent = { kafka: { logStart: 50n, highWatermark: 60n } }
  assert.deepEqual(chooseSource(10n, none, 'archive-first'), { kind: 'missing', resumeAt: 50n })
  assert.deepEqual(chooseSource(50n, none, 'archive-first'), { kind: 'kafka' })
})

test('initial position: committed offset, else earliest over both places, else the high watermark', () => {
  assert.equal(initialPosition(42n, true, overlap), 42n)
  assert.equal(initialPosition(undefined, true, overlap), 0n)
  assert.equal(initialPosition(-1n, false, overlap), 150n)
  assert.equal(
    earliestOffset({ archive: { first: 70n, next: 90n }, kafka: { logStart: 10n, highWatermark: 90n } }),
    10n,
  )
  assert.equal(earliestOffset({ kafka: { logStart: 10n, highWatermark: 90n } }), 10n)
})

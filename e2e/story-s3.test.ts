// The whole story over S3 via HTTP: produce awkward records with every codec -> `everlog archive` (a child process)
// catches up -> retention deletes the history from Kafka -> live records -> an ArchiveConsumer from offset 0 gets
// every record once, in order, byte for byte, across the boundary -> `everlog query` SQL agrees on the figures.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ProducedLog, archiveMismatch, assertExactlyProduced } from './support/records.js'
import { forgetHistoryAndReplay } from './support/replay.js'
import { archiveArgs, archivedUpTo, readArchive, runCli, spawnCli, startStack, waitFor } from './support/stack.js'

const TOPIC = 'story.orders'
const PARTITIONS = 3
const HISTORY = 3000
const LIVE = 300

test('produce -> archive to S3 -> retention -> live -> ArchiveConsumer from 0 -> SQL, every byte checked', async (t) => {
  const stack = await startStack(t, 'story-archive')
  await stack.broker.createTopic(TOPIC, { partitions: PARTITIONS })
  const producer = stack.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  t.after(() => producer.disconnect())
  const log = new ProducedLog(TOPIC, PARTITIONS)
  await log.produce(producer, HISTORY)

  // The archiver is a separate process that knows S3 only through AWS_ENDPOINT_URL and friends.
  const archiver = spawnCli(t, archiveArgs(stack, TOPIC, 'story-archiver'), stack.env)
  await archiver.waitForLog('archiver started')
  const boundary = log.highWatermarks()
  await waitFor(
    async () => (await archivedUpTo(stack.store, TOPIC, PARTITIONS)).every((o, p) => o === boundary[p]),
    60_000,
    () => `the archiver did not catch up with ${boundary.join(',')}; stdout:\n${archiver.stdout}\n${archiver.stderr}`,
  )
  archiver.kill('SIGTERM')
  assert.deepEqual(await archiver.exit, { code: 0, signal: null }, archiver.stderr)
  assert.ok(
    archiver.logs().some((e) => e.msg === 'archiver stopped'),
    'the archiver says it stopped cleanly',
  )

  // What S3 holds is what was produced: read back without Kafka.
  const archived = await readArchive(stack.store, TOPIC, PARTITIONS)
  assertExactlyProduced(log, archived, archiveMismatch, 'the archive in S3')
  const segmentKeys = stack.s3.requests.filter((r) => r.method === 'PUT' && r.key?.includes('/data/partition='))
  assert.ok(segmentKeys.length >= HISTORY / 200, `many small segments were uploaded (${segmentKeys.length})`)

  // Retention deletes the history from Kafka; live records follow; a replay from 0 crosses the boundary.
  await forgetHistoryAndReplay(t, stack, log, producer, boundary, LIVE)
  assert.equal(log.count, HISTORY + LIVE)

  // SQL over the same archive, by `everlog query` as a child process (S3 through a local segment cache).
  const sql = `SELECT count(*) AS records, CAST(sum(octet_length(value)) AS BIGINT) AS value_bytes,
      count(*) FILTER (WHERE value IS NULL) AS tombstones, count(*) FILTER (WHERE key IS NULL) AS null_keys,
      CAST(sum(len(headers)) AS BIGINT) AS headers, count(DISTINCT "partition") AS partitions,
      CAST(sum("offset") AS BIGINT) AS offset_sum
    FROM story_orders`
  const query = await runCli(
    t,
    ['query', '--store', stack.storeUrl, '--format', 'jsonl', '--cache-dir', `${stack.dir}/cache`, sql],
    stack.env,
  )
  assert.equal(query.code, 0, `everlog query failed:\n${query.stdout}\n${query.stderr}`)
  const row = JSON.parse(query.stdout.trim().split('\n')[0]!) as Record<string, unknown>
  const figure = (name: string) => Number(row[name])
  const history = log.partitions.flatMap((records, p) => records.slice(0, Number(boundary[p])))
  assert.equal(figure('records'), HISTORY, 'SQL counts every archived record')
  assert.equal(figure('value_bytes'), log.valueBytes(boundary), 'SQL sums the value bytes that were produced')
  assert.equal(figure('tombstones'), history.filter((r) => r.value === null).length)
  assert.equal(figure('null_keys'), history.filter((r) => r.key === null).length)
  assert.equal(
    figure('headers'),
    history.reduce((n, r) => n + r.headers.length, 0),
  )
  assert.equal(figure('partitions'), PARTITIONS)
  assert.equal(
    figure('offset_sum'),
    boundary.reduce((n, b) => n + (Number(b) * (Number(b) - 1)) / 2, 0),
    'offsets 0..boundary-1 of every partition, each once',
  )
})

// The S3 story, for any S3 server: produce awkward records with every codec -> `everlog archive` (a child process)
// catches up -> retention deletes the history from Kafka -> live records -> an ArchiveConsumer from offset 0 gets
// every record once, in order, byte for byte, across the boundary -> `everlog query` SQL agrees on the figures.
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { FormatError, StoreUnavailableError, topicDataPrefix } from '@everlog/core'
import { ProducedLog, archiveMismatch, assertExactlyProduced } from './records.js'
import { forgetHistoryAndReplay } from './replay.js'
import { archiveArgs, archivedUpTo, readArchive, runCli, spawnCli } from './stack.js'
import type { CliProcess, S3Endpoint, Stack } from './stack.js'
import { waitFor } from './stack.js'

const TOPIC = 'story.orders'
const PARTITIONS = 3
const HISTORY = 3000
const LIVE = 300

export interface S3StoryOptions {
  /** More `everlog archive` flags (e.g. --unsafe-single-writer). */
  archiveFlags?: string[]
  /**
   * A read of HEAD while the archiver replaces it that this store may answer with a torn object or a dropped
   * connection (s3rver writes in place): the progress poll then tries again. Reads after the archiver stopped stay
   * strict.
   */
  tornReadsWhileWriting?: boolean
  /** Checks on the archiver's output once it stopped. */
  onArchiverStopped?: (archiver: CliProcess) => void
}

export async function s3Story(t: TestContext, stack: Stack<S3Endpoint>, options: S3StoryOptions = {}): Promise<void> {
  await stack.broker.createTopic(TOPIC, { partitions: PARTITIONS })
  const producer = stack.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  t.after(() => producer.disconnect())
  const log = new ProducedLog(TOPIC, PARTITIONS)
  await log.produce(producer, HISTORY)

  // The archiver is a separate process that knows S3 only through AWS_ENDPOINT_URL and friends.
  const args = [...archiveArgs(stack, TOPIC, 'story-archiver'), ...(options.archiveFlags ?? [])]
  const archiver = spawnCli(t, args, stack.env)
  await archiver.waitForLog('archiver started')
  const boundary = log.highWatermarks()
  let tornReads = 0
  const archivedNow = async () => {
    try {
      return await archivedUpTo(stack.store, TOPIC, PARTITIONS)
    } catch (err) {
      const torn = err instanceof FormatError || (err instanceof StoreUnavailableError && err.retriable)
      if (!options.tornReadsWhileWriting || !torn || ++tornReads > 20) throw err
      return undefined
    }
  }
  await waitFor(
    async () => (await archivedNow())?.every((o, p) => o === boundary[p]),
    60_000,
    () => `the archiver did not catch up with ${boundary.join(',')}; stdout:\n${archiver.stdout}\n${archiver.stderr}`,
  )
  archiver.kill('SIGTERM')
  assert.deepEqual(await archiver.exit, { code: 0, signal: null }, archiver.stderr)
  assert.ok(
    archiver.logs().some((e) => e.msg === 'archiver stopped'),
    'the archiver says it stopped cleanly',
  )
  options.onArchiverStopped?.(archiver)

  // What S3 holds is what was produced: read back without Kafka.
  const archived = await readArchive(stack.store, TOPIC, PARTITIONS)
  assertExactlyProduced(log, archived, archiveMismatch, 'the archive in S3')
  let segments = 0
  for await (const info of stack.store.list(topicDataPrefix(TOPIC))) if (info.key.endsWith('.parquet')) segments++
  assert.ok(segments >= HISTORY / 200, `many small segments were uploaded (${segments})`)

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
}

// `everlog demo` (also `npm start`): Everlog's whole story on this machine in one command — an embedded broker, a
// file archive, the archiver, retention deleting history from Kafka, an ArchiveConsumer replaying from offset 0
// across the boundary into live Kafka, and SQL over the archive.
import { once } from 'node:events'
import { mkdtemp, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import kafkajs from 'kafkajs'
import { Archiver } from '@everlog/archiver'
import { ArchiveConsumer, ArchiveEvents } from '@everlog/consumer'
import { FileStore, describeTopic, registerKafkaCodecs } from '@everlog/core'
import { startDevBroker } from '@everlog/dev-broker'
import { openQuery } from '@everlog/query'
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import { sampleOrder, samplePrng } from '../demo/sample.js'
import { formatBytes, table } from '../format.js'
import { progress } from '../progress.js'
import type { CliCommand, CommandModule } from '../program.js'

const { Kafka, logLevel, CompressionCodecs, CompressionTypes } = kafkajs

interface DemoFlags {
  dir?: string
  records: string
  live: string
  partitions: string
  keep?: boolean
}

const TOPIC = 'orders'
const HELP = `
What it does, on this machine only (no Docker, no cloud account):
  1. starts the embedded Kafka-wire broker and creates topic "${TOPIC}"
  2. produces sample orders (keys, headers, JSON values, some tombstones)
  3. runs the archiver until the archive has caught up with Kafka
  4. deletes the archived history from Kafka, as retention would
  5. produces more live records, which only Kafka has
  6. replays the topic from offset 0 with an ArchiveConsumer: history from the archive, then live from Kafka
  7. queries the archive with SQL (DuckDB)

Examples:
  $ everlog demo
  $ everlog demo --records 200000 --partitions 8 --dir ./everlog-demo --keep
`

function positive(name: string, value: string, max: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} ${value}: expected an integer 1-${max}`)
  return n
}

export const demoCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    program
      .command('demo')
      .description('the whole story in one command: archive a topic, lose it in Kafka, replay it from offset 0')
      .option('--dir <dir>', 'where the archive is written (default: a new temporary directory)')
      .option('--records <n>', 'records produced (and archived) before retention', '20000')
      .option('--live <n>', 'records produced after retention (only in Kafka)', '2000')
      .option('--partitions <n>', 'partitions of the sample topic', '4')
      .option('--keep', 'leave the broker and archive running afterwards, with commands to explore them')
      .addHelpText('after', HELP)
      .action(async (flags: DemoFlags) => runDemo(flags, context))
  },
}

async function runDemo(flags: DemoFlags, context: CliContext): Promise<void> {
  const historical = positive('records', flags.records, 10_000_000)
  const live = positive('live', flags.live, 10_000_000)
  const partitions = positive('partitions', flags.partitions, 256)
  const out = (line: string) => write(context.stdout, `${line}\n`)
  const dir = flags.dir ? resolve(flags.dir) : await mkdtemp(join(tmpdir(), 'everlog-demo-'))
  await mkdir(dir, { recursive: true })
  const storeUrl = pathToFileURL(dir).href
  registerKafkaCodecs(CompressionCodecs)

  await out(`Everlog demo — archive in ${dir}\n`)
  const broker = await startDevBroker({ port: flags.keep ? 9092 : 0, defaultPartitions: partitions }).catch(() =>
    startDevBroker({ port: 0, defaultPartitions: partitions }),
  )
  const kafka = new Kafka({ clientId: 'everlog-demo', brokers: broker.brokers, logLevel: logLevel.NOTHING })
  try {
    // 1-2. Topic and history.
    await out(`1. Dev broker on ${broker.address}; topic "${TOPIC}" with ${partitions} partitions`)
    broker.createTopic(TOPIC, { partitions })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const rand = samplePrng()
    const t0 = Date.now() - historical * 100 // history spread over the past, 100 ms apart
    let rawBytes = 0
    const produce = async (from: number, count: number, label: string, spacingMs: number, start: number) => {
      const bar = progress(context.stderr, label)
      for (let i = 0; i < count; i += 1000) {
        const messages = []
        for (let n = from + i; n < from + Math.min(i + 1000, count); n++) {
          const m = sampleOrder(n, rand, start + (n - from) * spacingMs)
          rawBytes += Buffer.byteLength(m.key as string) + (m.value === null ? 0 : Buffer.byteLength(m.value as string))
          messages.push(m)
        }
        await producer.send({ topic: TOPIC, compression: CompressionTypes.ZSTD, messages })
        bar.update(Math.min(i + 1000, count), count)
      }
      bar.stop()
    }
    await produce(0, historical, '2. producing history', 100, t0)
    await out(`2. Produced ${historical} orders (keys, headers, JSON values, tombstones), zstd-compressed`)

    // 3. Archive until caught up.
    const archiveBar = progress(context.stderr, '3. archiving')
    const archiver = new Archiver(
      {
        brokers: broker.brokers,
        topics: [TOPIC],
        store: storeUrl,
        group: 'everlog-demo-archiver',
        once: true,
        segment: { maxRecords: Math.max(1000, Math.ceil(historical / partitions / 5)) },
        http: { port: 0, host: '127.0.0.1' },
        logLevel: 'silent',
        progressIntervalMs: 0,
      },
      { processMetrics: false },
    )
    const store = new FileStore(dir)
    const archivedRecords = async () =>
      (await describeTopic(store, TOPIC).catch(() => undefined))?.partitions.reduce(
        (n, p) => n + (p.head?.records ?? 0),
        0,
      ) ?? 0
    const started = performance.now()
    await archiver.start()
    const poll = setInterval(() => {
      void archivedRecords().then((n) => archiveBar.update(n, historical))
    }, 250)
    try {
      await archiver.done
    } finally {
      clearInterval(poll)
    }
    const archiveSeconds = (performance.now() - started) / 1000
    const described = await describeTopic(store, TOPIC)
    const archived = described.partitions.reduce((n, p) => n + (p.head?.records ?? 0), 0)
    const archiveBytes = described.partitions.reduce((n, p) => n + (p.head?.bytes ?? 0), 0)
    const segments = described.partitions.reduce((n, p) => n + (p.head?.segments ?? 0), 0)
    archiveBar.update(archived, historical)
    archiveBar.stop()
    await out(`3. Archived ${archived} records in ${segments} Parquet segments in ${archiveSeconds.toFixed(1)} s`)

    // 4. Retention: Kafka forgets what the archive holds.
    const boundaries = new Map<number, bigint>()
    for (const p of described.partitions) {
      const next = p.head?.nextOffset ?? 0n
      broker.deleteRecords(TOPIC, p.partition, Number(next))
      boundaries.set(p.partition, next)
    }
    await out(`4. Deleted the archived history from Kafka (log start moved to the archive's end in every partition)`)

    // 5. Live records.
    await produce(historical, live, '5. producing live', 10, Date.now())
    await producer.disconnect()
    await out(`5. Produced ${live} live orders that only Kafka has`)

    // 6. Replay from offset 0.
    const total = historical + live
    const consumer = new ArchiveConsumer({ kafka, archive: storeUrl, groupId: `everlog-demo-replay-${Date.now()}` })
    const switches = new Map<number, string>()
    consumer.on(ArchiveEvents.ARCHIVE_SWITCH, (e) => switches.set(e.payload.partition, e.payload.offset))
    let fromArchive = 0
    let fromKafka = 0
    const next = new Map<number, bigint>()
    let outOfOrder = 0
    const replayBar = progress(context.stderr, '6. replaying')
    await consumer.connect()
    let replaySeconds: number
    try {
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
      const replayStart = performance.now()
      await new Promise<void>((resolveDone, reject) => {
        consumer
          .run({
            eachBatch: async ({ batch }) => {
              const boundary = boundaries.get(batch.partition) ?? 0n
              for (const m of batch.messages) {
                const offset = BigInt(m.offset)
                if (offset < (next.get(batch.partition) ?? 0n)) outOfOrder++
                next.set(batch.partition, offset + 1n)
                if (offset < boundary) fromArchive++
                else fromKafka++
              }
              replayBar.update(fromArchive + fromKafka, total)
              if (fromArchive + fromKafka >= total) resolveDone()
            },
          })
          .catch(reject)
        consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error))
      })
      replaySeconds = (performance.now() - replayStart) / 1000
    } finally {
      replayBar.stop()
      await consumer.disconnect()
    }
    if (outOfOrder > 0) throw new Error(`replay delivered ${outOfOrder} records out of order`)
    await out(
      `6. Replayed ${fromArchive + fromKafka} records from offset 0 in ${replaySeconds.toFixed(1)} s: ` +
        `${fromArchive} from the archive, ${fromKafka} from Kafka`,
    )

    // 7. SQL.
    const q = await openQuery(store)
    let summary: string
    try {
      const reader = await q.connection.runAndReadAll(`
        SELECT "partition", count(*) AS records, count(*) FILTER (WHERE value IS NULL) AS tombstones,
               round(sum(CAST(json_extract(value, '$.total') AS DOUBLE)), 2) AS revenue,
               min("offset") AS first_offset, max("offset") AS last_offset
        FROM orders_decoded GROUP BY 1 ORDER BY 1`)
      const rows = reader.getRowObjectsJson()
      summary = table(
        ['PARTITION', 'RECORDS', 'TOMBSTONES', 'REVENUE', 'OFFSETS'],
        rows.map((r) => [
          String(r.partition),
          String(r.records),
          String(r.tombstones),
          String(r.revenue),
          `${r.first_offset}..${r.last_offset}`,
        ]),
        new Set([0, 1, 2, 3]),
      )
    } finally {
      q.close()
    }
    await out(`7. SQL over the archive (DuckDB):\n`)
    await out(summary)

    // Report.
    await out('Report')
    await out(`  records produced        ${total} (${historical} history + ${live} live)`)
    await out(`  records archived        ${archived}`)
    await out(`  replayed from archive   ${fromArchive}`)
    await out(`  replayed from Kafka     ${fromKafka}`)
    await out(`  boundary per partition  ${[...boundaries].map(([p, o]) => `${p}:${switches.get(p) ?? o}`).join('  ')}`)
    await out(
      `  archive size            ${formatBytes(archiveBytes)} for ${formatBytes(rawBytes)} of keys and values ` +
        `(${((100 * archiveBytes) / Math.max(1, rawBytes)).toFixed(0)}%)`,
    )
    if (fromArchive !== historical || fromKafka !== live) {
      throw new Error(`expected ${historical} from the archive and ${live} from Kafka`)
    }

    if (flags.keep) {
      await out(`\nThe broker (${broker.address}) and the archive stay up. Explore them:`)
      // This checkout's CLI by its path: `npx everlog` outside the clone would fetch another package of that name.
      const everlog = `node ${shellWord(fileURLToPath(new URL('../../bin/everlog.js', import.meta.url)))}`
      await out(`  ${everlog} ls --store ${storeUrl}`)
      await out(`  ${everlog} cat --store ${storeUrl} --topic ${TOPIC} --partition 0 --limit 3`)
      await out(`  ${everlog} query --store ${storeUrl} 'SELECT count(*) FROM orders'`)
      await out(`  kcat -b ${broker.address} -t ${TOPIC} -C -o beginning -e`)
      await out('Press Ctrl-C to stop.')
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')])
    }
  } finally {
    await broker.close()
  }
}

/** A path as one shell word. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

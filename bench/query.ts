// Query benchmark: `SELECT count(*) ... WHERE timestamp BETWEEN` touching 1% of an archive's time range, served
// from S3 over HTTP, against a full scan — bytes downloaded (as a fraction of the archive) and time, same run.
// Run: node --conditions=everlog-source --import tsx bench/query.ts [--records N] [--partitions P] [--segment-records S]
import { PartitionWriter, S3Store, writeTopicMeta } from '../packages/core/src/index.js'
import { startS3Server } from '../packages/core/src/testing/index.js'
import { benchRecord, intFlag, prng } from './lib/data.js'
import { measureQuery } from './scenarios/query.js'

const args = process.argv.slice(2)
const records = intFlag(args, 'records', 1_000_000)
const partitions = intFlag(args, 'partitions', 8)
const perPartition = Math.ceil(records / partitions)
// Default: 50 segments per partition; --segment-records N cuts them as the archiver does (up to 1M records / 32 MiB).
const SEGMENT_RECORDS = intFlag(args, 'segment-records', Math.max(1000, Math.floor(perPartition / 50)))
const T0 = 1_700_000_000_000n
const SPACING = 10n // ms between records of a partition

const s3 = await startS3Server({ bucket: 'bench' })
const store = new S3Store({ bucket: 'bench', prefix: 'archive/' }, s3.clientConfig())
const rand = prng()
const buildStart = performance.now()
for (let p = 0; p < partitions; p++) {
  const writer = await PartitionWriter.open(store, { topic: 'events', partition: p, writer: 'bench' })
  for (let i = 0; i < perPartition; i += SEGMENT_RECORDS) {
    const batch = []
    for (let j = i; j < Math.min(i + SEGMENT_RECORDS, perPartition); j++)
      batch.push(benchRecord(j, rand, { t0: T0, spacingMs: SPACING }))
    await writer.appendSegment(batch)
  }
}
await writeTopicMeta(store, { topic: 'events', partitions })
const buildSeconds = (performance.now() - buildStart) / 1000

// The archive's size as its HEADs account it.
let archiveBytes = 0
for (let p = 0; p < partitions; p++)
  archiveBytes += (await PartitionWriter.open(store, { topic: 'events', partition: p, writer: 'bench' })).head.bytes

const span = BigInt(perPartition) * SPACING
const from = T0 + span / 2n
const to = from + span / 100n

const where = `epoch_ms("timestamp") BETWEEN ${from} AND ${to}`
const full = await measureQuery(store, 'events', 'full scan', {}, where)
const selective = await measureQuery(store, 'events', '1% time range', { fromTime: from, toTime: to }, where)
if (full.rows !== selective.rows) throw new Error(`counts differ: full ${full.rows}, selective ${selective.rows}`)

console.log(
  `archive: ${records} records in ${partitions} partitions, ${(archiveBytes / 1e6).toFixed(1)} MB (built in ${buildSeconds.toFixed(1)} s)`,
)
console.log('case             rows   files     fetched   of archive   seconds')
for (const r of [full, selective]) {
  console.log(
    `${r.label.padEnd(15)} ${String(r.rows).padStart(6)} ${String(r.files).padStart(7)} ${(r.fetched / 1e6).toFixed(1).padStart(8)} MB ${((100 * r.fetched) / archiveBytes).toFixed(2).padStart(9)} % ${r.seconds.toFixed(2).padStart(9)}`,
  )
}
console.log(
  `selective / full: bytes ${(selective.fetched / full.fetched).toFixed(4)}, time ${(selective.seconds / full.seconds).toFixed(3)}`,
)
await store.close()
await s3.close()

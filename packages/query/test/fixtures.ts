// Archives for query tests, written through the real commit protocol.
import { PartitionWriter, writeTopicMeta, type ArchiveRecord, type ObjectStore } from '@everlog/core'
import { setSegmentTimestampUnitForTests } from '@everlog/core/testing'

export const T0 = 1_700_000_000_000n
export const HOUR = 3_600_000n

/** Record i of a partition: JSON value, keys cycling over 5 customers, two headers (one repeated), some nulls. */
export function makeRecord(partition: number, offset: bigint): ArchiveRecord {
  const i = Number(offset)
  const tombstone = i % 17 === 16
  return {
    offset,
    timestamp: T0 + BigInt(i) * 60_000n + BigInt(partition),
    key: i % 11 === 10 ? null : Buffer.from(`customer-${(i + partition) % 5}`),
    value: tombstone ? null : Buffer.from(JSON.stringify({ order: i, partition, amount: (i * 7) % 100 })),
    headers: [
      ['source', Buffer.from(i % 2 === 0 ? 'web' : 'app')],
      ['trace', Buffer.from(`t-${i}`)],
      ...(i % 3 === 0 ? ([['source', Buffer.from('retry')]] as [string, Buffer][]) : []),
    ],
  }
}

/** Writes `records` records per partition in segments of `segmentRecords`. Returns everything written. */
export async function writeArchive(
  store: ObjectStore,
  options: {
    topic: string
    partitions: number
    records: number
    segmentRecords: number
    /** Offsets below this go into format-1 segments (TIMESTAMP(MILLIS)), as older Everlog wrote them. */
    format1Below?: number
  },
): Promise<Map<number, ArchiveRecord[]>> {
  const all = new Map<number, ArchiveRecord[]>()
  for (let p = 0; p < options.partitions; p++) {
    const writer = await PartitionWriter.open(store, { topic: options.topic, partition: p, writer: 'query-test' })
    const records = Array.from({ length: options.records }, (_, i) => makeRecord(p, BigInt(i)))
    for (let i = 0; i < records.length; i += options.segmentRecords) {
      setSegmentTimestampUnitForTests(i < (options.format1Below ?? 0) ? 'ms' : 'us')
      try {
        await writer.appendSegment(records.slice(i, i + options.segmentRecords))
      } finally {
        setSegmentTimestampUnitForTests('us')
      }
    }
    all.set(p, records)
  }
  await writeTopicMeta(store, { topic: options.topic, partitions: options.partitions })
  return all
}

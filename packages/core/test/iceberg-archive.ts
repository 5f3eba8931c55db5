// An archive for the Iceberg tests, written through the real commit protocol, plus the crash leftovers a publish
// must never reference: a segment PUT whose commit never happened, and a fenced writer's copy of committed offsets.
import { readFile } from 'node:fs/promises'
import { ArchiveReader, PartitionWriter, encodeSegment, segmentKey, writeTopicMeta } from '../src/index.js'
import type { ArchiveRecord, ObjectStore } from '../src/index.js'
import { setSegmentTimestampUnitForTests } from '../src/testing/index.js'

export const TOPIC = 'orders'
export const T0 = 1_700_000_000_000n
export const MINUTE = 60_000n

export function makeRecord(partition: number, offset: bigint): ArchiveRecord {
  const i = Number(offset)
  return {
    offset,
    timestamp: T0 + BigInt(i) * MINUTE + BigInt(partition),
    key: i % 11 === 10 ? null : Buffer.from(`customer-${(i + partition) % 5}`),
    value: i % 17 === 16 ? null : Buffer.from(JSON.stringify({ order: i, partition, amount: (i * 7) % 100 })),
    headers: [
      ['source', Buffer.from(i % 2 === 0 ? 'web' : 'app')],
      ...(i % 3 === 0
        ? ([
            ['source', Buffer.from('retry')],
            ['empty', null],
          ] as [string, Buffer | null][])
        : []),
    ],
  }
}

/**
 * Appends records [from, to) of each partition in segments of `segmentRecords`; offsets below `format1Below` in
 * format-1 segments (TIMESTAMP(MILLIS)), as an archive written before segment format 2 holds them.
 */
export async function archive(
  store: ObjectStore,
  partitions: number,
  from: number,
  to: number,
  segmentRecords: number,
  format1Below = 0,
): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    const writer = await PartitionWriter.open(store, { topic: TOPIC, partition: p, writer: 'iceberg-test' })
    for (let i = from; i < to; i += segmentRecords) {
      const n = Math.min(segmentRecords, to - i)
      setSegmentTimestampUnitForTests(i < format1Below ? 'ms' : 'us')
      try {
        await writer.appendSegment(Array.from({ length: n }, (_, k) => makeRecord(p, BigInt(i + k))))
      } finally {
        setSegmentTimestampUnitForTests('us')
      }
    }
  }
  await writeTopicMeta(store, { topic: TOPIC, partitions })
}

/** Segments a crash or a fenced writer leaves in data/: never committed, so never in the table. */
export async function leaveUnreferencedSegments(
  store: ObjectStore,
  partition: number,
  nextOffset: number,
): Promise<string[]> {
  const keys: string[] = []
  // A segment PUT just before the archiver died: offsets past HEAD.
  const ahead = Array.from({ length: 10 }, (_, k) => makeRecord(partition, BigInt(nextOffset + k)))
  // A fenced writer's copy of already committed offsets, with different bytes (another value).
  const dup = Array.from({ length: 10 }, (_, k) => ({
    ...makeRecord(partition, BigInt(k)),
    value: Buffer.from('zombie'),
  }))
  for (const records of [ahead, dup]) {
    const seg = encodeSegment(records, { topic: TOPIC, partition })
    const key = segmentKey(TOPIC, partition, seg.firstOffset, seg.sha256)
    await store.put(key, seg.bytes)
    keys.push(key)
  }
  return keys
}

/** Every committed record of the topic, as ArchiveReader (and `everlog cat`) returns it. */
export async function committedRecords(store: ObjectStore, partitions: number): Promise<Map<number, ArchiveRecord[]>> {
  const reader = new ArchiveReader(store)
  const out = new Map<number, ArchiveRecord[]>()
  for (let p = 0; p < partitions; p++) {
    const list: ArchiveRecord[] = []
    for await (const r of reader.read({ topic: TOPIC, partition: p })) list.push(r)
    out.set(p, list)
  }
  return out
}

/** The row a reader script prints for a record: [partition, offset, ms, key hex, value hex, [[hkey, hvalue hex]]]. */
export function expectedRow(partition: number, r: ArchiveRecord): unknown[] {
  return [
    partition,
    Number(r.offset),
    Number(r.timestamp),
    r.key === null ? null : r.key.toString('hex'),
    r.value === null ? null : r.value.toString('hex'),
    r.headers.map(([k, v]) => [k, v === null ? null : Buffer.from(v).toString('hex')]),
  ]
}

export async function readJsonLines(path: string): Promise<unknown[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown)
}

// Which segment objects a query needs: read from each partition's index or from the published Iceberg snapshot
// (never a bucket listing, which could include unreferenced leftovers of a crashed commit), pruned by partition and
// time range.
import {
  IcebergTableNotFoundError,
  StoreNodeSource,
  currentSnapshot,
  describeTopic,
  iterateEntries,
  readIcebergTable,
  snapshotAsOf,
  snapshotSegments,
  type ObjectStore,
  type SegmentEntry,
} from '@everlog/core'

export interface SegmentSelection {
  /** Only these partitions; all when omitted. */
  partitions?: readonly number[]
  /** Epoch ms, inclusive: segments whose records all fall outside [fromTime, toTime] are skipped. */
  fromTime?: bigint
  toTime?: bigint
  /**
   * Where the list of segments comes from: 'heads' (default) reads the partitions' HEADs, the newest state;
   * 'iceberg' takes exactly the files of the published Iceberg snapshot, so DuckDB sees what Athena, Spark and
   * Trino see through the Iceberg table.
   */
  source?: 'heads' | 'iceberg'
  /** Epoch ms: read the Iceberg snapshot that was current then (implies source 'iceberg'). */
  asOf?: number
}

export interface SelectedSegment extends SegmentEntry {
  partition: number
}

export async function selectSegments(
  store: ObjectStore,
  topic: string,
  selection: SegmentSelection = {},
): Promise<SelectedSegment[]> {
  const wanted = selection.partitions ? new Set(selection.partitions) : undefined
  const inRange = (e: SegmentEntry) =>
    !(selection.fromTime !== undefined && e.maxTimestamp < selection.fromTime) &&
    !(selection.toTime !== undefined && e.minTimestamp > selection.toTime)
  if (selection.source === 'iceberg' || selection.asOf !== undefined) {
    const table = await readIcebergTable(store, topic)
    if (!table) throw new IcebergTableNotFoundError(topic, store.url)
    const snapshot =
      selection.asOf !== undefined ? snapshotAsOf(table.metadata, selection.asOf) : currentSnapshot(table.metadata)
    if (!snapshot) return []
    return (await snapshotSegments(store, snapshot)).filter((s) => (!wanted || wanted.has(s.partition)) && inRange(s))
  }
  const description = await describeTopic(store, topic)
  const out: SelectedSegment[] = []
  for (const { partition, head } of description.partitions) {
    if (!head?.root || (wanted && !wanted.has(partition))) continue
    const source = new StoreNodeSource(store, topic, partition)
    for await (const entry of iterateEntries(source, head.root)) {
      if (entry.kind !== 'segment') continue
      if (!inRange(entry)) continue
      out.push({ ...entry, partition })
    }
  }
  return out
}

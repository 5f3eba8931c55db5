// Which segment objects a query needs: read from each partition's index (never a bucket listing, which could
// include unreferenced leftovers of a crashed commit), pruned by partition and time range.
import { StoreNodeSource, describeTopic, iterateEntries, type ObjectStore, type SegmentEntry } from '@everlog/core'

export interface SegmentSelection {
  /** Only these partitions; all when omitted. */
  partitions?: readonly number[]
  /** Epoch ms, inclusive: segments whose records all fall outside [fromTime, toTime] are skipped. */
  fromTime?: bigint
  toTime?: bigint
}

export interface SelectedSegment extends SegmentEntry {
  partition: number
}

export async function selectSegments(
  store: ObjectStore,
  topic: string,
  selection: SegmentSelection = {},
): Promise<SelectedSegment[]> {
  const description = await describeTopic(store, topic)
  const wanted = selection.partitions ? new Set(selection.partitions) : undefined
  const out: SelectedSegment[] = []
  for (const { partition, head } of description.partitions) {
    if (!head?.root || (wanted && !wanted.has(partition))) continue
    const source = new StoreNodeSource(store, topic, partition)
    for await (const entry of iterateEntries(source, head.root)) {
      if (entry.kind !== 'segment') continue
      if (selection.fromTime !== undefined && entry.maxTimestamp < selection.fromTime) continue
      if (selection.toTime !== undefined && entry.minTimestamp > selection.toTime) continue
      out.push({ ...entry, partition })
    }
  }
  return out
}

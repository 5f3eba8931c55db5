// Aggregates of a node or subtree (offset range, records, bytes, segment/gap counts, time range): what a parent
// stores about each child so seeks and summaries never have to open the child.
import { InvalidArgumentError } from '../errors.js'
import type { ChildEntry, IndexNode, LeafEntry } from './types.js'

export type NodeSummary = Omit<ChildEntry, 'hash'>

/** Aggregates of a whole node: its leaf entries or the children's aggregates combined. Gaps carry no time. */
export function summarize(node: IndexNode): NodeSummary {
  const items: readonly (LeafEntry | ChildEntry)[] = 'entries' in node ? node.entries : node.children
  if (items.length === 0) throw new InvalidArgumentError(`cannot summarize an empty level-${node.level} index node`)
  let records = 0
  let bytes = 0
  let segments = 0
  let gaps = 0
  let minTimestamp: bigint | null = null
  let maxTimestamp: bigint | null = null
  for (const item of items) {
    let min: bigint | null
    let max: bigint | null
    if ('kind' in item) {
      if (item.kind === 'gap') {
        gaps++
        continue
      }
      segments++
      records += item.records
      bytes += item.bytes
      min = item.minTimestamp
      max = item.maxTimestamp
    } else {
      segments += item.segments
      gaps += item.gaps
      records += item.records
      bytes += item.bytes
      min = item.minTimestamp
      max = item.maxTimestamp
    }
    if (min !== null && (minTimestamp === null || min < minTimestamp)) minTimestamp = min
    if (max !== null && (maxTimestamp === null || max > maxTimestamp)) maxTimestamp = max
  }
  return {
    firstOffset: items[0]!.firstOffset,
    lastOffset: items[items.length - 1]!.lastOffset,
    records,
    bytes,
    segments,
    gaps,
    minTimestamp,
    maxTimestamp,
  }
}

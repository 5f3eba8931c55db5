// Fetch responses (versions 4 to 11) decoded by the archiver itself: the partition headers are read here and each
// partition's records stay a view of the response, walked later by forEachArchivableBatch straight into the packed
// buffer. kafkajs would instead build an object per record, which is most of what a plain consumer spends.
import { FormatError } from '@everlog/core'
import { WireReader } from './record-batches.js'
import type { AbortedTransaction } from './record-batches.js'

/** Fetch v4 is the first with read_committed and v2 record batches (Kafka 0.11). */
export const MIN_FETCH_VERSION = 4
/** v11 (Kafka 2.3) is the newest kafkajs encodes; later versions add nothing the archiver uses. */
export const MAX_FETCH_VERSION = 11

export interface FetchedPartition {
  topic: string
  partition: number
  errorCode: number
  highWatermark: bigint
  lastStableOffset: bigint
  /** -1 before v5. */
  logStartOffset: bigint
  abortedTransactions: AbortedTransaction[] | null
  /** Record batches, a view of the response; the last one may be cut off. */
  records: Buffer | null
}

export interface FetchResponse {
  /** KIP-219: the broker asks the client to wait this long before the next request. */
  clientSideThrottleTime: number
  /** Top-level error (v7+), e.g. a fetch session error; 0 otherwise. */
  errorCode: number
  partitions: FetchedPartition[]
  /**
   * Lets the buffer the response (and every partition's `records`) lies in be reused; call it only once nothing
   * reads them any more. Absent when the response has a buffer of its own.
   */
  release?: () => void
}

export function decodeFetchResponse(payload: Buffer, version: number): FetchResponse {
  if (version < MIN_FETCH_VERSION || version > MAX_FETCH_VERSION) {
    throw new FormatError(`Fetch v${version} responses cannot be decoded (v${MIN_FETCH_VERSION}-${MAX_FETCH_VERSION})`)
  }
  const r = new WireReader().reset(payload)
  const clientSideThrottleTime = r.int32()
  let errorCode = 0
  if (version >= 7) {
    errorCode = r.int16()
    r.int32() // session id: the archiver makes full fetches, no sessions
  }
  const partitions: FetchedPartition[] = []
  for (let t = count(r); t > 0; t--) {
    const topic = r.string()
    for (let p = count(r); p > 0; p--) {
      const partition = r.int32()
      const partitionError = r.int16()
      const highWatermark = r.int64()
      const lastStableOffset = r.int64()
      const logStartOffset = version >= 5 ? r.int64() : -1n
      let abortedTransactions: AbortedTransaction[] | null = null
      const aborted = r.int32()
      if (aborted >= 0) {
        abortedTransactions = []
        for (let i = 0; i < aborted; i++) abortedTransactions.push({ producerId: r.int64(), firstOffset: r.int64() })
      }
      if (version >= 11) r.int32() // preferred read replica: the archiver reads from leaders
      const size = r.int32()
      const records = size < 0 ? null : payload.subarray(r.take(size), r.pos)
      partitions.push({
        topic,
        partition,
        errorCode: partitionError,
        highWatermark,
        lastStableOffset,
        logStartOffset,
        abortedTransactions,
        records,
      })
    }
  }
  return { clientSideThrottleTime, errorCode, partitions }
}

function count(r: WireReader): number {
  const n = r.int32()
  // Every element takes at least one byte: a larger count is a lie that would only spin.
  if (n > r.end - r.pos) throw new FormatError(`Kafka sent a malformed fetch response: an array of ${n} elements`)
  return n
}

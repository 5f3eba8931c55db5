// Fetch: serve whole stored batches by reference, long-polling up to max_wait_ms until min_bytes are available.
//
// Fetch Request (Version: 0-11) => replica_id INT32 max_wait_ms INT32 min_bytes INT32 [v3+ max_bytes INT32]
//     [v4+ isolation_level INT8] [v7+ session_id INT32 session_epoch INT32] [topics]
//     [v7+ [forgotten_topics_data]] [v11+ rack_id STRING]
//   topics => topic STRING [partitions]
//     partitions => partition INT32 [v9+ current_leader_epoch INT32] fetch_offset INT64
//                   [v5+ log_start_offset INT64] partition_max_bytes INT32
//   forgotten_topics_data => topic STRING [partitions INT32]
// Fetch Response (Version: 0-11) => [v1+ throttle_time_ms INT32] [v7+ error_code INT16 session_id INT32]
//     [responses]
//   responses => topic STRING [partitions]
//     partitions => partition_index INT32 error_code INT16 high_watermark INT64 [v4+ last_stable_offset INT64]
//                   [v5+ log_start_offset INT64] [v4+ [aborted_transactions]] [v11+ preferred_read_replica INT32]
//                   records RECORDS
//       aborted_transactions (nullable) => producer_id INT64 first_offset INT64
// No down-conversion: versions 0-3 return the stored v2 batches too (claimed because librdkafka derives its
// features from them; every client that understands v2 batches negotiates v4 or later anyway).
// Fetch sessions (KIP-227) are declined by answering session_id 0, so every request is a full fetch.

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import type { BrokerState } from '../state/broker-state.js'
import type { AbortedTxn } from '../state/log.js'

interface PartitionRequest {
  partition: number
  fetchOffset: number
  maxBytes: number
}
interface TopicRequest {
  topic: string
  partitions: PartitionRequest[]
}
interface PartitionResult {
  partition: number
  error: number
  highWatermark: number
  lastStableOffset: number
  logStartOffset: number
  aborted: AbortedTxn[] | null
  chunks: Buffer[]
  bytes: number
}

function collect(
  state: BrokerState,
  topics: TopicRequest[],
  maxBytes: number,
  readCommitted: boolean,
  injectedError: number | undefined,
): { results: PartitionResult[][]; bytes: number; errors: boolean } {
  let total = 0
  let errors = false
  const results = topics.map((t) =>
    t.partitions.map((p): PartitionResult => {
      const log = state.partition(t.topic, p.partition)
      const res: PartitionResult = {
        partition: p.partition,
        error: 0,
        highWatermark: -1,
        lastStableOffset: -1,
        logStartOffset: -1,
        aborted: null,
        chunks: [],
        bytes: 0,
      }
      if (injectedError !== undefined || log === undefined) {
        res.error = injectedError ?? KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code
        errors = true
        return res
      }
      res.highWatermark = log.highWatermark
      res.lastStableOffset = log.lastStableOffset
      res.logStartOffset = log.logStartOffset
      if (p.fetchOffset < log.logStartOffset || p.fetchOffset > log.highWatermark) {
        res.error = KafkaErrors.OFFSET_OUT_OF_RANGE.code
        errors = true
        return res
      }
      const upTo = readCommitted ? log.lastStableOffset : log.highWatermark
      const budget = Math.min(p.maxBytes, maxBytes - total)
      const { chunks, bytes } = log.read(p.fetchOffset, upTo, Math.max(budget, 0), total === 0)
      res.chunks = chunks
      res.bytes = bytes
      total += bytes
      if (readCommitted) {
        const last = chunks[chunks.length - 1]
        const end = last === undefined ? 0 : Number(last.readBigInt64BE(0)) + last.readInt32BE(23) + 1
        res.aborted = last === undefined ? [] : log.abortedIn(p.fetchOffset, end)
      }
      return res
    }),
  )
  return { results, bytes: total, errors }
}

export const fetch: ApiModule = {
  apiKey: 1,
  name: 'Fetch',
  minVersion: 0,
  maxVersion: 11,
  flexibleFrom: null,
  async handle(r, w, ctx) {
    const v = ctx.version
    r.int32() // replica_id
    const maxWaitMs = r.int32()
    const minBytes = r.int32()
    const maxBytes = v >= 3 ? r.int32() : 0x7fffffff
    const readCommitted = v >= 4 ? r.int8() === 1 : false
    let sessionId = 0
    if (v >= 7) {
      sessionId = r.int32()
      r.int32() // session_epoch
    }
    const topics = r.array(false, (r): TopicRequest => {
      const topic = r.string()
      const partitions = r.array(false, (r): PartitionRequest => {
        const partition = r.int32()
        if (v >= 9) r.int32()
        const fetchOffset = r.int64n()
        if (v >= 5) r.int64()
        return { partition, fetchOffset, maxBytes: r.int32() }
      })
      return { topic, partitions }
    })
    // forgotten_topics_data and rack_id only matter to fetch sessions and follower fetching

    const state = ctx.state
    const sessionError = sessionId !== 0 ? KafkaErrors.FETCH_SESSION_ID_NOT_FOUND.code : 0
    let out = collect(state, topics, maxBytes, readCommitted, ctx.injectedError)
    if (sessionError === 0 && !out.errors && out.bytes < minBytes && maxWaitMs > 0 && !ctx.signal.aborted) {
      out = await new Promise((resolve) => {
        let timer: NodeJS.Timeout | undefined = undefined
        const done = (): void => {
          clearTimeout(timer)
          stop()
          ctx.signal.removeEventListener('abort', done)
          resolve(collect(state, topics, maxBytes, readCommitted, undefined))
        }
        const wanted = new Set(topics.map((t) => t.topic))
        const stop = state.waitForAppend((topic) => {
          // only re-read when a topic of this request changed: idle consumers cost nothing per produce
          if (topic !== undefined && !wanted.has(topic)) return
          const now = collect(state, topics, maxBytes, readCommitted, undefined)
          if (now.bytes >= minBytes || now.errors) done()
        })
        timer = setTimeout(done, maxWaitMs)
        ctx.signal.addEventListener('abort', done)
      })
    }

    if (v >= 1) w.int32(0)
    if (v >= 7) w.int16(sessionError).int32(0)
    if (sessionError !== 0) {
      w.int32(0)
      return
    }
    w.int32(topics.length)
    for (let i = 0; i < topics.length; i++) {
      const parts = out.results[i]!
      w.string(topics[i]!.topic).int32(parts.length)
      for (const p of parts) {
        w.int32(p.partition).int16(p.error).int64(p.highWatermark)
        if (v >= 4) w.int64(p.lastStableOffset)
        if (v >= 5) w.int64(p.logStartOffset)
        if (v >= 4) w.array(false, p.aborted, (w, a) => w.int64(a.producerId).int64(a.firstOffset))
        if (v >= 11) w.int32(-1)
        w.int32(p.bytes)
        for (const c of p.chunks) w.raw(c)
      }
    }
  },
}

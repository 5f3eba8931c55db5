// Metadata: the one broker (this one, at its real listening address) and the topics/partitions it leads.
//
// Metadata Request (Version: 0) => [topics]            topics => name STRING (empty array = all topics)
// Metadata Request (Version: 1-3) => [topics]          (null array = all topics)
// Metadata Request (Version: 4-7) => [topics] allow_auto_topic_creation BOOLEAN
// Metadata Request (Version: 8) => [topics] allow_auto_topic_creation include_cluster_authorized_operations
//                                  include_topic_authorized_operations
// Metadata Request (Version: 9) => flexible form of v8 (compact arrays/strings, TAG_BUFFER per topic and at end)
// Metadata Response (Version: 0) => [brokers] [topics]
//   brokers => node_id INT32 host STRING port INT32 [v1+ rack NULLABLE_STRING]
//   [v2+ cluster_id NULLABLE_STRING] [v1+ controller_id INT32]  (v3+ starts with throttle_time_ms INT32)
//   topics => error_code INT16 name STRING [v1+ is_internal BOOLEAN] [partitions]
//             [v8+ topic_authorized_operations INT32]
//     partitions => error_code INT16 partition_index INT32 leader_id INT32 [v7+ leader_epoch INT32]
//                   [replica_nodes INT32] [isr_nodes INT32] [v5+ offline_replicas INT32]
//   [v8+ cluster_authorized_operations INT32]

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import { TOPIC_NAME, type Topic } from '../state/broker-state.js'

export const metadata: ApiModule = {
  apiKey: 3,
  name: 'Metadata',
  minVersion: 0,
  maxVersion: 9,
  flexibleFrom: 9,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const requested =
      v === 0
        ? r.array(f, (r) => r.string())
        : (() => {
            const n = f ? r.uvarint() - 1 : r.int32()
            if (n < 0) return null
            const names: string[] = []
            for (let i = 0; i < n; i++) {
              names.push(r.str(f))
              r.taggedFields(f)
            }
            return names
          })()
    const allowAutoCreate = v >= 4 ? r.bool() : true
    if (v >= 8) {
      r.bool()
      r.bool()
    }
    r.taggedFields(f)

    const state = ctx.state
    const all = requested === null || (v === 0 && requested.length === 0)
    const answers: Array<{ name: string; error: number; topic: Topic | undefined }> = []
    if (all) {
      for (const t of state.topics.values()) answers.push({ name: t.name, error: 0, topic: t })
    } else {
      for (const name of requested) {
        let topic = state.topics.get(name)
        let error = 0
        if (topic === undefined && ctx.injectedError === undefined) {
          if (!TOPIC_NAME.test(name)) error = KafkaErrors.INVALID_TOPIC_EXCEPTION.code
          else if (allowAutoCreate) topic = state.topic(name, true)
          if (topic === undefined && error === 0) error = KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code
        }
        answers.push({ name, error: ctx.injectedError ?? error, topic })
      }
    }

    const node = ctx.node
    if (v >= 3) w.int32(0)
    w.arrayLength(f, 1)
    w.int32(node.nodeId).str(f, node.host).int32(node.port)
    if (v >= 1) w.nstr(f, null)
    w.tags(f)
    if (v >= 2) w.nstr(f, state.clusterId)
    if (v >= 1) w.int32(node.nodeId)
    w.arrayLength(f, answers.length)
    for (const a of answers) {
      w.int16(a.error).str(f, a.name)
      if (v >= 1) w.bool(false)
      const parts = a.topic === undefined || a.error !== 0 ? [] : a.topic.partitions
      w.arrayLength(f, parts.length)
      for (const p of parts) {
        w.int16(0).int32(p.partition).int32(node.nodeId)
        if (v >= 7) w.int32(0)
        w.arrayLength(f, 1).int32(node.nodeId)
        w.arrayLength(f, 1).int32(node.nodeId)
        if (v >= 5) w.arrayLength(f, 0)
        w.tags(f)
      }
      if (v >= 8) w.int32(-2147483648)
      w.tags(f)
    }
    if (v >= 8) w.int32(-2147483648)
    w.tags(f)
  },
}

// CreateTopics: topics with a partition count and configs (replication factor must be 1 or -1: one broker).
//
// CreateTopics Request (Version: 0) => [topics] timeout_ms INT32
//   topics => name STRING num_partitions INT32 replication_factor INT16 [assignments] [configs]
//     assignments => partition_index INT32 [broker_ids INT32]
//     configs => name STRING value NULLABLE_STRING
// CreateTopics Request (Version: 1-4) => [topics] timeout_ms INT32 validate_only BOOLEAN
// CreateTopics Response (Version: 0) => [topics]    topics => name STRING error_code INT16
// CreateTopics Response (Version: 1) => [topics]    topics => name error_code error_message NULLABLE_STRING
// CreateTopics Response (Version: 2-4) => throttle_time_ms INT32 [topics]
// (num_partitions/replication_factor -1 mean the broker default, from v4 on; accepted in every version here.)

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import { TOPIC_NAME, validateTopicConfig } from '../state/broker-state.js'

export const createTopics: ApiModule = {
  apiKey: 19,
  name: 'CreateTopics',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const v = ctx.version
    const requests = r.array(false, (r) => {
      const name = r.string()
      const numPartitions = r.int32()
      const replicationFactor = r.int16()
      const assignments = r.array(false, (r) => {
        const index = r.int32()
        return { index, brokers: r.array(false, (r) => r.int32()) }
      })
      const configs = r.array(false, (r) => ({ name: r.string(), value: r.nullableString() }))
      return { name, numPartitions, replicationFactor, assignments, configs }
    })
    r.int32()
    const validateOnly = v >= 1 ? r.bool() : false
    const state = ctx.state
    const seen = new Set<string>()
    const results = requests.map((t) => {
      const fail = (e: { code: number }, message: string) => ({ name: t.name, error: e.code, message })
      if (ctx.injectedError !== undefined) return { name: t.name, error: ctx.injectedError, message: null }
      if (seen.has(t.name)) return fail(KafkaErrors.INVALID_REQUEST, `topic '${t.name}' appears twice in the request`)
      seen.add(t.name)
      if (!TOPIC_NAME.test(t.name) || t.name === '.' || t.name === '..') {
        return fail(KafkaErrors.INVALID_TOPIC_EXCEPTION, `invalid topic name '${t.name}': use 1-249 of [a-zA-Z0-9._-]`)
      }
      if (state.topics.has(t.name)) return fail(KafkaErrors.TOPIC_ALREADY_EXISTS, `topic '${t.name}' already exists`)
      let partitions = t.numPartitions === -1 ? state.defaultPartitions : t.numPartitions
      if (t.assignments.length > 0) {
        if (t.assignments.some((a) => a.brokers.some((b) => b !== ctx.node.nodeId))) {
          return fail(KafkaErrors.INVALID_REPLICA_ASSIGNMENT, `this broker is node ${ctx.node.nodeId}; no other exists`)
        }
        partitions = t.assignments.length
      }
      if (partitions < 1) return fail(KafkaErrors.INVALID_PARTITIONS, `partitions must be >= 1 (got ${partitions})`)
      if (t.replicationFactor !== -1 && t.replicationFactor !== 1 && t.assignments.length === 0) {
        return fail(
          KafkaErrors.INVALID_REPLICATION_FACTOR,
          `replication factor ${t.replicationFactor} needs that many brokers; the dev broker is one (use 1 or -1)`,
        )
      }
      const configs: Record<string, string> = {}
      for (const c of t.configs) {
        const problem = validateTopicConfig(c.name, c.value)
        if (problem !== undefined) return fail(KafkaErrors.INVALID_CONFIG, `topic '${t.name}': ${problem}`)
        if (c.value !== null) configs[c.name] = c.value
      }
      if (!validateOnly) state.createTopic(t.name, partitions, configs)
      return { name: t.name, error: 0, message: null }
    })
    if (v >= 2) w.int32(0)
    w.int32(results.length)
    for (const x of results) {
      w.string(x.name).int16(x.error)
      if (v >= 1) w.nullableString(x.message)
    }
  },
}

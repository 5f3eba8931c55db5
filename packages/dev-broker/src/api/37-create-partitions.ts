// CreatePartitions: grow a topic's partition count (partitions can only be added, as in Kafka).
//
// CreatePartitions Request (Version: 0-1) => [topics] timeout_ms INT32 validate_only BOOLEAN
//   topics => name STRING count INT32 [assignments] (nullable)
//     assignments => [broker_ids INT32]
// CreatePartitions Response (Version: 0-1) => throttle_time_ms INT32 [results]
//   results => name STRING error_code INT16 error_message NULLABLE_STRING

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import { PartitionLog } from '../state/log.js'

export const createPartitions: ApiModule = {
  apiKey: 37,
  name: 'CreatePartitions',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const requests = r.array(false, (r) => {
      const name = r.string()
      const count = r.int32()
      const assignments = r.array(false, (r) => r.array(false, (r) => r.int32()))
      return { name, count, assignments }
    })
    r.int32()
    const validateOnly = r.bool()
    const results = requests.map((t) => {
      const out = (error: number, message: string | null = null) => ({ name: t.name, error, message })
      if (ctx.injectedError !== undefined) return out(ctx.injectedError)
      const topic = ctx.state.topics.get(t.name)
      if (topic === undefined)
        return out(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code, `topic '${t.name}' does not exist`)
      const have = topic.partitions.length
      if (t.count <= have) {
        return out(KafkaErrors.INVALID_PARTITIONS.code, `topic '${t.name}' has ${have} partitions; ask for more`)
      }
      if (t.assignments.some((a) => a.some((b) => b !== ctx.node.nodeId))) {
        return out(
          KafkaErrors.INVALID_REPLICA_ASSIGNMENT.code,
          `this broker is node ${ctx.node.nodeId}; no other exists`,
        )
      }
      if (!validateOnly) {
        for (let p = have; p < t.count; p++) topic.partitions.push(new PartitionLog(t.name, p))
        ctx.state.changed()
      }
      return out(0)
    })
    w.int32(0)
    w.array(false, results, (w, x) => w.string(x.name).int16(x.error).nullableString(x.message))
  },
}

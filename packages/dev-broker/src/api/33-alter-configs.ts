// AlterConfigs: replace a topic's explicit configs (non-incremental, as Kafka's AlterConfigs is).
//
// AlterConfigs Request (Version: 0-1) => [resources] validate_only BOOLEAN
//   resources => resource_type INT8 resource_name STRING [configs]
//     configs => name STRING value NULLABLE_STRING
// AlterConfigs Response (Version: 0-1) => throttle_time_ms INT32 [responses]
//   responses => error_code INT16 error_message NULLABLE_STRING resource_type INT8 resource_name STRING

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import { validateTopicConfig } from '../state/broker-state.js'

const RESOURCE_TOPIC = 2

export const alterConfigs: ApiModule = {
  apiKey: 33,
  name: 'AlterConfigs',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const resources = r.array(false, (r) => ({
      type: r.int8(),
      name: r.string(),
      configs: r.array(false, (r) => ({ name: r.string(), value: r.nullableString() })),
    }))
    const validateOnly = r.bool()
    const results = resources.map((res) => {
      const out = (error: number, message: string | null = null) => ({ ...res, error, message })
      if (ctx.injectedError !== undefined) return out(ctx.injectedError)
      if (res.type !== RESOURCE_TOPIC) {
        return out(KafkaErrors.INVALID_REQUEST.code, `the dev broker alters topic configs only (type ${res.type})`)
      }
      const topic = ctx.state.topics.get(res.name)
      if (topic === undefined) {
        return out(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code, `topic '${res.name}' does not exist`)
      }
      for (const c of res.configs) {
        const problem = validateTopicConfig(c.name, c.value)
        if (problem !== undefined) return out(KafkaErrors.INVALID_CONFIG.code, `topic '${res.name}': ${problem}`)
      }
      if (!validateOnly) {
        topic.configs.clear()
        for (const c of res.configs) if (c.value !== null) topic.configs.set(c.name, c.value)
        ctx.state.changed()
      }
      return out(0)
    })
    w.int32(0)
    w.array(false, results, (w, x) => w.int16(x.error).nullableString(x.message).int8(x.type).string(x.name))
  },
}

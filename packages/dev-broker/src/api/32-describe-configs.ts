// DescribeConfigs: topic configs (explicit ones as DYNAMIC_TOPIC_CONFIG, the rest as Kafka defaults).
//
// DescribeConfigs Request (Version: 0) => [resources]
//   resources => resource_type INT8 resource_name STRING configuration_keys (nullable array of STRING)
// DescribeConfigs Request (Version: 1-2) => [resources] include_synonyms BOOLEAN
// DescribeConfigs Response (Version: 0) => throttle_time_ms INT32 [results]
//   results => error_code INT16 error_message NULLABLE_STRING resource_type INT8 resource_name STRING [configs]
//     configs => name STRING value NULLABLE_STRING read_only BOOLEAN is_default BOOLEAN is_sensitive BOOLEAN
// DescribeConfigs Response (Version: 1-2) => same, but
//     configs => name value read_only config_source INT8 is_sensitive BOOLEAN [synonyms]
//       synonyms => name STRING value NULLABLE_STRING source INT8

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import { TOPIC_CONFIG_DEFAULTS } from '../state/broker-state.js'

const RESOURCE_TOPIC = 2
const RESOURCE_BROKER = 4
const SOURCE_DYNAMIC_TOPIC = 1
const SOURCE_DEFAULT = 5

interface Entry {
  name: string
  value: string
  isDefault: boolean
}

export const describeConfigs: ApiModule = {
  apiKey: 32,
  name: 'DescribeConfigs',
  minVersion: 0,
  maxVersion: 2,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const v = ctx.version
    const resources = r.array(false, (r) => {
      const type = r.int8()
      const name = r.string()
      const n = r.int32()
      const keys: string[] | null = n < 0 ? null : []
      for (let i = 0; i < n; i++) keys!.push(r.string())
      return { type, name, keys }
    })
    const synonyms = v >= 1 ? r.bool() : false
    const results = resources.map((res) => {
      let error = ctx.injectedError ?? 0
      let message: string | null = null
      const entries: Entry[] = []
      if (error === 0 && res.type === RESOURCE_TOPIC) {
        const topic = ctx.state.topics.get(res.name)
        if (topic === undefined) {
          error = KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code
          message = `topic '${res.name}' does not exist`
        } else {
          for (const name of Object.keys(TOPIC_CONFIG_DEFAULTS)) {
            if (res.keys !== null && !res.keys.includes(name)) continue
            entries.push({ name, value: topic.config(name), isDefault: !topic.configs.has(name) })
          }
        }
      } else if (error === 0 && res.type !== RESOURCE_BROKER) {
        error = KafkaErrors.INVALID_REQUEST.code
        message = `resource type ${res.type} is not supported by the dev broker (topics and brokers only)`
      }
      return { ...res, error, message, entries }
    })
    w.int32(0)
    w.array(false, results, (w, x) => {
      w.int16(x.error).nullableString(x.message).int8(x.type).string(x.name)
      w.array(false, x.entries, (w, e) => {
        w.string(e.name).nullableString(e.value).bool(false)
        if (v === 0) w.bool(e.isDefault)
        else w.int8(e.isDefault ? SOURCE_DEFAULT : SOURCE_DYNAMIC_TOPIC)
        w.bool(false)
        if (v >= 1) {
          const list = synonyms && !e.isDefault ? [e] : []
          w.array(false, list, (w, s) => w.string(s.name).nullableString(s.value).int8(SOURCE_DYNAMIC_TOPIC))
        }
      })
    })
  },
}

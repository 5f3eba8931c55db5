// DeleteTopics: drop topics with all their data.
//
// DeleteTopics Request (Version: 0-3) => [topic_names STRING] timeout_ms INT32
// DeleteTopics Response (Version: 0) => [responses]    responses => name STRING error_code INT16
// DeleteTopics Response (Version: 1-3) => throttle_time_ms INT32 [responses]

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'

export const deleteTopics: ApiModule = {
  apiKey: 20,
  name: 'DeleteTopics',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: null,
  handle(r, w, ctx) {
    const names = r.array(false, (r) => r.string())
    r.int32()
    const results = names.map((name) => {
      if (ctx.injectedError !== undefined) return { name, error: ctx.injectedError }
      const ok = ctx.state.deleteTopic(name)
      return { name, error: ok ? 0 : KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code }
    })
    if (ctx.version >= 1) w.int32(0)
    w.array(false, results, (w, x) => w.string(x.name).int16(x.error))
  },
}

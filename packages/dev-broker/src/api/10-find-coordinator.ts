// FindCoordinator: this single node is the coordinator of every group and every transactional id.
//
// FindCoordinator Request (Version: 0) => key
// FindCoordinator Request (Version: 1-2) => key key_type
// FindCoordinator Request (Version: 3) => key key_type TAG_BUFFER            (compact strings)
//   key => STRING; key_type => INT8 (0 = group, 1 = transaction)
// FindCoordinator Response (Version: 0) => error_code node_id host port
// FindCoordinator Response (Version: 1-2) => throttle_time_ms error_code error_message node_id host port
// FindCoordinator Response (Version: 3) => same, compact, TAG_BUFFER
//   error_message => NULLABLE_STRING

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'

const KEY_TYPE_GROUP = 0
const KEY_TYPE_TRANSACTION = 1

export const findCoordinator: ApiModule = {
  apiKey: 10,
  name: 'FindCoordinator',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 3,
  handle(r, w, ctx) {
    const f = ctx.flexible
    const key = r.str(f)
    const keyType = ctx.version >= 1 ? r.int8() : KEY_TYPE_GROUP
    r.taggedFields(f)

    let error: number = KafkaErrors.NONE.code
    let message: string | null = null
    if (keyType !== KEY_TYPE_GROUP && keyType !== KEY_TYPE_TRANSACTION) {
      error = KafkaErrors.INVALID_REQUEST.code
      message = `unknown coordinator key type ${keyType} for key '${key}' (0 = group, 1 = transaction)`
    }
    if (ctx.injectedError !== undefined) error = ctx.injectedError
    const found = error === KafkaErrors.NONE.code

    if (ctx.version >= 1) w.int32(0)
    w.int16(error)
    if (ctx.version >= 1) w.nstr(f, message)
    w.int32(found ? ctx.node.nodeId : -1)
    w.str(f, found ? ctx.node.host : '')
    w.int32(found ? ctx.node.port : -1)
    w.tags(f)
  },
}

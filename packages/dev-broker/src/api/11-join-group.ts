// JoinGroup: a member (re)joins a consumer group; the answer waits until the rebalance completes.
//
// JoinGroup Request (Version: 0) => group_id session_timeout_ms member_id protocol_type [protocols]
//   protocols => name metadata
// JoinGroup Request (Version: 1-4) => group_id session_timeout_ms rebalance_timeout_ms member_id protocol_type
//   [protocols]
// JoinGroup Request (Version: 5) => group_id session_timeout_ms rebalance_timeout_ms member_id group_instance_id
//   protocol_type [protocols]
// JoinGroup Request (Version: 6-7) => same as 5, compact, TAG_BUFFER after each protocol and at the end
// JoinGroup Response (Version: 0-1) => error_code generation_id protocol_name leader member_id [members]
//   members => member_id metadata
// JoinGroup Response (Version: 2-4) => throttle_time_ms error_code generation_id protocol_name leader member_id
//   [members]
// JoinGroup Response (Version: 5) => ... members => member_id group_instance_id metadata
// JoinGroup Response (Version: 6) => same as 5, compact, TAG_BUFFERs
// JoinGroup Response (Version: 7) => throttle_time_ms error_code generation_id protocol_type protocol_name leader
//   member_id [members] TAG_BUFFER   (protocol_type and protocol_name NULLABLE)
// From v4 a new member first gets MEMBER_ID_REQUIRED carrying its id and joins again with it.

import { KafkaErrors } from '../protocol/errors.js'
import type { ApiModule } from '../registry.js'
import type { JoinGroupOutput, ProtocolOffer } from '../state/groups.js'

export const joinGroup: ApiModule = {
  apiKey: 11,
  name: 'JoinGroup',
  minVersion: 0,
  maxVersion: 7,
  flexibleFrom: 6,
  async handle(r, w, ctx) {
    const f = ctx.flexible
    const v = ctx.version
    const groupId = r.str(f)
    const sessionTimeoutMs = r.int32()
    const rebalanceTimeoutMs = v >= 1 ? r.int32() : sessionTimeoutMs
    const memberId = r.str(f)
    const groupInstanceId = v >= 5 ? r.nstr(f) : null
    const protocolType = r.str(f)
    const protocols = r.array(f, (r): ProtocolOffer => {
      const name = r.str(f)
      // copied: the request frame's buffer is not ours to keep once the handler returns
      const metadata = Buffer.from(r.byts(f))
      r.taggedFields(f)
      return { name, metadata }
    })
    r.taggedFields(f)

    let out: JoinGroupOutput
    if (ctx.injectedError !== undefined) {
      out = emptyJoin(memberId)
    } else {
      const reply = ctx.state.groups.joinGroup({
        groupId,
        memberId,
        groupInstanceId,
        clientId: ctx.header.clientId ?? '',
        clientHost: `/${ctx.node.host}`,
        sessionTimeoutMs,
        rebalanceTimeoutMs,
        protocolType,
        protocols,
        requireKnownMemberId: v >= 4,
      })
      const settled = await untilAborted(reply, ctx.signal)
      // the connection is gone: nobody reads the answer, and the member stays until its session expires
      if (settled === undefined) return
      out = settled
    }
    const error = ctx.injectedError ?? KafkaErrors[out.error].code

    if (v >= 2) w.int32(0)
    w.int16(error)
    w.int32(out.generationId)
    if (v >= 7) w.nstr(f, out.protocolType)
    if (v >= 7) w.nstr(f, out.protocolName)
    else w.str(f, out.protocolName ?? '')
    w.str(f, out.leader)
    w.str(f, out.memberId)
    w.array(f, out.members, (w, m) => {
      w.str(f, m.memberId)
      if (v >= 5) w.nstr(f, m.groupInstanceId)
      w.byts(f, m.metadata)
      w.tags(f)
    })
    w.tags(f)
  },
}

function emptyJoin(memberId: string): JoinGroupOutput {
  return { error: 'NONE', generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] }
}

/** Resolves with the value, or with undefined as soon as the request's connection (or the broker) closes. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined)
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

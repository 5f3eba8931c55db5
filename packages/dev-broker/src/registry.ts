// Where API modules register the versions they implement; ApiVersions is derived from these registrations, so
// the broker can never advertise a version it does not handle.
//
// HOW TO ADD AN API MODULE (one file per API key under src/api/, named `<key>-<kebab-name>.ts`):
//
//   // JoinGroup: consumers join a group.  (then the Kafka grammar of every version you claim, as a comment)
//   import type { ApiModule } from '../registry.js'
//   import { KafkaErrors } from '../protocol/errors.js'
//   export const joinGroup: ApiModule = {
//     apiKey: 11, name: 'JoinGroup', minVersion: 0, maxVersion: 5, flexibleFrom: 6,   // null if never flexible
//     handle(r, w, ctx) {
//       const f = ctx.flexible                       // r.str(f) / r.array(f, ...) / w.str(f, ...) / w.tags(f)
//       const groupId = r.str(f)                     // parse the request body with Reader (header already read)
//       ...
//       if (ctx.version >= 2) w.int32(0)             // write ONLY the response body; the framework writes the
//       w.int16(ctx.injectedError ?? code)           // response header (v0, or v1 with tags when flexible)
//       w.tags(f)
//     },
//   }
// then add it to the array in src/api/group-apis.ts (owned by the group-coordinator author; data APIs live in
// src/api/data-apis.ts). Rules:
// - `handle` may be async (e.g. JoinGroup waiting for a rebalance); responses still go out in request order.
//   Use ctx.signal (aborted when the connection or broker closes) to give up waiting.
// - When ctx.injectedError is set (a test's control() hook asked for it), change NO state and answer every error
//   field of the response with that code.
// - Throwing anything else (a MalformedFrameError from Reader included) closes that connection only.
// - Shared state: ctx.state (BrokerState: topics/logs, producers/transactions, and `groups: GroupCoordinator`).

import type { Reader } from './protocol/reader.js'
import type { Writer } from './protocol/writer.js'
import type { BrokerState } from './state/broker-state.js'

export interface RequestHeader {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

export interface BrokerNode {
  readonly nodeId: number
  readonly host: string
  readonly port: number
}

export interface ApiContext {
  readonly header: RequestHeader
  /** Same as header.apiVersion. */
  readonly version: number
  /** True when this version uses the flexible (compact + tagged fields) encoding. */
  readonly flexible: boolean
  readonly state: BrokerState
  /** This broker as advertised in Metadata/FindCoordinator (the real listening host and port). */
  readonly node: BrokerNode
  readonly connectionId: number
  /** Every registered module (ApiVersions reads it). */
  readonly apis: ApiRegistry
  /** Set by a control() hook: answer every error field with it and change no state. */
  readonly injectedError: number | undefined
  /** Aborted when the connection or the broker closes; long waits must stop then. */
  readonly signal: AbortSignal
  /** Call to send no response at all (Produce with acks=0). */
  noResponse(): void
}

export interface ApiModule {
  readonly apiKey: number
  readonly name: string
  readonly minVersion: number
  readonly maxVersion: number
  /** First flexible version (KIP-482) per Kafka's JSON "flexibleVersions", or null when none is claimed. */
  readonly flexibleFrom: number | null
  handle(r: Reader, w: Writer, ctx: ApiContext): void | Promise<void>
}

export interface ApiVersionRange {
  readonly apiKey: number
  readonly minVersion: number
  readonly maxVersion: number
}

export class ApiRegistry {
  private readonly modules = new Map<number, ApiModule>()

  constructor(modules: readonly ApiModule[] = []) {
    for (const m of modules) this.register(m)
  }

  register(m: ApiModule): void {
    const existing = this.modules.get(m.apiKey)
    if (existing !== undefined) {
      throw new Error(`API key ${m.apiKey} registered twice (${existing.name} and ${m.name})`)
    }
    if (m.minVersion > m.maxVersion) throw new Error(`${m.name}: minVersion ${m.minVersion} > maxVersion`)
    this.modules.set(m.apiKey, m)
  }

  get(apiKey: number): ApiModule | undefined {
    return this.modules.get(apiKey)
  }

  supports(apiKey: number, version: number): boolean {
    const m = this.modules.get(apiKey)
    return m !== undefined && version >= m.minVersion && version <= m.maxVersion
  }

  isFlexible(apiKey: number, version: number): boolean {
    const m = this.modules.get(apiKey)
    return m !== undefined && m.flexibleFrom !== null && version >= m.flexibleFrom
  }

  /** What ApiVersions advertises: exactly the registered ranges, by key. */
  versions(): ApiVersionRange[] {
    return [...this.modules.values()]
      .map((m) => ({ apiKey: m.apiKey, minVersion: m.minVersion, maxVersion: m.maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey)
  }
}

/** ApiVersions (key 18) answers with response header v0 even in its flexible v3 (KIP-511). */
export const API_VERSIONS_KEY = 18

export function requestHeaderIsFlexible(registry: ApiRegistry, apiKey: number, version: number): boolean {
  return registry.isFlexible(apiKey, version)
}

export function responseHeaderIsFlexible(registry: ApiRegistry, apiKey: number, version: number): boolean {
  return apiKey !== API_VERSIONS_KEY && registry.isFlexible(apiKey, version)
}

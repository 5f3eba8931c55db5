// The archiver fetches through kafkajs' own cluster and broker connections (so SSL, SASL, re-authentication, request
// timeouts and metadata all behave as configured) but sends Fetch with its own response decoder. kafkajs exposes none
// of this publicly: the few internals used are named here, in one place, and checked when the archiver starts, so a
// kafkajs that moved them fails at once with a clear message instead of archiving wrongly.
import { createRequire } from 'node:module'
import { EverlogError } from '@everlog/core'
import type { Kafka } from 'kafkajs'
import { MAX_FETCH_VERSION, MIN_FETCH_VERSION, decodeFetchResponse } from './fetch-response.js'
import type { FetchResponse } from './fetch-response.js'
import { frameResponses } from './response-frames.js'
import type { ResponseBuffers } from './response-frames.js'

const require = createRequire(import.meta.url)

export interface KafkaProtocolError extends Error {
  type: string
  code: number
  retriable: boolean
}

interface ProtocolRequest {
  request: { apiKey: number; apiVersion: number; apiName: string }
  response: { decode(payload: Buffer): Promise<unknown>; parse(decoded: unknown): Promise<unknown> }
  requestTimeout?: number
}

/** The part of a kafkajs Broker the fetcher uses. */
export interface KafkaBroker {
  lookupRequest(apiKey: number, definition: unknown): (params: FetchParams) => ProtocolRequest
  connectionPool: { send(request: ProtocolRequest): Promise<unknown>; pool?: unknown[] }
  disconnect(): Promise<void>
}

/** The part of a kafkajs Cluster the fetcher uses. */
export interface KafkaCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  refreshMetadata(): Promise<void>
  addMultipleTargetTopics(topics: string[]): Promise<void>
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>
  findBroker(query: { nodeId: string }): Promise<KafkaBroker>
}

export interface FetchParams {
  replicaId: number
  isolationLevel: number
  maxWaitTime: number
  minBytes: number
  maxBytes: number
  topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[]
  rackId: string
}

interface Internals {
  apiKeys: { Fetch: number }
  requests: { Fetch: unknown }
  createErrorFromCode(code: number): KafkaProtocolError
}

let internals: Internals | undefined

function kafkajsInternals(): Internals {
  if (internals) return internals
  try {
    const apiKeys = require('kafkajs/src/protocol/requests/apiKeys') as Internals['apiKeys']
    const { requests } = require('kafkajs/src/protocol/requests') as { requests: Internals['requests'] }
    const { createErrorFromCode } = require('kafkajs/src/protocol/error') as Pick<Internals, 'createErrorFromCode'>
    if (typeof apiKeys.Fetch !== 'number' || !requests.Fetch || typeof createErrorFromCode !== 'function') {
      throw new Error('unexpected module shapes')
    }
    internals = { apiKeys, requests, createErrorFromCode }
    return internals
  } catch (err) {
    throw incompatible('its protocol modules', err)
  }
}

/** kafkajs' error for a Kafka error code: its name, message and whether retrying can help. */
export function kafkaError(code: number): KafkaProtocolError {
  return kafkajsInternals().createErrorFromCode(code)
}

/** A cluster of its own for fetching (own connections), built from the client's settings. */
export function createFetchCluster(kafka: Kafka): KafkaCluster {
  kafkajsInternals()
  const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')
  const factory = create === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[create]
  if (typeof factory !== 'function') throw incompatible('its cluster factory')
  const cluster = factory({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED }) as KafkaCluster
  for (const method of ['connect', 'addMultipleTargetTopics', 'findLeaderForPartitions', 'findBroker'] as const) {
    if (typeof cluster[method] !== 'function') throw incompatible(`Cluster.${method}`)
  }
  return cluster
}

const READ_COMMITTED = 1

/**
 * Sends one Fetch to `broker` (read_committed, at the newest version both sides know, v4-v11) and decodes the
 * response with the archiver's decoder. With `buffers`, the broker's connections gather responses into its buffers,
 * and the response's `release` gives its buffer back.
 */
export async function sendFetch(
  broker: KafkaBroker,
  params: Omit<FetchParams, 'replicaId' | 'isolationLevel' | 'rackId'>,
  buffers?: ResponseBuffers,
): Promise<FetchResponse> {
  const { apiKeys, requests } = kafkajsInternals()
  const protocol = broker.lookupRequest(
    apiKeys.Fetch,
    requests.Fetch,
  )({
    ...params,
    replicaId: -1,
    isolationLevel: READ_COMMITTED,
    rackId: '',
  })
  const version = protocol.request.apiVersion
  if (version < MIN_FETCH_VERSION || version > MAX_FETCH_VERSION) {
    throw new EverlogError(
      'CONFIG',
      `the Kafka broker offers Fetch v${version}; the archiver needs v${MIN_FETCH_VERSION} or newer (Kafka 0.11+)`,
    )
  }
  if (buffers) for (const connection of broker.connectionPool.pool ?? []) frameResponses(connection, buffers)
  const response = (await broker.connectionPool.send({
    ...protocol,
    response: {
      decode: async (payload) => {
        const decoded = decodeFetchResponse(payload, version)
        let released = false
        if (buffers) {
          decoded.release = () => {
            if (released) return
            released = true
            buffers.release(payload)
          }
        }
        return decoded
      },
      parse: async (decoded) => decoded,
    },
  })) as FetchResponse
  return response
}

function incompatible(what: string, cause?: unknown): EverlogError {
  return new EverlogError(
    'CONFIG',
    `this kafkajs version does not have ${what} where the archiver's fetcher expects it (tested with kafkajs 2.2); ` +
      'install the kafkajs version @everlog/archiver depends on',
    cause === undefined ? {} : { cause },
  )
}

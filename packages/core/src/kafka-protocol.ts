// Which Kafka requests Everlog sends through kafkajs, the versions kafkajs 2.2.4 implements for each, and a check
// that a broker serves a common version of every request a component needs. Without it, a broker whose range
// excludes kafkajs' (Kafka 4 removed old versions, KIP-896) closes the connection on the request kafkajs picks,
// and kafkajs reconnects and retries it: a hang instead of an error.
import { EverlogError, ErrorCodes } from './errors.js'

/** kafkajs 2.2.4's implemented versions, by request (its protocol/requests folders; a test checks them). */
export const KAFKAJS_REQUEST_VERSIONS = {
  Produce: { apiKey: 0, min: 0, max: 7 },
  Fetch: { apiKey: 1, min: 0, max: 11 },
  ListOffsets: { apiKey: 2, min: 0, max: 3 },
  Metadata: { apiKey: 3, min: 0, max: 6 },
  OffsetCommit: { apiKey: 8, min: 0, max: 5 },
  OffsetFetch: { apiKey: 9, min: 1, max: 4 },
  FindCoordinator: { apiKey: 10, min: 0, max: 2 },
  JoinGroup: { apiKey: 11, min: 0, max: 5 },
  Heartbeat: { apiKey: 12, min: 0, max: 3 },
  LeaveGroup: { apiKey: 13, min: 0, max: 3 },
  SyncGroup: { apiKey: 14, min: 0, max: 3 },
  DescribeGroups: { apiKey: 15, min: 0, max: 2 },
  ListGroups: { apiKey: 16, min: 0, max: 2 },
  ApiVersions: { apiKey: 18, min: 0, max: 2 },
  CreateTopics: { apiKey: 19, min: 0, max: 3 },
  DeleteTopics: { apiKey: 20, min: 0, max: 1 },
  DeleteRecords: { apiKey: 21, min: 0, max: 1 },
  InitProducerId: { apiKey: 22, min: 0, max: 1 },
  AddPartitionsToTxn: { apiKey: 24, min: 0, max: 1 },
  AddOffsetsToTxn: { apiKey: 25, min: 0, max: 1 },
  EndTxn: { apiKey: 26, min: 0, max: 1 },
  TxnOffsetCommit: { apiKey: 28, min: 0, max: 1 },
  DescribeConfigs: { apiKey: 32, min: 0, max: 2 },
} as const

export type KafkaRequestName = keyof typeof KAFKAJS_REQUEST_VERSIONS

/** What a consumer group member sends (the archiver, ArchiveConsumer). */
export const GROUP_CONSUMER_REQUESTS: readonly KafkaRequestName[] = [
  'Metadata',
  'Fetch',
  'ListOffsets',
  'FindCoordinator',
  'JoinGroup',
  'SyncGroup',
  'Heartbeat',
  'LeaveGroup',
  'OffsetCommit',
  'OffsetFetch',
]

/** A broker's ApiVersions answer: api key -> the versions it serves. */
export type ServedVersions = ReadonlyMap<number, { readonly min: number; readonly max: number }>

/** The requests of `needs` that have no version both kafkajs and the broker speak, described for a message. */
export function unservedRequests(served: ServedVersions, needs: readonly KafkaRequestName[]): string[] {
  const out: string[] = []
  for (const name of needs) {
    const { apiKey, min, max } = KAFKAJS_REQUEST_VERSIONS[name]
    const range = served.get(apiKey)
    if (range === undefined) out.push(`${name} (key ${apiKey}): the broker serves none, kafkajs v${min}-${max}`)
    else if (range.max < min || range.min > max) {
      out.push(`${name} (key ${apiKey}): the broker serves v${range.min}-${range.max}, kafkajs v${min}-${max}`)
    }
  }
  return out
}

/** The Kafka broker serves no version of a request Everlog needs that kafkajs can send. */
export class KafkaProtocolUnsupportedError extends EverlogError {
  readonly requests: readonly string[]
  constructor(requests: readonly string[], what: string) {
    super(
      ErrorCodes.KAFKA_PROTOCOL_UNSUPPORTED,
      `${what} cannot talk to this Kafka broker: no common protocol version for ${requests.join('; ')}`,
    )
    this.requests = requests
  }
}

interface KafkajsCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  brokerPool?: { versions?: Record<string, { minVersion: number; maxVersion: number }> | null }
}

/**
 * The versions the seed broker serves, as kafkajs negotiated them (its own connection settings: TLS, SASL, socket
 * factory), or undefined when this kafkajs client does not expose them. kafkajs keeps its cluster private; a
 * client built from it once is asked here, connected and disconnected again.
 */
export async function servedVersions(kafka: object): Promise<ServedVersions | undefined> {
  const key = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')
  if (key === undefined) return undefined
  const create = (kafka as Record<symbol, unknown>)[key]
  if (typeof create !== 'function') return undefined
  const cluster = (create as (o: object) => KafkajsCluster)({ allowAutoTopicCreation: false })
  try {
    await cluster.connect()
    const versions = cluster.brokerPool?.versions
    if (!versions) return undefined
    return new Map(
      Object.entries(versions).map(([k, v]) => [Number(k), { min: v.minVersion, max: v.maxVersion }] as const),
    )
  } finally {
    await cluster.disconnect().catch(() => {})
  }
}

/**
 * Throws KafkaProtocolUnsupportedError when the broker serves no common version of a request in `needs`. Call it
 * once the component's own client has connected (so an unreachable broker still fails as it always did); a
 * client whose versions cannot be read is not checked.
 */
export async function checkKafkaProtocol(
  kafka: object,
  needs: readonly KafkaRequestName[],
  what: string,
): Promise<void> {
  const served = await servedVersions(kafka)
  if (served === undefined) return
  const unserved = unservedRequests(served, needs)
  if (unserved.length > 0) throw new KafkaProtocolUnsupportedError(unserved, what)
}

// Kafka's topic IDs (Kafka 2.8+, KIP-516): a topic deleted and created again under the same name gets a new ID, and
// its offsets start at 0 again. kafkajs speaks Metadata up to v6, which has no IDs, so the archiver sends Metadata
// v10-v12 itself over a kafkajs broker connection, with its own encoder and decoder (flexible versions).
//
// Metadata Request (Version: 10-12) => [topics] allow_auto_topic_creation [v10: include_cluster_authorized_operations]
//                                      include_topic_authorized_operations TAG_BUFFER
//   topics => topic_id UUID name COMPACT_NULLABLE_STRING TAG_BUFFER
// Metadata Response (Version: 10-12) => throttle_time_ms [brokers] cluster_id controller_id [topics]
//                                       [v10: cluster_authorized_operations INT32] TAG_BUFFER
//   brokers => node_id INT32 host COMPACT_STRING port INT32 rack COMPACT_NULLABLE_STRING TAG_BUFFER
//   topics => error_code INT16 name COMPACT_NULLABLE_STRING topic_id UUID is_internal BOOLEAN [partitions]
//             topic_authorized_operations INT32 TAG_BUFFER
//     partitions => error_code INT16 partition_index INT32 leader_id INT32 leader_epoch INT32 [replica_nodes INT32]
//                   [isr_nodes INT32] [offline_replicas INT32] TAG_BUFFER
// Flexible requests carry request header v2 (header v1 + TAG_BUFFER) and answer with response header v1
// (correlation id + TAG_BUFFER): kafkajs writes and reads the v1/v0 parts, this module the tagged fields.
import { EverlogError } from '@everlog/core'

const METADATA = 3
const MIN_VERSION = 10
const MAX_VERSION = 12
const UNKNOWN_TOPIC_OR_PARTITION = 3

/** The part of a kafkajs Broker this module uses. */
export interface TopicIdBroker {
  versions?: Record<number, { minVersion: number; maxVersion: number }> | null
  connectionPool: { send(request: unknown): Promise<unknown> }
}

/** Per topic: its ID in Kafka's own text form (as kafka-topics.sh prints it), or null when Kafka has no such topic. */
export type TopicIds = Map<string, string | null>

/**
 * The IDs of `topics`, asked of `broker`; undefined when the broker predates topic IDs (Metadata below v10:
 * Kafka before 2.8, or a broker that does not implement them).
 */
export async function fetchTopicIds(broker: TopicIdBroker, topics: readonly string[]): Promise<TopicIds | undefined> {
  const range = broker.versions?.[METADATA]
  if (!range || range.maxVersion < MIN_VERSION || range.minVersion > MAX_VERSION) return undefined
  const version = Math.min(range.maxVersion, MAX_VERSION)
  const request = encodeRequest(version, topics)
  const ids = (await broker.connectionPool.send({
    request: {
      apiKey: METADATA,
      apiVersion: version,
      apiName: 'Metadata',
      // kafkajs takes anything shaped like its Encoder here.
      encode: () => ({ buf: request, buffer: request }),
    },
    response: {
      decode: async (payload: Buffer) => decodeResponse(payload, version),
      parse: async (decoded: unknown) => decoded,
    },
  })) as TopicIds
  return ids
}

function encodeRequest(version: number, topics: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0])] // request header v2's tagged fields (none)
  parts.push(uvarint(topics.length + 1))
  for (const name of topics) {
    const bytes = Buffer.from(name, 'utf8')
    parts.push(Buffer.alloc(16), uvarint(bytes.length + 1), bytes, Buffer.from([0]))
  }
  // allow_auto_topic_creation false, [v10 include_cluster_authorized_operations false],
  // include_topic_authorized_operations false, no tagged fields.
  parts.push(Buffer.from(version === 10 ? [0, 0, 0, 0] : [0, 0, 0]))
  return Buffer.concat(parts)
}

function decodeResponse(payload: Buffer, version: number): TopicIds {
  const r = new Reader(payload)
  r.tags() // response header v1
  r.int32() // throttle_time_ms
  for (let n = r.length(); n > 0; n--) {
    r.int32()
    r.string()
    r.int32()
    r.string()
    r.tags()
  }
  r.string() // cluster_id
  r.int32() // controller_id
  const out: TopicIds = new Map()
  for (let n = r.length(); n > 0; n--) {
    const error = r.int16()
    const name = r.string()
    const id = r.uuid()
    r.skip(1) // is_internal
    for (let p = r.length(); p > 0; p--) {
      r.skip(2 + 4 + 4 + 4)
      for (let k = 0; k < 3; k++) r.skip(4 * r.length())
      r.tags()
    }
    r.int32() // topic_authorized_operations
    r.tags()
    if (name === null) continue
    if (error === 0) out.set(name, id)
    else if (error === UNKNOWN_TOPIC_OR_PARTITION) out.set(name, null)
    else throw new EverlogError('INVALID_ARGUMENT', `Kafka answered Metadata for topic "${name}" with error ${error}`)
  }
  if (version === 10) r.int32()
  return out
}

function uvarint(value: number): Buffer {
  const bytes: number[] = []
  let v = value
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80)
    v >>>= 7
  }
  bytes.push(v)
  return Buffer.from(bytes)
}

/** A bounds-checked cursor over a flexible-version response. */
class Reader {
  private at = 0
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (n < 0 || this.at + n > this.buf.length) {
      throw new EverlogError('FORMAT', 'a Metadata response from Kafka ended early or is malformed')
    }
  }

  skip(n: number): void {
    this.need(n)
    this.at += n
  }

  int16(): number {
    this.need(2)
    const v = this.buf.readInt16BE(this.at)
    this.at += 2
    return v
  }

  int32(): number {
    this.need(4)
    const v = this.buf.readInt32BE(this.at)
    this.at += 4
    return v
  }

  uvarint(): number {
    let value = 0
    for (let shift = 0; shift < 35; shift += 7) {
      this.need(1)
      const b = this.buf[this.at++]!
      value += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return value
    }
    throw new EverlogError('FORMAT', 'a Metadata response from Kafka holds a malformed varint')
  }

  /** A compact array's element count (a null array counts as none). */
  length(): number {
    const n = this.uvarint()
    return n === 0 ? 0 : n - 1
  }

  string(): string | null {
    const n = this.uvarint()
    if (n === 0) return null
    this.need(n - 1)
    const s = this.buf.toString('utf8', this.at, this.at + n - 1)
    this.at += n - 1
    return s
  }

  /** A UUID in Kafka's text form: URL-safe base64 of its 16 bytes, without padding. */
  uuid(): string {
    this.need(16)
    const s = this.buf.subarray(this.at, this.at + 16).toString('base64url')
    this.at += 16
    return s
  }

  tags(): void {
    for (let n = this.uvarint(); n > 0; n--) {
      this.uvarint()
      this.skip(this.uvarint())
    }
  }
}

// Kafka protocol error codes as one data table (Apache Kafka's org.apache.kafka.common.protocol.Errors).
// Handlers write `KafkaErrors.X.code`; logs and tests print names via errorName().

export interface KafkaErrorInfo {
  readonly name: string
  readonly code: number
  readonly retriable: boolean
  readonly message: string
}

const TABLE = [
  ['UNKNOWN_SERVER_ERROR', -1, false, 'The server experienced an unexpected error when processing the request.'],
  ['NONE', 0, false, ''],
  ['OFFSET_OUT_OF_RANGE', 1, false, 'The requested offset is not within the range of offsets on the server.'],
  ['CORRUPT_MESSAGE', 2, true, 'The message contents does not match its CRC.'],
  ['UNKNOWN_TOPIC_OR_PARTITION', 3, true, 'This server does not host this topic-partition.'],
  ['INVALID_FETCH_SIZE', 4, false, 'The requested fetch size is invalid.'],
  ['LEADER_NOT_AVAILABLE', 5, true, 'There is no leader for this topic-partition.'],
  ['NOT_LEADER_OR_FOLLOWER', 6, true, 'This server is not the leader for that topic-partition.'],
  ['REQUEST_TIMED_OUT', 7, true, 'The request timed out.'],
  ['BROKER_NOT_AVAILABLE', 8, false, 'The broker is not available.'],
  ['REPLICA_NOT_AVAILABLE', 9, true, 'The replica is not available for the requested topic-partition.'],
  ['MESSAGE_TOO_LARGE', 10, false, 'The request included a message larger than the max message size.'],
  ['STALE_CONTROLLER_EPOCH', 11, false, 'The controller moved to another broker.'],
  ['OFFSET_METADATA_TOO_LARGE', 12, false, 'The metadata field of the offset request was too large.'],
  ['NETWORK_EXCEPTION', 13, true, 'The server disconnected before a response was received.'],
  ['COORDINATOR_LOAD_IN_PROGRESS', 14, true, 'The coordinator is loading and hence cannot process requests.'],
  ['COORDINATOR_NOT_AVAILABLE', 15, true, 'The coordinator is not available.'],
  ['NOT_COORDINATOR', 16, true, 'This is not the correct coordinator.'],
  ['INVALID_TOPIC_EXCEPTION', 17, false, 'The request attempted to perform an operation on an invalid topic.'],
  ['RECORD_LIST_TOO_LARGE', 18, false, 'The request included a message batch larger than the configured size.'],
  ['NOT_ENOUGH_REPLICAS', 19, true, 'Messages are rejected since there are fewer in-sync replicas than required.'],
  ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', 20, true, 'Messages are written to the log, but to fewer replicas.'],
  ['INVALID_REQUIRED_ACKS', 21, false, 'Produce request specified an invalid value for required acks.'],
  ['ILLEGAL_GENERATION', 22, false, 'Specified group generation id is not valid.'],
  ['INCONSISTENT_GROUP_PROTOCOL', 23, false, 'The group member protocol type or protocols are incompatible.'],
  ['INVALID_GROUP_ID', 24, false, 'The configured groupId is invalid.'],
  ['UNKNOWN_MEMBER_ID', 25, false, 'The coordinator is not aware of this member.'],
  ['INVALID_SESSION_TIMEOUT', 26, false, 'The session timeout is not within the range allowed by the broker.'],
  ['REBALANCE_IN_PROGRESS', 27, false, 'The group is rebalancing, so a rejoin is needed.'],
  ['INVALID_COMMIT_OFFSET_SIZE', 28, false, 'The committing offset data size is not valid.'],
  ['TOPIC_AUTHORIZATION_FAILED', 29, false, 'Topic authorization failed.'],
  ['GROUP_AUTHORIZATION_FAILED', 30, false, 'Group authorization failed.'],
  ['CLUSTER_AUTHORIZATION_FAILED', 31, false, 'Cluster authorization failed.'],
  ['INVALID_TIMESTAMP', 32, false, 'The timestamp of the message is out of acceptable range.'],
  ['UNSUPPORTED_SASL_MECHANISM', 33, false, 'The broker does not support the requested SASL mechanism.'],
  ['ILLEGAL_SASL_STATE', 34, false, 'Request is not valid given the current SASL state.'],
  ['UNSUPPORTED_VERSION', 35, false, 'The version of API is not supported.'],
  ['TOPIC_ALREADY_EXISTS', 36, false, 'Topic with this name already exists.'],
  ['INVALID_PARTITIONS', 37, false, 'Number of partitions is below 1.'],
  ['INVALID_REPLICATION_FACTOR', 38, false, 'Replication factor is below 1 or larger than the number of brokers.'],
  ['INVALID_REPLICA_ASSIGNMENT', 39, false, 'Replica assignment is invalid.'],
  ['INVALID_CONFIG', 40, false, 'Configuration is invalid.'],
  ['NOT_CONTROLLER', 41, true, 'This is not the correct controller for this cluster.'],
  ['INVALID_REQUEST', 42, false, 'This most likely occurs because of a request being malformed by the client.'],
  ['UNSUPPORTED_FOR_MESSAGE_FORMAT', 43, false, 'The message format version on the broker does not support it.'],
  ['POLICY_VIOLATION', 44, false, 'Request parameters do not satisfy the configured policy.'],
  ['OUT_OF_ORDER_SEQUENCE_NUMBER', 45, false, 'The broker received an out of order sequence number.'],
  ['DUPLICATE_SEQUENCE_NUMBER', 46, false, 'The broker received a duplicate sequence number.'],
  ['INVALID_PRODUCER_EPOCH', 47, false, 'Producer attempted to produce with an old epoch.'],
  ['INVALID_TXN_STATE', 48, false, 'The producer attempted a transactional operation in an invalid state.'],
  ['INVALID_PRODUCER_ID_MAPPING', 49, false, 'The producer id is not currently assigned to its transactional id.'],
  ['INVALID_TRANSACTION_TIMEOUT', 50, false, 'The transaction timeout is larger than the maximum allowed.'],
  ['CONCURRENT_TRANSACTIONS', 51, true, 'The producer attempted to update a transaction while another is open.'],
  ['TRANSACTION_COORDINATOR_FENCED', 52, false, 'The transaction coordinator has been fenced.'],
  ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 53, false, 'Transactional Id authorization failed.'],
  ['SECURITY_DISABLED', 54, false, 'Security features are disabled.'],
  ['OPERATION_NOT_ATTEMPTED', 55, false, 'The broker did not attempt to execute this operation.'],
  ['KAFKA_STORAGE_ERROR', 56, true, 'Disk error when trying to access log file on the disk.'],
  ['LOG_DIR_NOT_FOUND', 57, false, 'The user-specified log directory is not found in the broker config.'],
  ['SASL_AUTHENTICATION_FAILED', 58, false, 'SASL Authentication failed.'],
  ['UNKNOWN_PRODUCER_ID', 59, false, 'The broker could not locate the producer metadata for this producer id.'],
  ['REASSIGNMENT_IN_PROGRESS', 60, false, 'A partition reassignment is in progress.'],
  ['DELEGATION_TOKEN_AUTH_DISABLED', 61, false, 'Delegation Token feature is not enabled.'],
  ['DELEGATION_TOKEN_NOT_FOUND', 62, false, 'Delegation Token is not found on server.'],
  ['DELEGATION_TOKEN_OWNER_MISMATCH', 63, false, 'Specified Principal is not valid Owner/Renewer.'],
  ['DELEGATION_TOKEN_REQUEST_NOT_ALLOWED', 64, false, 'Delegation Token requests are not allowed.'],
  ['DELEGATION_TOKEN_AUTHORIZATION_FAILED', 65, false, 'Delegation Token authorization failed.'],
  ['DELEGATION_TOKEN_EXPIRED', 66, false, 'Delegation Token is expired.'],
  ['INVALID_PRINCIPAL_TYPE', 67, false, 'Supplied principalType is not supported.'],
  ['NON_EMPTY_GROUP', 68, false, 'The group is not empty.'],
  ['GROUP_ID_NOT_FOUND', 69, false, 'The group id does not exist.'],
  ['FETCH_SESSION_ID_NOT_FOUND', 70, true, 'The fetch session ID was not found.'],
  ['INVALID_FETCH_SESSION_EPOCH', 71, true, 'The fetch session epoch is invalid.'],
  ['LISTENER_NOT_FOUND', 72, true, 'There is no listener on the leader broker for the listener name.'],
  ['TOPIC_DELETION_DISABLED', 73, false, 'Topic deletion is disabled.'],
  ['FENCED_LEADER_EPOCH', 74, true, 'The leader epoch in the request is older than the epoch on the broker.'],
  ['UNKNOWN_LEADER_EPOCH', 75, true, 'The leader epoch in the request is newer than the epoch on the broker.'],
  ['UNSUPPORTED_COMPRESSION_TYPE', 76, false, 'The requesting client does not support the compression type.'],
  ['STALE_BROKER_EPOCH', 77, false, 'Broker epoch has changed.'],
  ['OFFSET_NOT_AVAILABLE', 78, true, 'The leader high watermark has not caught up.'],
  ['MEMBER_ID_REQUIRED', 79, false, 'The group member needs to have a valid member id.'],
  ['PREFERRED_LEADER_NOT_AVAILABLE', 80, true, 'The preferred leader was not available.'],
  ['GROUP_MAX_SIZE_REACHED', 81, false, 'The consumer group has reached its max size.'],
  ['FENCED_INSTANCE_ID', 82, false, 'Another consumer with the same group.instance.id has registered.'],
  ['ELIGIBLE_LEADERS_NOT_AVAILABLE', 83, true, 'Eligible topic partition leaders are not available.'],
  ['ELECTION_NOT_NEEDED', 84, true, 'Leader election not needed for topic partition.'],
  ['NO_REASSIGNMENT_IN_PROGRESS', 85, false, 'No partition reassignment is in progress.'],
  ['GROUP_SUBSCRIBED_TO_TOPIC', 86, false, 'Deleting offsets of a topic is forbidden while the group subscribes.'],
  ['INVALID_RECORD', 87, false, 'This record has failed the validation on broker and hence will be rejected.'],
  ['UNSTABLE_OFFSET_COMMIT', 88, true, 'There are unstable offsets that need to be cleared.'],
  ['THROTTLING_QUOTA_EXCEEDED', 89, true, 'The throttling quota has been exceeded.'],
  ['PRODUCER_FENCED', 90, false, 'There is a newer producer with the same transactionalId.'],
] as const

type Row = (typeof TABLE)[number]
export type KafkaErrorName = Row[0]

function index(): Record<KafkaErrorName, KafkaErrorInfo> {
  const out = {} as Record<KafkaErrorName, KafkaErrorInfo>
  for (const [name, code, retriable, message] of TABLE) out[name] = Object.freeze({ name, code, retriable, message })
  return out
}

/** Every known error by name, e.g. `KafkaErrors.OFFSET_OUT_OF_RANGE.code === 1`. */
export const KafkaErrors: Readonly<Record<KafkaErrorName, KafkaErrorInfo>> = Object.freeze(index())

const BY_CODE = new Map<number, KafkaErrorInfo>(Object.values(KafkaErrors).map((e) => [e.code, e]))

export function kafkaError(code: number): KafkaErrorInfo | undefined {
  return BY_CODE.get(code)
}

export function errorName(code: number): string {
  return BY_CODE.get(code)?.name ?? `UNKNOWN_ERROR_CODE_${code}`
}

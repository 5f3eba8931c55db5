// Every error Everlog raises carries a stable `code` (for programs), a message a user can act on, whether
// retrying could help, and the underlying cause. Codes are part of the public API: never rename one.

export const ErrorCodes = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  INVALID_STORE_URL: 'INVALID_STORE_URL',
  INVALID_TOPIC_NAME: 'INVALID_TOPIC_NAME',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  STORE_ACCESS_DENIED: 'STORE_ACCESS_DENIED',
  OBJECT_NOT_FOUND: 'OBJECT_NOT_FOUND',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  INTEGRITY: 'INTEGRITY',
  FORMAT: 'FORMAT',
  UNSUPPORTED_FORMAT_VERSION: 'UNSUPPORTED_FORMAT_VERSION',
  FENCED: 'FENCED',
  UNKNOWN_TOPIC: 'UNKNOWN_TOPIC',
  UNKNOWN_PARTITION: 'UNKNOWN_PARTITION',
  OFFSET_ORDER: 'OFFSET_ORDER',
  ARCHIVE_UNAVAILABLE: 'ARCHIVE_UNAVAILABLE',
  DATA_LOSS: 'DATA_LOSS',
  CONFIG: 'CONFIG',
  /** The store does not refuse a conditional write it should refuse (no fencing possible there). */
  CONDITIONAL_WRITES_UNSUPPORTED: 'CONDITIONAL_WRITES_UNSUPPORTED',
  /** The store answered a ranged read with other bytes than asked for. */
  STORE_RANGE_MISMATCH: 'STORE_RANGE_MISMATCH',
  ICEBERG_TABLE_NOT_FOUND: 'ICEBERG_TABLE_NOT_FOUND',
  KAFKA_TLS: 'KAFKA_TLS',
  KAFKA_AUTHENTICATION: 'KAFKA_AUTHENTICATION',
  KAFKA_AUTHORIZATION: 'KAFKA_AUTHORIZATION',
  /** The Kafka topic was deleted and created again under the name the archive holds. */
  TOPIC_RECREATED: 'TOPIC_RECREATED',
  /** The Kafka broker serves no version of a request that kafkajs can send (e.g. versions a newer Kafka removed). */
  KAFKA_PROTOCOL_UNSUPPORTED: 'KAFKA_PROTOCOL_UNSUPPORTED',
} as const
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export interface EverlogErrorOptions {
  retriable?: boolean
  cause?: unknown
}

export class EverlogError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean
  constructor(code: ErrorCode, message: string, options: EverlogErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.retriable = options.retriable ?? false
  }
}

/** A caller passed something that can never work (bad option, bad range). */
export class InvalidArgumentError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.INVALID_ARGUMENT, message, options)
  }
}

export class InvalidStoreUrlError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.INVALID_STORE_URL, message, options)
  }
}

export class InvalidTopicNameError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.INVALID_TOPIC_NAME, message, options)
  }
}

/** The store could not be reached or answered with a server error; usually worth retrying. */
export class StoreUnavailableError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.STORE_UNAVAILABLE, message, { retriable: true, ...options })
  }
}

export class StoreAccessDeniedError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.STORE_ACCESS_DENIED, message, options)
  }
}

export class ObjectNotFoundError extends EverlogError {
  readonly key: string
  constructor(key: string, message = `object not found: ${key}`, options?: EverlogErrorOptions) {
    super(ErrorCodes.OBJECT_NOT_FOUND, message, options)
    this.key = key
  }
}

/** A conditional write (put-if-absent / put-if-match) lost: someone else wrote the object first. */
export class PreconditionFailedError extends EverlogError {
  readonly key: string
  constructor(key: string, message = `conditional write failed for ${key}`, options?: EverlogErrorOptions) {
    super(ErrorCodes.PRECONDITION_FAILED, message, options)
    this.key = key
  }
}

/** An object's bytes do not match the hash in its key or the metadata that references it. */
export class IntegrityError extends EverlogError {
  readonly key: string
  constructor(key: string, message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.INTEGRITY, message, options)
    this.key = key
  }
}

/** An object parsed but is not what the format says it must be. */
export class FormatError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.FORMAT, message, options)
  }
}

export class UnsupportedFormatVersionError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.UNSUPPORTED_FORMAT_VERSION, message, options)
  }
}

/** Another writer replaced HEAD: this writer no longer owns the partition and must stop writing it. */
export class FencedError extends EverlogError {
  readonly topic: string
  readonly partition: number
  constructor(topic: string, partition: number, options?: EverlogErrorOptions) {
    super(
      ErrorCodes.FENCED,
      `fenced: another writer advanced HEAD of ${topic}/${partition}; this writer stops writing that partition`,
      options,
    )
    this.topic = topic
    this.partition = partition
  }
}

export class UnknownTopicError extends EverlogError {
  readonly topic: string
  constructor(topic: string, message = `topic "${topic}" is not in the archive`, options?: EverlogErrorOptions) {
    super(ErrorCodes.UNKNOWN_TOPIC, message, options)
    this.topic = topic
  }
}

export class UnknownPartitionError extends EverlogError {
  constructor(topic: string, partition: number, options?: EverlogErrorOptions) {
    super(ErrorCodes.UNKNOWN_PARTITION, `partition ${partition} of topic "${topic}" is not in the archive`, options)
  }
}

/** Records handed to a writer were not in strictly increasing offset order, or overlap what is archived. */
export class OffsetOrderError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.OFFSET_ORDER, message, options)
  }
}

export class ConfigError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.CONFIG, message, options)
  }
}

/** The TLS handshake with a Kafka broker failed: its certificate is untrusted, expired or for another host. */
export class KafkaTlsError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.KAFKA_TLS, message, options)
  }
}

/** A Kafka broker refused who the client says it is: SASL credentials, mechanism or client certificate. */
export class KafkaAuthenticationError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.KAFKA_AUTHENTICATION, message, options)
  }
}

/** Kafka's ACLs deny the client's principal an operation on a topic, a group or the cluster. */
export class KafkaAuthorizationError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.KAFKA_AUTHORIZATION, message, options)
  }
}

export function isEverlogError(err: unknown): err is EverlogError {
  return err instanceof EverlogError
}

/** Offsets the caller asked for are gone: Kafka deleted them before they were archived (a gap in the index). */
export class DataLossError extends EverlogError {
  readonly topic: string
  readonly partition: number
  readonly firstOffset: bigint
  readonly lastOffset: bigint
  readonly reason: string
  constructor(
    topic: string,
    partition: number,
    firstOffset: bigint,
    lastOffset: bigint,
    reason: string,
    options?: EverlogErrorOptions,
  ) {
    super(
      ErrorCodes.DATA_LOSS,
      `data loss: offsets ${firstOffset}..${lastOffset} of ${topic}/${partition} are not in the archive (${reason}); ` +
        `read with onGap 'skip' to continue past them`,
      options,
    )
    this.topic = topic
    this.partition = partition
    this.firstOffset = firstOffset
    this.lastOffset = lastOffset
    this.reason = reason
  }
}

/**
 * Kafka's topic has another ID than the one the archive holds: it was deleted and created again under the same name,
 * and its offsets restarted at 0. Archiving it on would mix two topics in one partition's history, so it stops.
 */
export class TopicRecreatedError extends EverlogError {
  readonly topic: string
  readonly archivedTopicId: string
  readonly kafkaTopicId: string
  constructor(topic: string, archivedTopicId: string, kafkaTopicId: string, options?: EverlogErrorOptions) {
    super(
      ErrorCodes.TOPIC_RECREATED,
      `topic ${topic} was deleted and created again (the archive holds topic ID ${archivedTopicId}, Kafka now has ` +
        `${kafkaTopicId}); its offsets restarted at 0, so it is no longer archived here: archive the new topic into ` +
        `another store (the old archive stays readable), or move the old archive's ${topic}/ folder away and restart`,
      options,
    )
    this.topic = topic
    this.archivedTopicId = archivedTopicId
    this.kafkaTopicId = kafkaTopicId
  }
}

/** A topic has no published Iceberg table (yet): `everlog iceberg publish` makes one. */
export class IcebergTableNotFoundError extends EverlogError {
  readonly topic: string
  constructor(topic: string, where: string, options?: EverlogErrorOptions) {
    super(
      ErrorCodes.ICEBERG_TABLE_NOT_FOUND,
      `topic "${topic}" has no Iceberg table in ${where}; publish one with: everlog iceberg publish --topic ${topic}`,
      options,
    )
    this.topic = topic
  }
}

// Errors of @everlog/consumer. Each extends core's EverlogError, so programs match on a stable `code`.
import { ErrorCodes, EverlogError } from '@everlog/core'
import type { EverlogErrorOptions } from '@everlog/core'

/**
 * Offsets a consumer must deliver are neither in the archive nor in Kafka any more (Kafka deleted them before the
 * archiver read them). Raised with `onMissingOffsets: 'error'` (the default); `'skip'` continues past them.
 */
export class ArchiveUnavailableError extends EverlogError {
  readonly topic: string
  readonly partition: number
  /** First missing offset. */
  readonly firstOffset: bigint
  /** Last missing offset (inclusive); the next offset that can be delivered follows it. */
  readonly lastOffset: bigint
  constructor(
    topic: string,
    partition: number,
    firstOffset: bigint,
    lastOffset: bigint,
    detail: string,
    options?: EverlogErrorOptions,
  ) {
    super(
      ErrorCodes.ARCHIVE_UNAVAILABLE,
      `offsets ${firstOffset}..${lastOffset} of ${topic}/${partition} are neither in the archive nor in Kafka ` +
        `(${detail}); set onMissingOffsets: 'skip' to continue at offset ${lastOffset + 1n}`,
      options,
    )
    this.topic = topic
    this.partition = partition
    this.firstOffset = firstOffset
    this.lastOffset = lastOffset
  }
}

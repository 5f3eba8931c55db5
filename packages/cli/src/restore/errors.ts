// Why a restore refuses to run or stops, as typed Everlog errors with stable codes.
import { ErrorCodes, EverlogError } from '@everlog/core'
import type { EverlogErrorOptions } from '@everlog/core'

/** The target topic already holds records that no earlier run of this restore wrote. */
export class TargetNotEmptyError extends EverlogError {
  constructor(
    readonly topic: string,
    readonly watermarks: { partition: number; low: bigint; high: bigint }[],
    options?: EverlogErrorOptions,
  ) {
    const marks = watermarks.map((w) => `${w.partition}:${w.high}`).join(' ')
    super(
      ErrorCodes.INVALID_ARGUMENT,
      `target topic "${topic}" is not empty (high watermarks by partition ${marks}); restore into an empty or new ` +
        'topic, or pass --allow-non-empty to append after the existing records',
      options,
    )
  }
}

/** The target partition does not match what this restore's offset map says it wrote: resuming would be unsafe. */
export class RestoreConflictError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.INTEGRITY, message, options)
  }
}

/** A record cannot be produced through kafkajs as archived (e.g. a null header value). */
export class UnproducibleRecordError extends EverlogError {
  constructor(message: string, options?: EverlogErrorOptions) {
    super(ErrorCodes.INVALID_ARGUMENT, message, options)
  }
}

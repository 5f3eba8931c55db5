// Errors of offset maps, with core's stable codes.
import { ErrorCodes, EverlogError } from '../errors.js'
import type { EverlogErrorOptions } from '../errors.js'

/** Another restore replaced the map's manifest: this one no longer owns the partition and must stop. */
export class OffsetMapFencedError extends EverlogError {
  constructor(
    readonly targetTopic: string,
    readonly sourceTopic: string,
    readonly partition: number,
    options?: EverlogErrorOptions,
  ) {
    super(
      ErrorCodes.FENCED,
      `fenced: another restore updated the offset map of ${sourceTopic} -> ${targetTopic} partition ${partition}; ` +
        'this restore stopped writing it (run one restore per target topic at a time)',
      options,
    )
  }
}

/** No restore wrote an offset map for this source topic and partition into the target topic. */
export class OffsetMapNotFoundError extends EverlogError {
  constructor(targetTopic: string, sourceTopic: string, partition: number, options?: EverlogErrorOptions) {
    super(
      ErrorCodes.OBJECT_NOT_FOUND,
      `no offset map for ${sourceTopic} -> ${targetTopic} partition ${partition} in the archive: ` +
        'was the topic restored with `everlog restore` into this archive?',
      options,
    )
  }
}

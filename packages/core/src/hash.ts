import { createHash } from 'node:crypto'

/** Lowercase hex sha256 of exact bytes: the content address of every immutable object. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

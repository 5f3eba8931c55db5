// Key and byte-range rules shared by every store, so memory, file and S3 accept and reject exactly the same input.
import { InvalidArgumentError } from '../errors.js'
import type { ByteRange } from './types.js'

/**
 * A key is a relative '/'-separated path: not empty, no leading '/', no empty, '.' or '..' segment, no backslash
 * and no NUL. The file store maps keys to paths, so these rules are what keeps every object inside the root.
 */
export function validateKey(key: string): string {
  const problem = keyProblem(key, false)
  if (problem) throw new InvalidArgumentError(`invalid object key ${JSON.stringify(key)}: ${problem}`)
  return key
}

/** A list prefix follows the key rules but may be empty, end with '/' or stop in the middle of a segment. */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix
  const problem = keyProblem(prefix, true)
  if (problem) throw new InvalidArgumentError(`invalid key prefix ${JSON.stringify(prefix)}: ${problem}`)
  return prefix
}

function keyProblem(key: string, isPrefix: boolean): string | undefined {
  if (typeof key !== 'string') return 'keys are strings'
  if (key.length === 0) return 'keys are not empty'
  if (key.startsWith('/')) return 'keys are relative to the store root and must not start with "/"'
  if (key.includes('\\')) return 'keys use "/" as separator and must not contain "\\"'
  if (key.includes('\0')) return 'keys must not contain NUL characters'
  const segments = key.split('/')
  // A prefix may end with '/', which leaves one empty last segment.
  const last = isPrefix && segments[segments.length - 1] === '' ? segments.length - 1 : segments.length
  for (let i = 0; i < last; i++) {
    const s = segments[i]!
    if (s === '') return 'keys must not contain empty path segments ("//" or a trailing "/")'
    if (s === '..' || s === '.') return 'keys must not contain "." or ".." path segments'
  }
  return undefined
}

/** Checks a range's shape before any I/O, so every store rejects the same nonsense the same way. */
export function validateRange(key: string, range: ByteRange | undefined): void {
  if (range === undefined) return
  if ('suffix' in range) {
    if (!Number.isSafeInteger(range.suffix) || range.suffix < 1) {
      throw new InvalidArgumentError(
        `invalid byte range for ${key}: suffix must be an integer >= 1, got ${range.suffix}`,
      )
    }
    return
  }
  if (!Number.isSafeInteger(range.start) || range.start < 0) {
    throw new InvalidArgumentError(`invalid byte range for ${key}: start must be an integer >= 0, got ${range.start}`)
  }
  if (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < range.start)) {
    throw new InvalidArgumentError(
      `invalid byte range for ${key}: end must be an integer >= start (${range.start}), got ${range.end}`,
    )
  }
}

/**
 * Resolves a range against an object's size to [start, endExclusive], with HTTP semantics: an end past the object
 * is clamped, a suffix longer than the object reads all of it, and a start at or past the end is an error (S3's 416),
 * except on an empty object, which reads as empty.
 */
export function resolveRange(key: string, range: ByteRange | undefined, size: number): [number, number] {
  validateRange(key, range)
  if (range === undefined) return [0, size]
  if ('suffix' in range) return [Math.max(0, size - range.suffix), size]
  if (size === 0) return [0, 0]
  if (range.start >= size) throw rangeNotSatisfiable(key, range, size)
  const end = range.end === undefined ? size : Math.min(range.end + 1, size)
  return [range.start, end]
}

export function rangeNotSatisfiable(key: string, range: ByteRange, size: number | undefined): InvalidArgumentError {
  const what = 'suffix' in range ? `last ${range.suffix} bytes` : `bytes ${range.start}-${range.end ?? ''}`
  const sizeText = size === undefined ? '' : ` (object size ${size})`
  return new InvalidArgumentError(`byte range ${what} of ${key} starts beyond the end of the object${sizeText}`)
}

/** Range as an HTTP Range header value. */
export function rangeHeader(range: ByteRange): string {
  return 'suffix' in range ? `bytes=-${range.suffix}` : `bytes=${range.start}-${range.end ?? ''}`
}

/**
 * Orders keys as S3 lists them: by UTF-8 bytes, which is Unicode code point order. Plain `<` compares UTF-16 code
 * units and disagrees for characters above U+FFFF, so every store sorts with this.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (U+D800-DFFF) encode code points above U+FFFF, so they sort after U+E000-FFFF.
    if (x >= 0xd800) x += x < 0xe000 ? 0x2000 : -0x800
    if (y >= 0xd800) y += y < 0xe000 ? 0x2000 : -0x800
    return x - y
  }
  return a.length - b.length
}

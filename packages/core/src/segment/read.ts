// Reading segments from an object store: the footer with suffix-range GETs, one row group with one ranged GET,
// or the whole object checked against the hash in its key.
import { IntegrityError, InvalidArgumentError } from '../errors.js'
import { parseSegmentKey } from '../layout.js'
import type { ArchiveRecord } from '../record.js'
import type { ObjectStore } from '../store/types.js'
import { sha256Hex } from '../hash.js'
import { decodeRowGroup, decodeSegment, layoutOf } from './decode.js'
import { footerLength, parseFooter, TAIL_BYTES } from './footer.js'
import type { SegmentLayout } from './types.js'

/** One suffix GET of this size holds the whole footer of any ordinary segment. */
const FOOTER_GUESS_BYTES = 64 * 1024

export interface ReadLayoutOptions {
  /** The first suffix GET's size (default 64 KiB); a larger footer takes a second GET. */
  guessBytes?: number
  /** Counts the bytes the GETs returned. */
  fetched?: { bytes: number }
}

export async function readSegmentLayout(
  store: ObjectStore,
  key: string,
  options: ReadLayoutOptions = {},
): Promise<SegmentLayout> {
  const first = await store.get(key, { suffix: Math.max(options.guessBytes ?? FOOTER_GUESS_BYTES, TAIL_BYTES) })
  if (options.fetched) options.fetched.bytes += first.body.length
  const size = first.size
  const need = footerLength(first.body, size, key) + TAIL_BYTES
  let footer: Uint8Array
  if (first.body.length >= need) {
    // Copied so the layout pins neither the GET buffer nor a pooled slab.
    footer = Uint8Array.prototype.slice.call(first.body, first.body.length - need)
  } else {
    // Only the part of the footer the first GET did not return.
    const missing = need - first.body.length
    const second = await store.get(key, { start: size - need, end: size - first.body.length - 1 })
    if (options.fetched) options.fetched.bytes += second.body.length
    if (second.size !== size || second.body.length !== missing) {
      throw new IntegrityError(key, `segment ${key} changed between two reads of its footer; segments are immutable`)
    }
    footer = new Uint8Array(need)
    footer.set(second.body, 0)
    footer.set(first.body, missing)
  }
  return parseFooter(footer, size, key)
}

/** One ranged GET of the row group's bytes; see decodeRowGroup for the memory it takes. */
export async function readRowGroup(
  store: ObjectStore,
  key: string,
  layout: SegmentLayout,
  index: number,
): Promise<ArchiveRecord[]> {
  return decodeRowGroup(layout, index, await fetchRowGroup(store, key, layout, index), key)
}

/** The row group's bytes, with one ranged GET, checked against the layout (not decoded). */
export async function fetchRowGroup(
  store: ObjectStore,
  key: string,
  layout: SegmentLayout,
  index: number,
): Promise<Uint8Array> {
  const rg = layout.rowGroups[index]
  if (rg === undefined || !Number.isInteger(index)) {
    throw new InvalidArgumentError(`row group ${index} does not exist in ${key} (it has ${layout.rowGroups.length})`)
  }
  const got = await store.get(key, { start: rg.byteStart, end: rg.byteEnd - 1 })
  if (got.size !== layout.size || got.body.length !== rg.byteEnd - rg.byteStart) {
    throw new IntegrityError(
      key,
      `segment ${key} is ${got.size} bytes and returned ${got.body.length} for row group ${index}, but its layout ` +
        `says ${layout.size} and ${rg.byteEnd - rg.byteStart}: the layout belongs to another object`,
    )
  }
  return got.body
}

/** The whole segment object, checked against the sha256 in its key, and its layout (not decoded). */
export async function fetchSegment(
  store: ObjectStore,
  key: string,
): Promise<{ bytes: Uint8Array; layout: SegmentLayout }> {
  const parsed = parseSegmentKey(key)
  if (parsed === undefined) {
    throw new InvalidArgumentError(
      `cannot verify ${key}: not a segment key (<topic>/data/partition=<p>/<base20>-<sha256>.parquet)`,
    )
  }
  const { body } = await store.get(key)
  const actual = sha256Hex(body)
  if (actual !== parsed.sha256) {
    throw new IntegrityError(key, `segment ${key} is corrupt: its bytes hash to ${actual}, expected ${parsed.sha256}`)
  }
  return { bytes: body, layout: layoutOf(body, key) }
}

export async function readSegment(
  store: ObjectStore,
  key: string,
  options: { verify?: boolean } = {},
): Promise<ArchiveRecord[]> {
  const verify = options.verify ?? true
  const parsed = parseSegmentKey(key)
  if (verify && parsed === undefined) {
    throw new InvalidArgumentError(
      `cannot verify ${key}: not a segment key (<topic>/data/partition=<p>/<base20>-<sha256>.parquet)`,
    )
  }
  const { body } = await store.get(key)
  return decodeSegment(body, verify ? { expectedSha256: parsed!.sha256, key } : { key })
}

// Decompressing pages is most of what decoding a row group costs; a worker thread does it, and also finds where
// every record's fields sit in the pages (an index of typed arrays), so a reader's thread only makes the views it
// hands out and keeps delivering while the next row group is decompressed. One worker per process, started on first use and not keeping the process alive when idle.
import type { Worker } from 'node:worker_threads'
import type { ArchiveRecord } from '../record.js'
import { startWorker } from '../worker.js'
import { columnsToRecords, timestampsToMillis } from './columns.js'
import { checkRowGroup, decodeRowGroupColumns } from './decode.js'
import { columnsFromIndex, planRowGroup } from './native-decode.js'
import type { ChunkPlan, Page, Range, RowGroupIndex } from './native-decode.js'
import type { RecordColumns, SegmentLayout } from './types.js'

/** Below this many compressed bytes a row group decodes in place: a round trip to the worker costs more. */
const MIN_WORKER_BYTES = 64 * 1024

export interface DecodeRequest {
  id: number
  plans: ChunkPlan[]
  /** The row group's bytes, transferred. */
  chunk: ArrayBuffer
  index: number
  /** Records the footer declares for the row group. */
  records: number
  what: string
}

export interface PageDescriptor {
  /** Where the page's decompressed bytes sit: which response buffer, and where in it. */
  buffer: number
  start: number
  length: number
  count: number
  rep: Range | null
  def: Range | null
  values: Range
}

export type DecodeResponse =
  | { id: number; ok: true; pages: null }
  | { id: number; ok: true; pages: PageDescriptor[][]; buffers: ArrayBuffer[]; index: RowGroupIndex }
  | { id: number; ok: false; error: { name: string; code?: string; message: string } }

interface Decoded {
  /** The pages the index points into (only the leaves columnsFromIndex reads; the others are empty). */
  pages: Page[][]
  index: RowGroupIndex
}

interface Job {
  resolve: (decoded: Decoded | null) => void
}

let worker: Worker | undefined
const jobs = new Map<number, Job>()
let nextId = 0
let disabled = process.env.EVERLOG_DECODE_WORKER === '0'

/**
 * decodeRowGroup, with page decompression in the decode worker when it pays: the same records, the same checks
 * and the same errors (anything the worker cannot do is done again here, which throws the typed error).
 */
export async function decodeRowGroupAsync(
  layout: SegmentLayout,
  index: number,
  chunk: Uint8Array,
  what: string,
): Promise<ArchiveRecord[]> {
  return columnsToRecords(await decodeRowGroupColumnsAsync(layout, index, chunk, what))
}

/** decodeRowGroupAsync, column by column (decodeRowGroupColumns with the worker). */
export async function decodeRowGroupColumnsAsync(
  layout: SegmentLayout,
  index: number,
  chunk: Uint8Array,
  what: string,
): Promise<RecordColumns> {
  const plans = disabled || chunk.length < MIN_WORKER_BYTES ? null : planRowGroup(layout, index, what)
  if (!plans) return decodeRowGroupColumns(layout, index, chunk, what)
  // A copy of the (compressed) row group is transferred: the caller's buffer may hold the whole segment.
  // (Uint8Array's slice copies; Buffer's would be a view of the very memory we must not transfer.)
  const copy = Uint8Array.prototype.slice.call(chunk)
  const records = layout.rowGroups[index]!.records
  const decoded = await inWorker({ id: nextId++, plans, chunk: copy.buffer as ArrayBuffer, index, records, what })
  if (!decoded) return decodeRowGroupColumns(layout, index, chunk, what)
  const columns = columnsFromIndex(decoded.index, decoded.pages)
  timestampsToMillis(layout.timestampUnit, columns.timestamps)
  checkRowGroup(layout, index, columns, what)
  return columns
}

/** Stops using a worker in this process (tests, or hosts that must stay single-threaded). */
export function disableDecodeWorker(): void {
  disabled = true
  const w = worker
  worker = undefined
  failAll()
  void w?.terminate()
}

function inWorker(req: DecodeRequest): Promise<Decoded | null> {
  const w = (worker ??= spawn())
  return new Promise((resolve) => {
    jobs.set(req.id, { resolve })
    // Referenced only while work is in flight: an idle worker never keeps the process alive.
    if (jobs.size === 1) w.ref()
    w.postMessage(req, [req.chunk])
  })
}

function spawn(): Worker {
  const w = startWorker(new URL('./decode-worker.js', import.meta.url), import.meta.url)
  w.unref()
  w.on('message', (res: DecodeResponse) => {
    const job = jobs.get(res.id)
    jobs.delete(res.id)
    if (jobs.size === 0) w.unref()
    if (!job) return
    // A failure is retried on the caller's thread, which raises the proper typed error (or decodes after all).
    if (!res.ok || res.pages === null) return job.resolve(null)
    const buffers = res.buffers
    job.resolve({
      pages: res.pages.map((column) =>
        column.map((d) => ({
          buf: Buffer.from(buffers[d.buffer]!, d.start, d.length),
          count: d.count,
          rep: d.rep,
          def: d.def,
          values: d.values,
        })),
      ),
      index: res.index,
    })
  })
  const gone = () => {
    if (worker === w) worker = undefined
    failAll()
  }
  w.on('error', gone)
  w.on('exit', gone)
  return w
}

function failAll(): void {
  for (const job of jobs.values()) job.resolve(null)
  jobs.clear()
}

// Worker thread side of the decode pool: decompresses one row group's pages, indexes where every record's fields
// sit in them, and transfers both back; making the views handed to readers stays on the caller's thread.
import { parentPort } from 'node:worker_threads'
import { indexRowGroupPages, INDEXED_LEAVES, readRowGroupPages } from './native-decode.js'
import type { DecodeRequest, DecodeResponse, PageDescriptor } from './decode-pool.js'

parentPort!.on('message', (req: DecodeRequest) => {
  let res: DecodeResponse
  try {
    const pages = readRowGroupPages(req.plans, new Uint8Array(req.chunk), req.index, req.what)
    if (pages === null) {
      res = { id: req.id, ok: true, pages: null }
      parentPort!.postMessage(res)
      return
    }
    const index = indexRowGroupPages(pages, req.records, req.index, req.what)
    // Only the pages the index points into go back (offsets, timestamps and header keys are in the index).
    // Pages are transferred as they are, no copy: each decompressed page owns its memory, and uncompressed pages
    // view the row group's bytes, which this thread owns (they were transferred here).
    // A page that is only part of memory this thread does not own outright (a slice of Node's shared Buffer pool)
    // is copied: transferring that memory would detach every other Buffer in it.
    const buffers: ArrayBuffer[] = []
    const placed = new Map<ArrayBufferLike, number>()
    const descriptors: PageDescriptor[][] = pages.map((column, c) =>
      (INDEXED_LEAVES.includes(c) ? column : []).map((page) => {
        const owned =
          page.buf.buffer === req.chunk ||
          (page.buf.byteOffset === 0 && page.buf.byteLength === page.buf.buffer.byteLength)
        const p = owned ? page : { ...page, buf: Buffer.from(Uint8Array.prototype.slice.call(page.buf).buffer) }
        let b = placed.get(p.buf.buffer)
        if (b === undefined) {
          b = buffers.push(p.buf.buffer as ArrayBuffer) - 1
          placed.set(p.buf.buffer, b)
        }
        return {
          buffer: b,
          start: p.buf.byteOffset,
          length: p.buf.length,
          count: p.count,
          rep: p.rep,
          def: p.def,
          values: p.values,
        }
      }),
    )
    res = { id: req.id, ok: true, pages: descriptors, buffers, index }
    // The index's arrays each own their memory (made here, whole), so they travel without a copy too.
    const { offsets, timestamps, keys, values, headerStart, headerKeyIds, headerValues } = index
    const arrays = [offsets, timestamps, keys, values, headerStart, headerKeyIds, headerValues]
    parentPort!.postMessage(res, [...buffers, ...arrays.map((a) => a.buffer as ArrayBuffer)])
  } catch (err) {
    const e = err as Error & { code?: string }
    res = { id: req.id, ok: false, error: { name: e.name, code: e.code, message: e.message } }
    parentPort!.postMessage(res)
  }
})

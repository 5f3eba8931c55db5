// Worker thread side of the decode pool: decompresses one row group's pages and transfers them back in one buffer;
// building records (cheap views over those pages) stays on the caller's thread.
import { parentPort } from 'node:worker_threads'
import { readRowGroupPages } from './native-decode.js'
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
    // Pages are transferred as they are, no copy: each decompressed page owns its memory, and uncompressed pages
    // view the row group's bytes, which this thread owns (they were transferred here).
    // A page that is only part of memory this thread does not own outright (a slice of Node's shared Buffer pool)
    // is copied: transferring that memory would detach every other Buffer in it.
    const buffers: ArrayBuffer[] = []
    const index = new Map<ArrayBufferLike, number>()
    const descriptors: PageDescriptor[][] = pages.map((column) =>
      column.map((page) => {
        const owned =
          page.buf.buffer === req.chunk ||
          (page.buf.byteOffset === 0 && page.buf.byteLength === page.buf.buffer.byteLength)
        const p = owned ? page : { ...page, buf: Buffer.from(Uint8Array.prototype.slice.call(page.buf).buffer) }
        let b = index.get(p.buf.buffer)
        if (b === undefined) {
          b = buffers.push(p.buf.buffer as ArrayBuffer) - 1
          index.set(p.buf.buffer, b)
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
    res = { id: req.id, ok: true, pages: descriptors, buffers }
    parentPort!.postMessage(res, buffers)
  } catch (err) {
    const e = err as Error & { code?: string }
    res = { id: req.id, ok: false, error: { name: e.name, code: e.code, message: e.message } }
    parentPort!.postMessage(res)
  }
})

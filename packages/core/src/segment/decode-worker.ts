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
    let size = 0
    for (const column of pages) for (const p of column) size += p.buf.length
    const buffer = new ArrayBuffer(size)
    const all = new Uint8Array(buffer)
    let pos = 0
    const descriptors: PageDescriptor[][] = pages.map((column) =>
      column.map((p) => {
        all.set(p.buf, pos)
        const d: PageDescriptor = {
          start: pos,
          length: p.buf.length,
          count: p.count,
          rep: p.rep,
          def: p.def,
          values: p.values,
        }
        pos += p.buf.length
        return d
      }),
    )
    res = { id: req.id, ok: true, pages: descriptors, buffer }
    parentPort!.postMessage(res, [buffer])
  } catch (err) {
    const e = err as Error & { code?: string }
    res = { id: req.id, ok: false, error: { name: e.name, code: e.code, message: e.message } }
    parentPort!.postMessage(res)
  }
})

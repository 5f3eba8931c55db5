// Worker thread side of the encoder pool: encodes the transferred packed records as one row group with core's
// encoder, and transfers the bytes back.
import { parentPort } from 'node:worker_threads'
import { encodePackedRowGroup } from '@everlog/core'
import type { EncodeRequest, EncodeResponse } from './encoder-pool.js'

parentPort!.on('message', (req: EncodeRequest) => {
  let res: EncodeResponse
  try {
    const rowGroup = encodePackedRowGroup(req.packed, { compression: req.compression })
    res = { id: req.id, ok: true, rowGroup }
    parentPort!.postMessage(res, [rowGroup.bytes.buffer as ArrayBuffer])
  } catch (err) {
    res = { id: req.id, ok: false, error: { name: (err as Error).name, message: (err as Error).message } }
    parentPort!.postMessage(res)
  }
})

// Worker thread side of the encoder pool: unpacks records from the transferred buffers, encodes a row group or a
// segment with core's encoder, and transfers the bytes back.
import { parentPort } from 'node:worker_threads'
import { encodeRowGroup, encodeSegment } from '@everlog/core'
import { unpackRecords } from './packed-records.js'
import type { EncodeRequest, EncodeResponse } from './encoder-pool.js'

parentPort!.on('message', (req: EncodeRequest) => {
  let res: EncodeResponse
  try {
    const records = unpackRecords(req.packed)
    if (req.kind === 'rowGroup') {
      const rowGroup = encodeRowGroup(records, { compression: req.compression })
      res = { id: req.id, ok: true, rowGroup }
      parentPort!.postMessage(res, [rowGroup.bytes.buffer as ArrayBuffer])
    } else {
      const segment = encodeSegment(records, req.options)
      res = { id: req.id, ok: true, segment }
      parentPort!.postMessage(res, [segment.bytes.buffer as ArrayBuffer])
    }
  } catch (err) {
    res = { id: req.id, ok: false, error: { name: (err as Error).name, message: (err as Error).message } }
    parentPort!.postMessage(res)
  }
})

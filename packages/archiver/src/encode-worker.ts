// Worker thread side of the encoder pool: unpacks records from one transferred buffer, encodes the segment with
// core's encodeSegment, and transfers the bytes back.
import { parentPort } from 'node:worker_threads'
import { encodeSegment } from '@everlog/core'
import { unpackRecords } from './packed-records.js'
import type { EncodeRequest, EncodeResponse } from './encoder-pool.js'

parentPort!.on('message', (req: EncodeRequest) => {
  let res: EncodeResponse
  try {
    const records = unpackRecords(req.packed)
    const e = encodeSegment(records, req.options)
    res = { id: req.id, ok: true, segment: e }
    parentPort!.postMessage(res, [e.bytes.buffer as ArrayBuffer])
  } catch (err) {
    res = { id: req.id, ok: false, error: { name: (err as Error).name, message: (err as Error).message } }
    parentPort!.postMessage(res)
  }
})

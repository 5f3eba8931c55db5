// Encoding (page layout + compression) is CPU-bound: a small pool of worker threads does it so the main thread keeps
// fetching from Kafka. The archiver hands over row groups as they fill. With 0 workers it encodes on the calling
// thread.
import type { Worker } from 'node:worker_threads'
import { encodePackedRowGroup, EverlogError, startWorker } from '@everlog/core'
import type { ArchiveRecord, EncodedRowGroup, PackedRecords, SegmentCompression } from '@everlog/core'
import { packRecords, packedTransferList, recycleChunks } from './packed-records.js'

export interface EncodeRequest {
  id: number
  packed: PackedRecords
  compression: SegmentCompression
}

export type EncodeResponse =
  | { id: number; ok: true; rowGroup: EncodedRowGroup }
  | { id: number; ok: false; error: { name: string; message: string } }

interface Job {
  request: EncodeRequest
  resolve: (res: Extract<EncodeResponse, { ok: true }>) => void
  reject: (err: unknown) => void
}

interface Slot {
  worker: Worker
  job: Job | undefined
}

export class EncoderPool {
  private readonly slots: Slot[] = []
  private readonly queue: Job[] = []
  private nextId = 0
  private closed = false

  constructor(readonly workers: number) {
    for (let i = 0; i < workers; i++) this.slots.push(this.spawn())
  }

  private spawn(): Slot {
    const worker = startWorker(new URL('./encode-worker.js', import.meta.url), import.meta.url)
    worker.unref()
    const slot: Slot = { worker, job: undefined }
    worker.on('message', (res: EncodeResponse) => {
      const job = slot.job
      slot.job = undefined
      if (job) {
        if (res.ok) job.resolve(res)
        else job.reject(new EverlogError('INVALID_ARGUMENT', `${res.error.name}: ${res.error.message}`))
      }
      this.pump()
    })
    worker.on('error', (err) => {
      // A crashed worker fails its job and is replaced, so one bad segment does not stall the pool.
      const job = slot.job
      slot.job = undefined
      job?.reject(err)
      const i = this.slots.indexOf(slot)
      if (i >= 0 && !this.closed) this.slots[i] = this.spawn()
      this.pump()
    })
    return slot
  }

  /** One row group (all of `packed`, whatever its size); the packed buffers are transferred to a worker. */
  async encodeRowGroup(
    records: PackedRecords | readonly ArchiveRecord[],
    compression: SegmentCompression,
  ): Promise<EncodedRowGroup> {
    const packed = isPacked(records) ? records : packRecords(records)
    if (this.workers === 0 || this.closed) {
      const group = encodePackedRowGroup(packed, { compression })
      // Encoded here and never transferred: its chunks can take the next records.
      recycleChunks(packed)
      return group
    }
    return (await this.submit({ id: this.nextId++, packed, compression })).rowGroup
  }

  private submit(request: EncodeRequest): Promise<Extract<EncodeResponse, { ok: true }>> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject })
      this.pump()
    })
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.job || this.queue.length === 0) continue
      const job = this.queue.shift()!
      slot.job = job
      slot.worker.postMessage(job.request, packedTransferList(job.request.packed))
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const job of this.queue.splice(0)) job.reject(new EverlogError('INVALID_ARGUMENT', 'encoder pool closed'))
    await Promise.all(this.slots.map((s) => s.worker.terminate()))
  }
}

function isPacked(records: PackedRecords | readonly ArchiveRecord[]): records is PackedRecords {
  return !Array.isArray(records)
}

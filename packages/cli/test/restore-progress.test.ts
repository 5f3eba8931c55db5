// What a user sees on stderr while a restore runs: a bar with ETA on a terminal, plain lines in logs.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { progressReporter } from '../src/restore/progress.js'

function sink(tty: boolean): { stream: Writable; text: () => string } {
  let out = ''
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString()
      done()
    },
  })
  Object.assign(stream, {
    isTTY: tty,
    columns: 160,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  })
  return { stream, text: () => out }
}

const at = (records: number, partitionsDone = 0) => ({
  records,
  bytes: records * 1000,
  totalRecords: 1000,
  partitionsDone,
  partitions: 2,
})

test('without a terminal: one plain line per interval with counts, percent, rate and ETA', async () => {
  const { stream, text } = sink(false)
  const r = progressReporter(stream, 'restore orders -> orders-2', 0)
  r.update(at(250))
  await new Promise((res) => setTimeout(res, 20))
  r.update(at(500, 1))
  r.stop()
  const lines = text().trimEnd().split('\n')
  assert.equal(lines.length, 3)
  assert.match(
    lines[0]!,
    /^everlog: restore orders -> orders-2: 250\/1000 records \(25%\), [\d.]+ (KiB|MiB|GiB)\/s, 0\/2 partitions done, ETA \d+s$/,
  )
  assert.match(lines[1]!, /: 500\/1000 records \(50%\), .*1\/2 partitions done, ETA \d+s$/)
})

test('on a terminal: a progress bar with records and ETA', () => {
  const { stream, text } = sink(true)
  const r = progressReporter(stream, 'restore orders -> orders-2')
  r.update(at(100))
  r.update(at(1000, 2))
  r.stop()
  assert.match(text(), /restore orders -> orders-2 \[.*\] 100% \| 1000\/1000 records \| .*\/s \| ETA 0s/)
})

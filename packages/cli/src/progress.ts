// Progress of long CLI steps on stderr: a bar with rate and ETA on a terminal, a line every few seconds otherwise
// (logs, CI), and always a final line, so a user never stares at a silent command.
import cliProgress from 'cli-progress'
import type { Writable } from 'node:stream'
import { formatBytes } from './format.js'

export interface Progress {
  /** `done` of `total` units so far; `bytes` drives the throughput figure when given. */
  update(done: number, total: number, bytes?: number): void
  /** Ends the bar or prints the final line. */
  stop(): void
}

const LINE_EVERY_MS = 5000

export function progress(stderr: Writable, label: string, unit = 'records'): Progress {
  const started = performance.now()
  const elapsed = () => Math.max(0.001, (performance.now() - started) / 1000)
  const speed = (done: number, bytes: number | undefined) =>
    bytes === undefined ? `${Math.round(done / elapsed())} ${unit}/s` : `${formatBytes(bytes / elapsed())}/s`
  let latest: { done: number; total: number; bytes: number | undefined } = { done: 0, total: 0, bytes: undefined }

  if ((stderr as { isTTY?: boolean }).isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        stream: stderr as NodeJS.WritableStream,
        format: `${label.padEnd(24)} [{bar}] {percentage}% | {value}/{total} ${unit} | {speed} | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    )
    let running = false
    return {
      update(done, total, bytes) {
        latest = { done, total, bytes }
        if (!running) {
          bar.start(Math.max(total, done), done, { speed: speed(done, bytes) })
          running = true
        } else {
          bar.setTotal(Math.max(total, done))
          bar.update(done, { speed: speed(done, bytes) })
        }
      },
      stop() {
        if (running) bar.stop()
      },
    }
  }

  let last = performance.now()
  const line = () => {
    const { done, total, bytes } = latest
    const pct = total === 0 ? 100 : Math.floor((100 * done) / total)
    stderr.write(`${label}: ${done}/${total} ${unit} (${pct}%), ${speed(done, bytes)}\n`)
  }
  return {
    update(done, total, bytes) {
      latest = { done, total, bytes }
      if (performance.now() - last >= LINE_EVERY_MS) {
        last = performance.now()
        line()
      }
    },
    stop: line,
  }
}

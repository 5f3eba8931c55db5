// Restore progress on stderr: a bar with ETA on a terminal, otherwise a line every few seconds (logs, CI).
import cliProgress from 'cli-progress'
import type { Writable } from 'node:stream'
import { formatBytes } from '../format.js'
import type { RestoreProgress } from './restore.js'

export interface ProgressReporter {
  update(p: RestoreProgress): void
  stop(): void
}

const LINE_EVERY_MS = 5000

export function progressReporter(stderr: Writable, label: string, everyMs = LINE_EVERY_MS): ProgressReporter {
  const started = performance.now()
  const rate = (bytes: number) => `${formatBytes(bytes / Math.max(0.001, (performance.now() - started) / 1000))}/s`
  if ((stderr as { isTTY?: boolean }).isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        stream: stderr as NodeJS.WritableStream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} records | {speed} | ETA {eta_formatted}`,
        etaBuffer: 50,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    )
    let startedBar = false
    return {
      update(p) {
        const total = Math.max(p.totalRecords, p.records)
        if (!startedBar) {
          bar.start(total, p.records, { speed: rate(p.bytes) })
          startedBar = true
        } else {
          bar.setTotal(total)
          bar.update(p.records, { speed: rate(p.bytes) })
        }
      },
      stop() {
        if (startedBar) bar.stop()
      },
    }
  }
  let last = 0
  let latest: RestoreProgress | undefined
  const line = (p: RestoreProgress) => {
    const elapsed = (performance.now() - started) / 1000
    const total = Math.max(p.totalRecords, p.records)
    const pct = total === 0 ? 100 : Math.floor((p.records / total) * 100)
    const perSecond = p.records / Math.max(elapsed, 0.001)
    const eta = perSecond > 0 ? Math.ceil((total - p.records) / perSecond) : undefined
    stderr.write(
      `everlog: ${label}: ${p.records}/${total} records (${pct}%), ${rate(p.bytes)}, ` +
        `${p.partitionsDone}/${p.partitions} partitions done${eta !== undefined ? `, ETA ${eta}s` : ''}\n`,
    )
  }
  return {
    update(p) {
      latest = p
      const now = performance.now()
      if (now - last < everyMs) return
      last = now
      line(p)
    },
    stop() {
      if (latest && performance.now() - started >= everyMs) line(latest)
    },
  }
}

// A dependency-free SVG of archive throughput and peak RSS against partition count (the scale scenario).
import type { ScalePoint } from '../scenarios/scale.js'
import type { Figure } from './stats.js'

export function scaleSvg(points: ScalePoint[]): string {
  const W = 560
  const H = 300
  const pad = { l: 60, r: 60, t: 40, b: 50 }
  const x = (i: number) => pad.l + (points.length === 1 ? 0 : (i * (W - pad.l - pad.r)) / (points.length - 1))
  const maxT = Math.max(...points.map((p) => p.MiBPerSecond.max)) * 1.15 || 1
  const maxR = Math.max(...points.map((p) => p.peakRssMiB.max)) * 1.15 || 1
  const yT = (v: number) => H - pad.b - (v / maxT) * (H - pad.t - pad.b)
  const yR = (v: number) => H - pad.b - (v / maxR) * (H - pad.t - pad.b)
  const line = (f: (p: ScalePoint) => number, y: (v: number) => number) =>
    points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(f(p)).toFixed(1)}`).join(' ')
  const bars = (lo: (p: ScalePoint) => number, hi: (p: ScalePoint) => number, y: (v: number) => number, c: string) =>
    points
      .map(
        (p, i) =>
          `<line x1="${x(i)}" x2="${x(i)}" y1="${y(lo(p)).toFixed(1)}" y2="${y(hi(p)).toFixed(1)}" stroke="${c}"/>`,
      )
      .join('')
  const labels = points
    .map((p, i) => `<text x="${x(i)}" y="${H - pad.b + 18}" text-anchor="middle">${p.partitions}</text>`)
    .join('')
  const ticks = [0, 0.5, 1]
    .map(
      (f) =>
        `<text x="${pad.l - 6}" y="${yT(f * maxT) + 4}" text-anchor="end" fill="#1f6feb">${(f * maxT).toFixed(0)}</text>` +
        `<text x="${W - pad.r + 6}" y="${yR(f * maxR) + 4}" fill="#d1242f">${(f * maxR).toFixed(0)}</text>`,
    )
    .join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">archiver --once: throughput and peak RSS by partitions (median, min-max)</text>
<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#888"/>
<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#1f6feb"/>
<line x1="${W - pad.r}" y1="${pad.t}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#d1242f"/>
${labels}${ticks}
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">partitions</text>
<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle" fill="#1f6feb">MiB/s</text>
<text x="${W - 10}" y="${H / 2}" transform="rotate(90 ${W - 10} ${H / 2})" text-anchor="middle" fill="#d1242f">peak RSS MiB</text>
<path d="${line((p) => p.MiBPerSecond.median, yT)}" fill="none" stroke="#1f6feb" stroke-width="2"/>
${bars(
  (p) => p.MiBPerSecond.min,
  (p) => p.MiBPerSecond.max,
  yT,
  '#1f6feb',
)}
<path d="${line((p) => p.peakRssMiB.median, yR)}" fill="none" stroke="#d1242f" stroke-width="2" stroke-dasharray="5 3"/>
${bars(
  (p) => p.peakRssMiB.min,
  (p) => p.peakRssMiB.max,
  yR,
  '#d1242f',
)}
</svg>
`
}

/**
 * Cost as work grows: archive and replay rates relative to 8 partitions (by partition count) and to the 1x archive
 * (by size), medians with min-max bars, and the band within which a rate counts as flat.
 */
export function flatnessSvg(
  panels: {
    title: string
    categories: string[]
    series: { name: string; color: string; values: (Figure | undefined)[] }[]
  }[],
  flat: number,
): string {
  const PW = 340
  const H = 300
  const pad = { l: 50, r: 20, t: 50, b: 50 }
  const all = panels.flatMap((p) => p.series.flatMap((s) => s.values.flatMap((v) => (v ? [v.max] : []))))
  const maxY = Math.max(1.3, ...all) * 1.05
  const y = (v: number) => H - pad.b - (v / maxY) * (H - pad.t - pad.b)
  const body = panels
    .map((panel, k) => {
      const n = panel.categories.length
      const x = (i: number) => pad.l + (n === 1 ? 0 : (i * (PW - pad.l - pad.r)) / (n - 1))
      const band = `<rect x="${pad.l}" width="${PW - pad.l - pad.r}" y="${y(2 - flat).toFixed(1)}" height="${(y(flat) - y(2 - flat)).toFixed(1)}" fill="#e6f4ea"/>`
      const one = `<line x1="${pad.l}" x2="${PW - pad.r}" y1="${y(1).toFixed(1)}" y2="${y(1).toFixed(1)}" stroke="#999" stroke-dasharray="3 3"/>`
      const cats = panel.categories
        .map((c, i) => `<text x="${x(i)}" y="${H - pad.b + 18}" text-anchor="middle">${c}</text>`)
        .join('')
      const ticks = [0, 0.5, 1, flat, maxY]
        .map((v) => `<text x="${pad.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(2)}</text>`)
        .join('')
      const series = panel.series
        .map((s, j) => {
          const pts = s.values.map((v, i) => (v ? { i, v } : undefined)).filter((p) => p !== undefined)
          const path = pts
            .map((p, m) => `${m === 0 ? 'M' : 'L'}${x(p.i).toFixed(1)},${y(p.v.median).toFixed(1)}`)
            .join(' ')
          const bars = pts
            .map(
              (p) =>
                `<line x1="${x(p.i)}" x2="${x(p.i)}" y1="${y(p.v.min).toFixed(1)}" y2="${y(p.v.max).toFixed(1)}" stroke="${s.color}"/>`,
            )
            .join('')
          const legend = `<text x="${pad.l + 8}" y="${pad.t + 14 + 14 * j}" fill="${s.color}">${s.name}</text>`
          return `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>${bars}${legend}`
        })
        .join('')
      return `<g transform="translate(${k * PW},0)"><text x="${PW / 2}" y="${pad.t - 16}" text-anchor="middle" font-size="13">${panel.title}</text>
<line x1="${pad.l}" y1="${H - pad.b}" x2="${PW - pad.r}" y2="${H - pad.b}" stroke="#888"/>
<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#888"/>${band}${one}${cats}${ticks}${series}</g>`
    })
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${PW * panels.length}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${(PW * panels.length) / 2}" y="16" text-anchor="middle" font-size="14">rate relative to the base point (median, min-max); green: within ${Math.round((1 - flat) * 100)} %</text>
${body}
</svg>
`
}

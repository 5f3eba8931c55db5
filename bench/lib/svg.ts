// A dependency-free SVG of archive throughput and peak RSS against partition count (the scale scenario).
import type { ScalePoint } from '../scenarios/scale.js'

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

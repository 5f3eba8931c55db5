// Figures over repeated runs: every reported number is min / median / max of the measured runs (warm-up excluded).

export interface Figure {
  min: number
  median: number
  max: number
  runs: number[]
}

export function figure(runs: readonly number[]): Figure {
  if (runs.length === 0) throw new Error('a figure needs at least one measured run')
  const s = [...runs].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { min: s[0]!, median, max: s[s.length - 1]!, runs: [...runs] }
}

/** a / b per run index, as a figure (both sides measured in the same, interleaved runs). */
export function ratio(a: readonly number[], b: readonly number[]): Figure {
  return figure(a.map((x, i) => x / b[i]!))
}

/** A figure for the table: "median (min-max) unit". */
export function show(f: Figure | undefined, digits = 1, unit = ''): string {
  if (!f) return 'not measured'
  const n = (x: number) => x.toFixed(digits)
  const spread = f.runs.length > 1 ? ` (${n(f.min)}-${n(f.max)})` : ''
  return `${n(f.median)}${spread}${unit ? ` ${unit}` : ''}`
}

export const MiB = 1024 * 1024

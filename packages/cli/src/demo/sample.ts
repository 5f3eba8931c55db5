// A realistic sample topic for the demo and `everlog produce-sample`: shop orders keyed by customer, JSON values,
// headers, and now and then a tombstone (a cancelled order) — deterministic, so every run shows the same data.
import type { Message } from 'kafkajs'

const SKUS = ['espresso-beans', 'grinder', 'kettle', 'mug', 'filter-papers', 'scale', 'dripper', 'tamper']
const CURRENCIES = ['EUR', 'USD', 'GBP']
const SOURCES = ['web', 'ios', 'android', 'pos']

export function samplePrng(seed = 7): () => number {
  let s = seed
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
}

/** Order number `n`: key customer-<id>, JSON value, source and trace-id headers; 1 in 50 is a tombstone. */
export function sampleOrder(n: number, rand: () => number, timestamp: number): Message {
  const customer = `customer-${Math.floor(rand() * 500)}`
  const tombstone = n % 50 === 49
  const items = 1 + Math.floor(rand() * 3)
  const lines = Array.from({ length: items }, () => ({
    sku: SKUS[Math.floor(rand() * SKUS.length)],
    quantity: 1 + Math.floor(rand() * 4),
    unitPrice: Math.round(rand() * 5000) / 100,
  }))
  const value = {
    orderId: `ord-${n}`,
    customer,
    currency: CURRENCIES[n % CURRENCIES.length],
    lines,
    total: Math.round(lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0) * 100) / 100,
    placedAt: new Date(timestamp).toISOString(),
  }
  return {
    key: customer,
    value: tombstone ? null : JSON.stringify(value),
    timestamp: String(timestamp),
    headers: { source: SOURCES[n % SOURCES.length]!, 'trace-id': Math.floor(rand() * 2 ** 48).toString(16) },
  }
}

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { intersectRanges, rangeFromSql } from '../src/index.js'

const TOPICS = ['orders.v1', 'clicks']

test('a WHERE clause over one topic table bounds partition, offset and time', async () => {
  const cases: [string, unknown][] = [
    [`SELECT count(*) FROM orders_v1 WHERE "offset" BETWEEN 10 AND 20`, { fromOffset: 10n, toOffset: 20n }],
    [`SELECT * FROM orders_v1 WHERE "offset" > 10 AND "offset" < 20`, { fromOffset: 11n, toOffset: 19n }],
    [`SELECT * FROM orders_v1 WHERE 100 <= "offset" AND "partition" = 3`, { fromOffset: 100n, partitions: [3] }],
    [
      `SELECT * FROM orders_v1 o WHERE o."partition" IN (1, 2) AND o."offset" >= 5`,
      { partitions: [1, 2], fromOffset: 5n },
    ],
    [
      `SELECT * FROM orders_v1_decoded WHERE epoch_ms("timestamp") BETWEEN 1700000000000 AND 1700000001000`,
      { fromTime: 1_700_000_000_000n, toTime: 1_700_000_001_000n },
    ],
    [
      `SELECT * FROM clicks WHERE "timestamp" >= TIMESTAMPTZ '2026-01-01 00:00:00+00' AND "timestamp" < '2026-01-02T00:00:00Z'`,
      { fromTime: BigInt(Date.parse('2026-01-01T00:00:00Z')), toTime: BigInt(Date.parse('2026-01-02T00:00:00Z')) },
    ],
    // Two bounds on one column keep the narrower; other conjuncts are ignored, not misread.
    [
      `SELECT key FROM clicks WHERE "offset" >= 5 AND "offset" >= 7 AND key IS NOT NULL AND "offset" <= 9 GROUP BY key`,
      { fromOffset: 7n, toOffset: 9n },
    ],
  ]
  for (const [sql, range] of cases) {
    const got = await rangeFromSql(sql, TOPICS)
    assert.ok(got, sql)
    assert.deepEqual(got.range, range, sql)
  }
  assert.equal((await rangeFromSql(`SELECT 1 FROM orders_v1 WHERE "offset" = 4`, TOPICS))?.topic, 'orders.v1')
})

test('SQL that could see other rows, or that bounds nothing, narrows nothing', async () => {
  for (const sql of [
    `SELECT * FROM orders_v1 WHERE "offset" < 10 OR "offset" > 20`,
    `SELECT * FROM orders_v1 WHERE "offset" > 10 AND ("offset" < 20 OR key IS NULL) AND "partition" = 1 OR true`,
    `SELECT * FROM orders_v1 WHERE "offset" > (SELECT max("offset") - 10 FROM orders_v1)`,
    `SELECT * FROM orders_v1 WHERE "offset" IN (SELECT "offset" FROM clicks)`,
    `WITH o AS (SELECT * FROM orders_v1) SELECT * FROM o WHERE "offset" = 1`,
    `SELECT * FROM orders_v1 JOIN clicks USING ("offset") WHERE "offset" = 1`,
    `SELECT * FROM orders_v1 WHERE "offset" = 1 UNION ALL SELECT * FROM orders_v1`,
    `SELECT * FROM other WHERE "offset" = 1`,
    `SELECT * FROM orders_v1 WHERE key = 'x'`,
    `SELECT * FROM orders_v1 WHERE "offset" = 1.5`,
    `SELECT * FROM orders_v1 WHERE "offset" = 99999999999999999999`,
    `SELECT * FROM orders_v1`,
    `this is not SQL`,
  ]) {
    assert.equal(await rangeFromSql(sql, TOPICS), undefined, sql)
  }
})

test('flags and the WHERE clause together: the records in both', () => {
  assert.deepEqual(
    intersectRanges(
      { partitions: [1, 2], fromOffset: 5n, toTime: 9n },
      { partitions: [2, 3], fromOffset: 7n, toOffset: 8n },
    ),
    { partitions: [2], fromOffset: 7n, toOffset: 8n, toTime: 9n },
  )
  assert.deepEqual(intersectRanges({}, {}), {})
})

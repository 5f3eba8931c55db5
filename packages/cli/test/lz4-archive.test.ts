// The user story that found Everlog's LZ4 defect, kept as a regression test: 20,000 sample orders archived with
// --compression lz4 in segments of 3,000 records, then queried. Before the fix, DuckDB (`everlog query`) and pyarrow
// refused some segments ("LZ4 decompression failure") while `everlog verify` said ok.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ArchiveReader, FileStore } from '@everlog/core'
import { startDevBroker, type DevBroker } from '@everlog/dev-broker'
import { missingTool, testPython } from '@everlog/testkit'
import { everlog } from './support.js'

let dir: string
let broker: DevBroker

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'everlog-cli-lz4-'))
  broker = await startDevBroker()
})
after(async () => {
  await broker?.close()
  await rm(dir, { recursive: true, force: true })
})

test('an lz4 archive of 20,000 sample orders queries in DuckDB and pyarrow, and verify --deep passes', async (t) => {
  const url = pathToFileURL(join(dir, 'store')).href
  const produced = await everlog(['produce-sample', '--brokers', broker.address, '--count', '20000', '--rate', '1e6'])
  assert.equal(produced.code, 0, produced.stderr)
  const archived = await everlog([
    'archive',
    ...['--brokers', broker.address, '--topics', 'orders', '--store', url, '--once'],
    ...['--compression', 'lz4', '--segment-max-records', '3000', '--http-port', '0', '--log-level', 'warn'],
  ])
  assert.equal(archived.code, 0, archived.stderr)
  // Athena cannot read LZ4_RAW: the archiver says so when it starts.
  assert.match(archived.stdout, /segments compressed with lz4 cannot be read by Trino or Amazon Athena/)

  let headers = 0
  let valueBytes = 0
  let records = 0
  for await (const r of new ArchiveReader(new FileStore(join(dir, 'store'))).read({ topic: 'orders', partition: 0 })) {
    records++
    headers += r.headers.length
    valueBytes += r.value?.length ?? 0
  }
  assert.equal(records, 20_000)

  const query = await everlog([
    'query',
    ...['--store', url, '--format', 'csv'],
    'SELECT count(*) AS n, sum(len(headers)) AS h, sum(octet_length(value)) AS v FROM orders',
  ])
  assert.equal(query.code, 0, query.stderr)
  assert.deepEqual(query.stdout.trim().split('\n'), ['n,h,v', `20000,${headers},${valueBytes}`])

  const deep = await everlog(['verify', '--store', url, '--deep'])
  assert.equal(deep.code, 0, deep.stdout + deep.stderr)
  assert.match(deep.stdout, /^ok: 1 topics, 1 partitions, \d+ index nodes, 7 segments, 0 gaps, 20000 records/)

  const python = testPython()
  const missing = missingTool(python, 'the test Python virtualenv')
  if (missing) return t.skip(missing)
  const data = join(dir, 'store', 'orders', 'data', 'partition=0')
  const files = (await readdir(data)).map((f) => join(data, f))
  const script = [
    'import sys, pyarrow.parquet as pq',
    'n = h = v = 0',
    'for path in sys.argv[1:]:',
    '    t = pq.ParquetFile(path, page_checksum_verification=True).read()',
    '    n += t.num_rows',
    '    h += sum(len(x) for x in t.column("headers").to_pylist())',
    '    v += sum(len(x) for x in t.column("value").to_pylist() if x is not None)',
    'print(n, h, v)',
  ].join('\n')
  const r = spawnSync(python, ['-c', script, ...files])
  assert.equal(r.status, 0, r.stderr.toString())
  assert.equal(r.stdout.toString().trim(), `20000 ${headers} ${valueBytes}`)
})

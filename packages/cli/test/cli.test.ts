// The `everlog` command as a user runs it: a real process against an archive on disk written by the test.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { FileStore, PartitionWriter, writeTopicMeta } from '@everlog/core'
import type { ArchiveRecord } from '@everlog/core'
import { defaultContext } from '../src/context.js'
import { run } from '../src/run.js'
import { everlog, repoRoot } from './support.js'
import type { EverlogRun as Run } from './support.js'

const T0 = 1_714_521_600_000n // 2024-05-01T00:00:00Z

let dir: string
let url: string

function rec(
  offset: number,
  ts: bigint,
  key: Buffer | null,
  value: Buffer | null,
  headers: ArchiveRecord['headers'] = [],
) {
  return { offset: BigInt(offset), timestamp: ts, key, value, headers }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'everlog-cli-'))
  url = pathToFileURL(dir).href
  const store = new FileStore(dir)
  await writeTopicMeta(store, { topic: 'orders', partitions: 3 })
  const p0 = await PartitionWriter.open(store, { topic: 'orders', partition: 0, writer: 'test' })
  await p0.appendSegment([
    rec(0, T0, Buffer.from('k0'), Buffer.from('v0'), [
      ['trace', Buffer.from('t1')],
      ['trace', null],
    ]),
    rec(1, T0 + 1000n, null, Buffer.from('v1')),
    rec(3, T0 + 500n, Buffer.from('k3'), null),
  ])
  await p0.appendSegment([rec(4, T0 + 3000n, Buffer.from([0xff, 0x00]), Buffer.from(''))])
  const p1 = await PartitionWriter.open(store, { topic: 'orders', partition: 1, writer: 'test' })
  await p1.appendSegment([rec(10, T0 + 2000n, null, Buffer.from('p1'))])
  await p1.appendGap({ firstOffset: 11n, lastOffset: 19n, reason: 'retention' })
  await p1.appendSegment([rec(20, T0 + 4000n, null, Buffer.from('p1b'))])
  const clicks = await PartitionWriter.open(store, { topic: 'clicks', partition: 0, writer: 'test' })
  await clicks.appendSegment([rec(0, T0, null, Buffer.from('c'))])
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const line = (
  partition: number,
  offset: number,
  ts: bigint,
  key: string | null,
  value: string | null,
  headers: [string, string | null][] = [],
) => JSON.stringify({ topic: 'orders', partition, offset: String(offset), timestamp: String(ts), key, value, headers })

test('ls prints a table of every topic and partition, and JSON with --json', async () => {
  const [r, json, env] = await Promise.all([
    everlog(['ls', '--store', url]),
    everlog(['ls', '--store', url, '--topic', 'orders', '--json']),
    // EVERLOG_STORE stands in for --store.
    everlog(['ls', '--topic', 'clicks'], { EVERLOG_STORE: url }),
  ])
  assert.equal(r.stderr, '')
  assert.equal(r.code, 0)
  const rows = r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{2,}/))
  assert.deepEqual(rows[0], ['TOPIC', 'PARTITION', 'OFFSETS', 'RECORDS', 'BYTES', 'SEGMENTS', 'GAPS'])
  assert.deepEqual(
    rows.slice(1).map((r) => [r[0], r[1], r[2], r[3], r[5], r[6]]),
    [
      ['clicks', '0', '0..0', '1', '1', '0'],
      ['orders', '0', '0..4', '4', '2', '0'],
      ['orders', '1', '10..20', '2', '2', '1'],
      ['orders', '2', '-', '0', '0', '0'],
    ],
  )
  assert.equal(json.code, 0)
  const parsed = JSON.parse(json.stdout)
  assert.equal(parsed.length, 3)
  assert.deepEqual(
    { ...parsed[1], bytes: 0 },
    {
      topic: 'orders',
      partition: 1,
      firstOffset: '10',
      nextOffset: '21',
      records: 2,
      bytes: 0,
      segments: 2,
      gaps: 1,
      minTimestamp: String(T0 + 2000n),
      maxTimestamp: String(T0 + 4000n),
      writer: 'test',
    },
  )
  assert.ok(parsed[1].bytes > 0)
  assert.equal(env.code, 0)
  assert.match(env.stdout, /^clicks\s+0\s+0\.\.0\s+1\s/m)
})

test('cat prints exact JSON lines: nulls kept, headers in order, all partitions in order', async () => {
  const cat = (...args: string[]) => everlog(['cat', '--store', url, '--topic', 'orders', ...args])
  const [r, hex, all] = await Promise.all([
    cat('--partition', '0'),
    cat('--partition', '0', '--from-offset', '2', '--encoding', 'hex'),
    // No --partition: every partition in order; the gap in partition 1 is skipped only when asked, and reported.
    cat('--skip-gaps', '--encoding', 'base64'),
  ])
  assert.equal(r.stderr, '')
  assert.equal(r.code, 0)
  assert.equal(
    r.stdout,
    [
      line(0, 0, T0, 'k0', 'v0', [
        ['trace', 't1'],
        ['trace', null],
      ]),
      line(0, 1, T0 + 1000n, null, 'v1'),
      line(0, 3, T0 + 500n, 'k3', null),
      line(0, 4, T0 + 3000n, Buffer.from([0xff, 0]).toString('utf8'), ''),
    ].join('\n') + '\n',
  )
  assert.equal(hex.stdout, [line(0, 3, T0 + 500n, '6b33', null), line(0, 4, T0 + 3000n, 'ff00', '')].join('\n') + '\n')
  assert.equal(all.code, 0)
  assert.deepEqual(
    all.stdout
      .trimEnd()
      .split('\n')
      .map((l) => `${JSON.parse(l).partition}/${JSON.parse(l).offset}`),
    ['0/0', '0/1', '0/3', '0/4', '1/10', '1/20'],
  )
  assert.equal(JSON.parse(all.stdout.split('\n')[4]!).value, Buffer.from('p1').toString('base64'))
  assert.equal(all.stderr, 'everlog: skipped offsets 11..19 of orders/1: not archived (retention)\n')
})

test('cat ranges: --from-offset, --to-offset, --from-time (Kafka semantics), --limit', async () => {
  // In this process (the same code as the executable) to keep the suite fast; spawned runs above check the output.
  const offsets = async (...args: string[]) => {
    const r = await inProcess(['cat', '--store', url, '--topic', 'orders', '--skip-gaps', ...args])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
      .trimEnd()
      .split('\n')
      .filter(Boolean)
      .map((l) => `${JSON.parse(l).partition}/${JSON.parse(l).offset}`)
  }
  const got = await Promise.all([
    offsets('--partition', '0', '--from-offset', '1', '--to-offset', '3'),
    // The first record at or after 00:00:00.800 is offset 1 (offset 3 is older: timestamps need not grow).
    offsets('--partition', '0', '--from-time', '2024-05-01T00:00:00.800Z'),
    offsets('--from-time', String(T0 + 2500n)),
    offsets('--limit', '3'),
    offsets('--limit', '5'),
  ])
  assert.deepEqual(got, [
    ['0/1', '0/3'],
    ['0/1', '0/3', '0/4'],
    ['0/4', '1/20'],
    ['0/0', '0/1', '0/3'],
    ['0/0', '0/1', '0/3', '0/4', '1/10'],
  ])
})

test('a gap without --skip-gaps stops with one line naming the lost offsets', async () => {
  const r = await everlog(['cat', '--store', url, '--topic', 'orders', '--partition', '1'])
  assert.equal(r.code, 2)
  assert.equal(r.stdout, line(1, 10, T0 + 2000n, null, 'p1') + '\n')
  assert.match(
    r.stderr,
    /^everlog: data loss: offsets 11\.\.19 of orders\/1 are not in the archive \(retention\); pass --skip-gaps to print the records after them\n$/,
  )
})

/** Runs the CLI in this process (same code as bin.ts minus the process), for the long matrix of bad inputs. */
async function inProcess(args: string[]): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        append(chunk.toString())
        done()
      },
    })
  const context = {
    ...defaultContext({}),
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
  }
  const code = await run(args, { context })
  return { code, stdout, stderr }
}

const oneLine = (r: Run, what: string) => {
  assert.equal(r.code, 2, `${what}: ${r.stderr}`)
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line for ${what}: ${r.stderr}`)
  assert.doesNotMatch(r.stderr, /\n\s+at /)
}

test('bad input is one line on stderr with exit code 2', async () => {
  const cases: [string[], RegExp][] = [
    [['cat', '--store', url, '--topic', 'nope'], /^everlog: topic "nope" is not in the archive file:\/\/\S+\n$/],
    [['ls', '--store', url, '--topic', 'nope'], /^everlog: topic "nope" is not in the archive/],
    [['verify', '--store', url, '--topic', 'nope'], /^everlog: topic "nope" is not in the archive/],
    [
      ['cat', '--store', url, '--topic', 'orders', '--partition', '7'],
      /^everlog: partition 7 of topic "orders" is not in the archive\n$/,
    ],
    [['cat', '--store', url, '--topic', 'bad/name'], /^everlog: invalid topic name "bad\/name"/],
    [['ls', '--store', 'relative/dir'], /^everlog: invalid store URL "relative\/dir".*file:\/\/\//],
    [['ls', '--store', 'ftp://x/y'], /^everlog: invalid store URL "ftp:\/\/x\/y"/],
    [['ls'], /^everlog: --store <url> is required/],
    [['ls', '--store', pathToFileURL(join(dir, 'missing')).href], /^everlog: file:\/\/\S+ is not an Everlog archive/],
    [
      ['cat', '--store', url, '--topic', 'orders', '--from-time', 'yesterday'],
      /^everlog: --from-time must be an ISO 8601/,
    ],
    [
      ['cat', '--store', url, '--topic', 'orders', '--from-time', '1', '--from-offset', '1'],
      /^everlog: give --from-offset or/,
    ],
    [
      ['cat', '--store', url, '--topic', 'orders', '--encoding', 'utf16'],
      /^everlog: --encoding must be one of utf8, base64, hex/,
    ],
    [['cat', '--store', url, '--topic', 'orders', '--from-offset', '-1'], /^everlog: --from-offset must be an offset/],
    [['cat', '--store', url, '--topic', 'orders', '--limit', 'ten'], /^everlog: --limit must be an integer/],
    [['cat', '--store', url], /^everlog: cat needs --topic/],
  ]
  for (const [args, re] of cases) {
    const r = await inProcess(args)
    oneLine(r, args.join(' '))
    assert.match(r.stderr, re, args.join(' '))
    assert.equal(r.stdout, '')
  }
})

test('the real process: unknown topic, bad URL and unreachable store are one line; --verbose shows more', async () => {
  const [topic, badUrl, s3, verbose] = await Promise.all([
    everlog(['cat', '--store', url, '--topic', 'nope']),
    everlog(['ls', '--store', 'relative/dir']),
    everlog(['ls', '--store', 's3://everlog-nowhere/archive'], {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
      AWS_MAX_ATTEMPTS: '1',
    }),
    everlog(['cat', '--store', url, '--topic', 'nope', '--verbose']),
  ])
  oneLine(topic, 'unknown topic')
  assert.match(topic.stderr, /^everlog: topic "nope" is not in the archive file:\/\//)
  oneLine(badUrl, 'bad url')
  assert.match(badUrl.stderr, /^everlog: invalid store URL "relative\/dir"/)
  oneLine(s3, 'unreachable store')
  assert.match(s3.stderr, /^everlog: .*s3:\/\/everlog-nowhere\/archive.*ECONNREFUSED/)
  assert.equal(verbose.code, 2)
  assert.match(verbose.stderr, /UnknownTopicError/)
  assert.match(verbose.stderr, /\n\s+at /)
})

test('verify exits 0 on a sound archive and 1 naming the first broken object', async () => {
  const ok = await everlog(['verify', '--store', url])
  assert.equal(ok.code, 0, ok.stderr)
  // Commits one after another replace index nodes: the replaced ones are unreferenced, which is not a failure.
  assert.match(
    ok.stdout,
    /^ok: 2 topics, 4 partitions, \d+ index nodes, 5 segments, 1 gaps, 7 records, .* verified\nunreferenced: \d+ objects, .* that no HEAD reaches \(not a problem; everlog gc removes them\)\n$/,
  )
  // Copy the archive and damage one segment of the copy.
  const copy = await mkdtemp(join(tmpdir(), 'everlog-cli-broken-'))
  try {
    const src = new FileStore(dir)
    const dst = new FileStore(copy)
    let damaged = ''
    for await (const o of src.list('')) {
      const { body } = await src.get(o.key)
      if (!damaged && o.key.startsWith('orders/data/partition=1/')) {
        damaged = o.key
        body[body.length >> 1]! ^= 0x40
      }
      await dst.put(o.key, body)
    }
    const bad = await everlog(['verify', '--store', pathToFileURL(copy).href])
    assert.equal(bad.code, 1)
    assert.match(bad.stdout, /^BROKEN: 1 problems/)
    assert.equal(bad.stderr.trimEnd().split('\n').length, 1)
    assert.ok(bad.stderr.startsWith(`everlog: archive is broken; first broken object: ${damaged}: `), bad.stderr)
    const onlyClicks = await everlog(['verify', '--store', pathToFileURL(copy).href, '--topic', 'clicks', '--json'])
    assert.equal(onlyClicks.code, 0)
    assert.equal(JSON.parse(onlyClicks.stdout).ok, true)
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
})

test('--help teaches with examples', async () => {
  const [r, cat] = await Promise.all([everlog(['--help']), everlog(['cat', '--help'])])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /Commands:[\s\S]*ls[\s\S]*cat[\s\S]*verify/)
  assert.match(r.stdout, /\$ everlog cat --store/)
  assert.equal(cat.code, 0)
  assert.match(cat.stdout, /--from-time <time>/)
  assert.match(cat.stdout, /Examples:/)
})

test('times: epoch seconds and milliseconds are told apart, other lengths must name their unit', async () => {
  const offsets = async (...args: string[]) => {
    const r = await inProcess(['cat', '--store', url, '--topic', 'orders', '--partition', '0', ...args])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
      .trimEnd()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).offset as string)
  }
  // T0 + 1 s in seconds (10 digits), in ms (13 digits), with explicit units and as ISO: the same records.
  const forms = [String(T0 / 1000n + 1n), String(T0 + 1000n), `${T0 / 1000n + 1n}s`, `${T0 + 1000n}ms`]
  const got = await Promise.all(forms.map((f) => offsets('--from-time', f)))
  for (const g of got) assert.deepEqual(g, ['1', '3', '4'])
  const ambiguous = await inProcess(['cat', '--store', url, '--topic', 'orders', '--from-time', '17145216000'])
  oneLine(ambiguous, 'an 11-digit time')
  assert.match(
    ambiguous.stderr,
    /^everlog: --from-time 17145216000 is ambiguous: write 17145216000s .* or 17145216000ms/,
  )
})

test('cat: an empty range or a start past the end says so', async () => {
  const backwards = await inProcess([
    'cat',
    '--store',
    url,
    '--topic',
    'orders',
    '--from-offset',
    '10',
    '--to-offset',
    '5',
  ])
  oneLine(backwards, 'from > to')
  assert.equal(backwards.stderr, 'everlog: --from-offset 10 is after --to-offset 5: the range is empty\n')
  const past = await inProcess(['cat', '--store', url, '--topic', 'orders', '--partition', '0', '--from-offset', '99'])
  assert.equal(past.code, 0)
  assert.equal(past.stdout, '')
  assert.equal(past.stderr, 'everlog: orders/0 has nothing at or after offset 99: the archive ends before offset 5\n')
})

test('--version prints the version; the executable npm links is committed and executable', async () => {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'packages/cli/package.json'), 'utf8')) as {
    version: string
    bin: Record<string, string>
  }
  const r = await inProcess(['--version'])
  assert.deepEqual([r.code, r.stdout], [0, `${pkg.version}\n`])
  const bin = join(repoRoot, 'packages/cli', pkg.bin.everlog!)
  assert.ok(((await stat(bin)).mode & 0o111) !== 0, `${bin} is executable`)
  const { stdout } = await promisify(execFile)(bin, ['--version'])
  assert.equal(stdout, `${pkg.version}\n`)
})

test('produce-sample against a broker that accepts connections and never answers gives up in one line', async (t) => {
  const sockets = new Set<Socket>()
  const silent = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    for (const s of sockets) s.destroy()
    silent.close()
  })
  const { port } = silent.address() as { port: number }
  // The process ending at all is the point (before, it never did); the message names the deadline it kept.
  const r = await everlog(['produce-sample', '--brokers', `127.0.0.1:${port}`, '--count', '1'], {
    EVERLOG_KAFKA_DEADLINE_MS: '2000',
  })
  oneLine(r, 'a silent broker')
  assert.match(r.stderr, /^everlog: (connecting to|producing to) .*Kafka did not answer within 2 s\n$/)
})

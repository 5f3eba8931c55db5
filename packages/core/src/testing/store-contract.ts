// The behaviour every ObjectStore must show, as one node:test suite that each backend's test file runs.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { InvalidArgumentError, ObjectNotFoundError, PreconditionFailedError } from '../errors.js'
import { PROBE_KEY, checkConditionalWrites } from '../store/conditional-writes.js'
import { ConditionalWritesUnsupportedError } from '../store/errors.js'
import { compareKeys } from '../store/keys.js'
import type { ObjectInfo, ObjectStore } from '../store/types.js'

export interface StoreContractOptions {
  /** Size of the "large object" case; set it above the backend's multipart threshold. Default 3 MiB. */
  largeObjectSize?: number
  /** How many writers race in the conditional-write cases. Default 12. */
  racers?: number
  /**
   * Whether rewriting identical bytes yields a new etag. True for memory and file; S3's ETag is the content MD5,
   * so identical bytes give the identical ETag there (harmless for fencing: the swap sees the same bytes).
   */
  newEtagForIdenticalBytes?: boolean
  /**
   * What the backend is known not to do, each with the reason, which the skipped cases show. A store lacking
   * conditional writes must instead be refused by the conditional-write probe (and let through in single-writer
   * mode), which the suite checks.
   */
  lacks?: { conditionalWrites?: string; listing?: string; emptyObjectRanges?: string }
}

/**
 * Registers the contract suite. makeStore must return an EMPTY store each time (a fresh directory, bucket or
 * prefix); the suite closes it. List pagination is only exercised if the factory configures a small page size.
 */
export function storeContract(
  name: string,
  makeStore: () => Promise<ObjectStore>,
  options: StoreContractOptions = {},
): void {
  const racers = options.racers ?? 12
  const noConditional = options.lacks?.conditionalWrites
  const noListOrder = options.lacks?.listing
  const cw = noConditional === undefined ? {} : { skip: noConditional }
  const lo = noListOrder === undefined ? {} : { skip: noListOrder }
  const largeSize = options.largeObjectSize ?? 3 * 1024 * 1024

  async function withStore(fn: (store: ObjectStore) => Promise<void>): Promise<void> {
    const store = await makeStore()
    try {
      await fn(store)
    } finally {
      await store.close()
    }
  }

  async function keysOf(iter: AsyncIterable<ObjectInfo>): Promise<string[]> {
    const out: string[] = []
    for await (const info of iter) out.push(info.key)
    return out
  }

  describe(`ObjectStore contract: ${name}`, () => {
    it('puts, gets, heads, overwrites and deletes objects', () =>
      withStore(async (store) => {
        const put1 = await store.put('t/a.bin', Buffer.from('hello world'), { contentType: 'text/plain' })
        const got = await store.get('t/a.bin')
        assert.equal(got.body.toString(), 'hello world')
        assert.equal(got.size, 11)
        assert.equal(got.etag, put1.etag)
        assert.deepEqual(await store.head('t/a.bin'), { key: 't/a.bin', size: 11, etag: put1.etag })

        const put2 = await store.put('t/a.bin', Buffer.from('bye'))
        assert.notEqual(put2.etag, put1.etag)
        assert.equal((await store.get('t/a.bin')).body.toString(), 'bye')
        assert.equal((await store.head('t/a.bin'))?.etag, put2.etag)

        await store.delete('t/a.bin')
        assert.equal(await store.head('t/a.bin'), undefined)
        await assert.rejects(store.get('t/a.bin'), (err) => err instanceof ObjectNotFoundError && err.key === 't/a.bin')
        await store.delete('t/a.bin') // deleting a missing key is fine
        await store.delete('never/was')
      }))

    it('every write of different bytes gives a new etag', () =>
      withStore(async (store) => {
        const a = await store.put('same', Buffer.from('x'))
        const b = await store.put('same', Buffer.from('y'))
        const c = await store.put('same', Buffer.from('x'))
        assert.notEqual(a.etag, b.etag)
        assert.notEqual(b.etag, c.etag)
        if (options.newEtagForIdenticalBytes ?? true) assert.notEqual(a.etag, c.etag, 'identical bytes, new etag')
      }))

    it('round-trips every byte value and random binary data exactly', () =>
      withStore(async (store) => {
        const all = Buffer.alloc(256)
        for (let i = 0; i < 256; i++) all[i] = i
        const random = randomBytes(100_003)
        await store.put('bin/all', all)
        await store.put('bin/random', random)
        await store.put('bin/empty', new Uint8Array(0))
        assert.deepEqual((await store.get('bin/all')).body, all)
        assert.deepEqual((await store.get('bin/random')).body, random)
        const empty = await store.get('bin/empty')
        assert.equal(empty.body.length, 0)
        assert.equal(empty.size, 0)
        assert.equal((await store.head('bin/empty'))?.size, 0)
      }))

    it('stores a copy: changing the caller buffer after put does not change the object', () =>
      withStore(async (store) => {
        const buf = Buffer.from('original')
        await store.put('copy', buf)
        buf.fill(0x21)
        const got = await store.get('copy')
        assert.equal(got.body.toString(), 'original')
        got.body.fill(0x22)
        assert.equal((await store.get('copy')).body.toString(), 'original')
      }))

    it('reads byte ranges: start-end, open end, suffix, clamped end, and refuses a start past the end', () =>
      withStore(async (store) => {
        const data = Buffer.from(Array.from({ length: 100 }, (_, i) => i))
        const { etag } = await store.put('r/obj', data)
        const check = async (range: Parameters<ObjectStore['get']>[1], from: number, to: number) => {
          const res = await store.get('r/obj', range)
          assert.deepEqual(res.body, data.subarray(from, to), JSON.stringify(range))
          assert.equal(res.size, 100, 'size is the whole object even for a range')
          assert.equal(res.etag, etag)
        }
        await check({ start: 10, end: 19 }, 10, 20)
        await check({ start: 0, end: 0 }, 0, 1)
        await check({ start: 99, end: 99 }, 99, 100)
        await check({ start: 90 }, 90, 100)
        await check({ start: 95, end: 1000 }, 95, 100)
        await check({ suffix: 7 }, 93, 100)
        await check({ suffix: 100 }, 0, 100)
        await check({ suffix: 5000 }, 0, 100)
        await assert.rejects(store.get('r/obj', { start: 100 }), InvalidArgumentError)
        await assert.rejects(store.get('r/obj', { start: 150, end: 160 }), InvalidArgumentError)
        await assert.rejects(store.get('r/obj', { start: 5, end: 4 }), InvalidArgumentError)
        await assert.rejects(store.get('r/obj', { start: -1 }), InvalidArgumentError)
        await assert.rejects(store.get('r/obj', { suffix: 0 }), InvalidArgumentError)
        await assert.rejects(store.get('r/missing', { start: 0, end: 3 }), ObjectNotFoundError)
      }))

    it('reads any range of an empty object as empty', { skip: options.lacks?.emptyObjectRanges }, () =>
      withStore(async (store) => {
        await store.put('r/empty', new Uint8Array(0))
        assert.equal((await store.get('r/empty', { suffix: 3 })).body.length, 0)
        assert.equal((await store.get('r/empty', { start: 0 })).body.length, 0)
      }),
    )

    it('putIfAbsent: of many concurrent creators exactly one wins and its bytes are stored', cw, () =>
      withStore(async (store) => {
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, i) => store.putIfAbsent('p/HEAD', Buffer.from(`writer-${i}`))),
        )
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, etag: r.value.etag }] : []))
        assert.equal(winners.length, 1, 'exactly one creator wins')
        for (const r of results) {
          if (r.status === 'rejected') assert.ok(r.reason instanceof PreconditionFailedError, String(r.reason))
        }
        const got = await store.get('p/HEAD')
        assert.equal(got.body.toString(), `writer-${winners[0]!.i}`)
        assert.equal(got.etag, winners[0]!.etag)
        await assert.rejects(store.putIfAbsent('p/HEAD', Buffer.from('late')), PreconditionFailedError)
        assert.equal((await store.get('p/HEAD')).body.toString(), `writer-${winners[0]!.i}`)
        await store.delete('p/HEAD')
        await store.putIfAbsent('p/HEAD', Buffer.from('again'))
        assert.equal((await store.get('p/HEAD')).body.toString(), 'again')
      }),
    )

    it('putIfMatch: a fresh etag wins, a stale one loses, a missing object loses', cw, () =>
      withStore(async (store) => {
        const v1 = await store.putIfAbsent('m/HEAD', Buffer.from('v1'))
        const v2 = await store.putIfMatch('m/HEAD', Buffer.from('v2'), v1.etag)
        assert.notEqual(v2.etag, v1.etag)
        await assert.rejects(store.putIfMatch('m/HEAD', Buffer.from('stale'), v1.etag), PreconditionFailedError)
        assert.equal((await store.get('m/HEAD')).body.toString(), 'v2')
        const v3 = await store.putIfMatch('m/HEAD', Buffer.from('v3'), v2.etag)
        assert.equal((await store.get('m/HEAD')).etag, v3.etag)
        // An unconditional put also moves the etag on, fencing holders of v3.
        await store.put('m/HEAD', Buffer.from('v4'))
        await assert.rejects(store.putIfMatch('m/HEAD', Buffer.from('x'), v3.etag), PreconditionFailedError)
        await assert.rejects(
          store.putIfMatch('m/missing', Buffer.from('x'), v3.etag),
          (err) => err instanceof PreconditionFailedError && err.key === 'm/missing',
        )
        assert.equal(await store.head('m/missing'), undefined)
        await store.delete('m/HEAD')
        await assert.rejects(store.putIfMatch('m/HEAD', Buffer.from('x'), v3.etag), PreconditionFailedError)
      }),
    )

    it('putIfMatch: of many concurrent swaps from one etag exactly one wins', cw, () =>
      withStore(async (store) => {
        const base = await store.put('c/HEAD', Buffer.from('base'))
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, i) => store.putIfMatch('c/HEAD', Buffer.from(`swap-${i}`), base.etag)),
        )
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
        assert.equal(winners.length, 1, 'exactly one swap wins')
        for (const r of results) {
          if (r.status === 'rejected') assert.ok(r.reason instanceof PreconditionFailedError, String(r.reason))
        }
        assert.equal((await store.get('c/HEAD')).body.toString(), `swap-${winners[0]}`)
      }),
    )

    it('putIfMatch loops from many concurrent writers lose no update', cw, () =>
      withStore(async (store) => {
        await store.put('n/counter', Buffer.from('0'))
        const perWriter = 5
        const writers = Math.min(racers, 6)
        await Promise.all(
          Array.from({ length: writers }, async () => {
            for (let done = 0; done < perWriter;) {
              const cur = await store.get('n/counter')
              try {
                await store.putIfMatch('n/counter', Buffer.from(String(Number(cur.body) + 1)), cur.etag)
                done++
              } catch (err) {
                if (!(err instanceof PreconditionFailedError)) throw err
              }
            }
          }),
        )
        assert.equal((await store.get('n/counter')).body.toString(), String(writers * perWriter))
      }),
    )

    it('lists keys in lexicographic order of the full key, by prefix, after a key, across pages', lo, () =>
      withStore(async (store) => {
        const keys = [
          'a/b',
          'a/b/c', // not allowed next to 'a/b' on a file system, so it lives under another prefix below
          'a-b',
          'a0',
          'a/c/d',
          'a/c/e',
          'a/ca',
          'b',
          'a/B',
          'a/c-',
          'z/\u00e9',
          'z/\uffff',
          'z/\u{1f600}',
          'z/e',
        ].filter((k) => k !== 'a/b/c')
        const shuffled = [...keys].sort(() => Math.random() - 0.5)
        for (const k of shuffled) await store.put(k, Buffer.from(k))
        const sorted = [...keys].sort(compareKeys)
        // Code point order: the emoji (above U+FFFF) sorts after U+FFFF, unlike UTF-16 order.
        assert.deepEqual(sorted.slice(-4), ['z/e', 'z/\u00e9', 'z/\uffff', 'z/\u{1f600}'])
        assert.deepEqual(await keysOf(store.list('')), sorted)
        assert.deepEqual(
          await keysOf(store.list('a/')),
          sorted.filter((k) => k.startsWith('a/')),
        )
        assert.deepEqual(await keysOf(store.list('a/c')), ['a/c-', 'a/c/d', 'a/c/e', 'a/ca'])
        assert.deepEqual(await keysOf(store.list('a/c/')), ['a/c/d', 'a/c/e'])
        assert.deepEqual(await keysOf(store.list('nothing/')), [])
        assert.deepEqual(
          await keysOf(store.list('', { startAfter: 'a/c/d' })),
          sorted.slice(sorted.indexOf('a/c/d') + 1),
        )
        assert.deepEqual(await keysOf(store.list('a/', { startAfter: 'a/c' })), ['a/c-', 'a/c/d', 'a/c/e', 'a/ca'])
        assert.deepEqual(await keysOf(store.list('a/', { startAfter: 'a/zzz' })), [])
        const infos: ObjectInfo[] = []
        for await (const info of store.list('a/c/')) infos.push(info)
        assert.deepEqual(
          infos.map((i) => [i.key, i.size]),
          [
            ['a/c/d', 5],
            ['a/c/e', 5],
          ],
        )
        assert.equal(infos[0]!.etag, (await store.head('a/c/d'))!.etag)
      }),
    )

    it('lists many keys lazily and completely across pages', lo, () =>
      withStore(async (store) => {
        const keys = Array.from({ length: 57 }, (_, i) => `seg/p=0/${String((i * 7919) % 1000).padStart(20, '0')}`)
        await Promise.all(keys.map((k) => store.put(k, Buffer.from(k))))
        const sorted = [...new Set(keys)].sort(compareKeys)
        assert.deepEqual(await keysOf(store.list('seg/')), sorted)
        assert.deepEqual(await keysOf(store.list('seg/p=0/', { startAfter: sorted[20] })), sorted.slice(21))
        // Stopping early is allowed and must not hang or leak.
        let n = 0
        for await (const _ of store.list('seg/')) if (++n === 3) break
        assert.equal(n, 3)
      }),
    )

    it('lists the distinct next prefixes, sorted, without objects or empty leftovers', lo, () =>
      withStore(async (store) => {
        for (const k of ['t1/data/p=0/x', 't1/data/p=1/y', 't1/index/p=0/HEAD', 't1/topic.json', 't2/x', 'top'])
          await store.put(k, Buffer.from(k))
        assert.deepEqual(await store.listPrefixes(''), ['t1/', 't2/'])
        assert.deepEqual(await store.listPrefixes('t1/'), ['t1/data/', 't1/index/'])
        assert.deepEqual(await store.listPrefixes('t1/data/'), ['t1/data/p=0/', 't1/data/p=1/'])
        assert.deepEqual(await store.listPrefixes('t1/data/p='), ['t1/data/p=0/', 't1/data/p=1/'])
        assert.deepEqual(await store.listPrefixes('t1/data/p=0/'), [])
        assert.deepEqual(await store.listPrefixes('none/'), [])
        await store.delete('t2/x')
        assert.deepEqual(await store.listPrefixes(''), ['t1/'])
      }),
    )

    it(`stores and reads back a large object (${largeSize} bytes)`, () =>
      withStore(async (store) => {
        const big = randomBytes(largeSize)
        const { etag } = await store.put('big/object', big)
        const info = await store.head('big/object')
        assert.equal(info?.size, largeSize)
        assert.equal(info?.etag, etag)
        const got = await store.get('big/object')
        assert.equal(got.size, largeSize)
        assert.ok(got.body.equals(big), 'large object bytes round-trip')
        const tail = await store.get('big/object', { suffix: 1000 })
        assert.ok(tail.body.equals(big.subarray(largeSize - 1000)))
      }))

    const randomOps = process.env.EVERLOG_LONG_TESTS === '1' ? 3000 : 150
    it(`behaves like a simple map under ${randomOps} random operations`, { skip: noConditional }, () =>
      withStore(async (store) => {
        const seed = Number(process.env.EVERLOG_SEED ?? Date.now() % 1_000_000)
        let state = seed
        const rand = (n: number) => {
          // mulberry32: small, seedable, good enough to pick operations
          state = (state + 0x6d2b79f5) | 0
          let t = Math.imul(state ^ (state >>> 15), 1 | state)
          t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
          return (((t ^ (t >>> 14)) >>> 0) % n) as number
        }
        // No key is a path prefix of another, so the file store can hold all of them.
        const keys = ['a', 'b/c', 'b/d', 'b-e', 'x/y/z', 'x/y0', 'x/w/v']
        const model = new Map<string, { body: Buffer; etag: string }>()
        const staleEtags: string[] = []
        for (let step = 0; step < randomOps; step++) {
          const key = keys[rand(keys.length)]!
          const body = randomBytes(rand(40))
          const cur = model.get(key)
          const where = `seed ${seed} step ${step} key ${key}`
          switch (rand(7)) {
            case 0: {
              const { etag } = await store.put(key, body)
              if (cur) staleEtags.push(cur.etag)
              model.set(key, { body, etag })
              break
            }
            case 1: {
              if (cur) {
                await assert.rejects(store.putIfAbsent(key, body), PreconditionFailedError, where)
              } else {
                model.set(key, { body, etag: (await store.putIfAbsent(key, body)).etag })
              }
              break
            }
            case 2: {
              const stale = staleEtags[rand(staleEtags.length + 1)]
              const useCurrent = cur && (stale === undefined || rand(2) === 0)
              const etag = useCurrent ? cur.etag : (stale ?? '"none"')
              // A stale etag can only match if the backend reuses etags for identical bytes (S3's MD5).
              const matches = cur !== undefined && etag === cur.etag
              if (matches) {
                staleEtags.push(cur.etag)
                model.set(key, { body, etag: (await store.putIfMatch(key, body, etag)).etag })
              } else {
                await assert.rejects(store.putIfMatch(key, body, etag), PreconditionFailedError, where)
              }
              break
            }
            case 3:
              await store.delete(key)
              if (cur) staleEtags.push(cur.etag)
              model.delete(key)
              break
            case 4: {
              if (!cur) {
                await assert.rejects(store.get(key), ObjectNotFoundError, where)
                break
              }
              const got = await store.get(key, cur.body.length > 0 ? { suffix: 1 + rand(cur.body.length) } : undefined)
              assert.equal(got.etag, cur.etag, where)
              assert.equal(got.size, cur.body.length, where)
              assert.ok(cur.body.subarray(cur.body.length - got.body.length).equals(got.body), where)
              break
            }
            case 5: {
              const info = await store.head(key)
              assert.deepEqual(info, cur ? { key, size: cur.body.length, etag: cur.etag } : undefined, where)
              break
            }
            default: {
              const prefix = ['', 'b', 'b/', 'x/', 'x/y'][rand(5)]!
              const listed: string[] = []
              for await (const info of store.list(prefix)) {
                listed.push(info.key)
                assert.equal(info.etag, model.get(info.key)?.etag, where)
              }
              const expected = [...model.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys)
              // Without S3's order, the listing must still be complete and exact.
              if (noListOrder !== undefined) listed.sort(compareKeys)
              assert.deepEqual(listed, expected, `${where} list ${prefix}`)
            }
          }
        }
      }),
    )

    if (noConditional === undefined) {
      it('the conditional-write probe finds both conditional writes honoured, and leaves one small object', () =>
        withStore(async (store) => {
          const check = await checkConditionalWrites(store, 'required')
          assert.deepEqual(check.unsupported, [])
          assert.equal(check.fenced, true)
          assert.deepEqual(await keysOf(store.list('')), [PROBE_KEY], 'one probe object, nothing else')
        }))
    } else {
      it('the conditional-write probe refuses the store, naming it and what it does not honour', () =>
        withStore(async (store) => {
          await assert.rejects(checkConditionalWrites(store, 'required'), (err) => {
            assert.ok(err instanceof ConditionalWritesUnsupportedError, String(err))
            assert.match(err.message, new RegExp(`the store ${escapeRegExp(store.url)}`))
            assert.match(err.message, /If-None-Match was not refused/)
            assert.match(err.message, /--unsafe-single-writer/)
            return true
          })
          const unsafe = await checkConditionalWrites(store, 'unsafe-single-writer')
          assert.equal(unsafe.fenced, false)
          assert.ok(unsafe.unsupported.includes('If-None-Match'))
          assert.deepEqual(await keysOf(store.list('')), [PROBE_KEY], 'one probe object, nothing else')
        }))
    }

    it('rejects keys that could escape the root or are not plain relative paths', () =>
      withStore(async (store) => {
        for (const key of ['', '/abs', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', 'a\\b', '..', 'a\0b']) {
          await assert.rejects(store.put(key, Buffer.from('x')), InvalidArgumentError, JSON.stringify(key))
          await assert.rejects(store.get(key), InvalidArgumentError, JSON.stringify(key))
          await assert.rejects(store.head(key), InvalidArgumentError, JSON.stringify(key))
          await assert.rejects(store.delete(key), InvalidArgumentError, JSON.stringify(key))
        }
        await assert.rejects(keysOf(store.list('../')), InvalidArgumentError)
        await assert.rejects(store.listPrefixes('/x/'), InvalidArgumentError)
        assert.deepEqual(await keysOf(store.list('')), [])
      }))
  })
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, describe, it } from 'node:test'
import { ErrorCodes, InvalidStoreUrlError } from '../src/errors.js'
import { FileStore } from '../src/store/file.js'
import { MemoryStore } from '../src/store/memory.js'
import { openStore, parseStoreUrl } from '../src/store/open.js'
import { S3Store } from '../src/store/s3.js'

describe('parseStoreUrl', () => {
  it('parses file, s3 and memory URLs', () => {
    assert.deepEqual(parseStoreUrl('file:///var/lib/everlog'), { scheme: 'file', path: '/var/lib/everlog' })
    assert.deepEqual(parseStoreUrl('file:///var/lib/everlog/'), { scheme: 'file', path: '/var/lib/everlog' })
    assert.deepEqual(parseStoreUrl('file:///tmp/with%20space'), { scheme: 'file', path: '/tmp/with space' })
    assert.deepEqual(parseStoreUrl('file://localhost/srv/a'), { scheme: 'file', path: '/srv/a' })
    assert.deepEqual(parseStoreUrl('s3://my-bucket'), { scheme: 's3', bucket: 'my-bucket', prefix: '' })
    assert.deepEqual(parseStoreUrl('s3://my-bucket/'), { scheme: 's3', bucket: 'my-bucket', prefix: '' })
    assert.deepEqual(parseStoreUrl('s3://my.bucket/archive/prod'), {
      scheme: 's3',
      bucket: 'my.bucket',
      prefix: 'archive/prod/',
    })
    assert.deepEqual(parseStoreUrl('S3://b-1/a%3Db/'), { scheme: 's3', bucket: 'b-1', prefix: 'a=b/' })
    assert.deepEqual(parseStoreUrl('memory://'), { scheme: 'memory', name: '' })
    assert.deepEqual(parseStoreUrl('memory://demo'), { scheme: 'memory', name: 'demo' })
  })

  it('rejects malformed and unsupported URLs, showing the URL and the accepted forms', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['relative/dir', /relative paths are not accepted.*file:\/\/\//],
      ['./data', /relative paths are not accepted/],
      ['/abs/path', /needs the file scheme: file:\/\/\/abs\/path/],
      ['file://relative/dir', /"relative" reads as a host name.*file:\/\/\/relative\/dir/],
      ['file://./data', /relative paths are not accepted/],
      ['file:relative', /start with file:\/\//],
      ['file:///a?x=1', /no query/],
      ['http://example.com/bucket', /unsupported scheme "http:"/],
      ['gs://bucket/x', /unsupported scheme "gs:"/],
      ['s3://', /not a valid bucket name/],
      ['s3://Upper_Case/x', /not a valid bucket name/],
      ['s3://b/x?region=eu', /no query/],
      ['s3://bucket/a//b', /empty path segments/],
      ['s3://bucket/../x', /"\." or "\.\."/],
      ['memory:foo', /memory:\/\/name/],
    ]
    for (const [url, why] of cases) {
      assert.throws(
        () => parseStoreUrl(url),
        (err) => {
          assert.ok(err instanceof InvalidStoreUrlError, `${url}: ${String(err)}`)
          assert.equal(err.code, ErrorCodes.INVALID_STORE_URL)
          assert.match(err.message, why, url)
          assert.ok(err.message.includes(JSON.stringify(url)), `message shows the URL: ${err.message}`)
          assert.match(err.message, /file:\/\/\/abs\/path, s3:\/\/bucket\/prefix, memory:\/\/name/)
          return true
        },
      )
    }
  })

  it('never echoes credentials pasted into a URL', () => {
    assert.throws(
      () => parseStoreUrl('s3://AKIAEXAMPLE:SeCrEtKeY@bucket/prefix'),
      (err) => {
        assert.ok(err instanceof InvalidStoreUrlError)
        assert.ok(!err.message.includes('SeCrEtKeY') && !err.message.includes('AKIAEXAMPLE'), err.message)
        assert.match(err.message, /credentials/)
        return true
      },
    )
  })
})

describe('openStore', () => {
  const dirs: string[] = []
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

  it('opens the backend the URL names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'everlog-open-'))
    dirs.push(dir)
    const file = openStore(pathToFileURL(dir).href)
    assert.ok(file instanceof FileStore)
    await file.put('x/y', Buffer.from('on disk'))
    assert.equal((await new FileStore(dir).get('x/y')).body.toString(), 'on disk')

    const name = `open-test-${process.pid}`
    const m1 = openStore(`memory://${name}`)
    const m2 = openStore(`memory://${name}`)
    assert.ok(m1 instanceof MemoryStore)
    await m1.put('k', Buffer.from('shared'))
    assert.equal((await m2.get('k')).body.toString(), 'shared')
    assert.equal(await openStore('memory://').head('k'), undefined)
    MemoryStore.drop(name)

    const s3 = openStore('s3://bucket/prefix', { s3: { region: 'eu-west-1', endpoint: 'http://127.0.0.1:1' } })
    assert.ok(s3 instanceof S3Store)
    assert.equal(s3.url, 's3://bucket/prefix/')
    assert.equal((s3 as S3Store).prefix, 'prefix/')
    await s3.close()
  })
})

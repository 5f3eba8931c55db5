// A local cache of segment objects for stores DuckDB cannot read in place (S3: its httpfs extension cannot be
// installed offline). Files keep their bucket keys, so hive-style `partition=<p>` folders survive. Segments are
// immutable and content addressed: a cached file is reused when its sha256 still matches its key.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { IntegrityError, parseSegmentKey, sha256Hex, type ObjectStore } from '@everlog/core'

export interface CacheProgress {
  done: number
  total: number
  downloadedBytes: number
  reusedFiles: number
}

export interface CacheResult {
  /** Local path per key, in the order asked. */
  paths: string[]
  downloadedFiles: number
  downloadedBytes: number
  reusedFiles: number
  /** Cached files whose bytes no longer matched their hash; they were fetched again. */
  corruptFiles: string[]
}

export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export class SegmentCache {
  constructor(readonly dir: string) {}

  pathOf(key: string): string {
    return join(this.dir, ...key.split('/'))
  }

  /** Makes every segment key available locally, downloading at most `concurrency` at a time. */
  async fetch(
    store: ObjectStore,
    keys: readonly string[],
    options: { concurrency?: number; onProgress?: (p: CacheProgress) => void } = {},
  ): Promise<CacheResult> {
    const result: CacheResult = { paths: [], downloadedFiles: 0, downloadedBytes: 0, reusedFiles: 0, corruptFiles: [] }
    let done = 0
    let next = 0
    const report = () =>
      options.onProgress?.({
        done,
        total: keys.length,
        downloadedBytes: result.downloadedBytes,
        reusedFiles: result.reusedFiles,
      })
    const worker = async () => {
      while (next < keys.length) {
        const i = next++
        result.paths[i] = await this.ensure(store, keys[i]!, result)
        done++
        report()
      }
    }
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, keys.length) }, worker))
    return result
  }

  private async ensure(store: ObjectStore, key: string, result: CacheResult): Promise<string> {
    const expected = parseSegmentKey(key)?.sha256
    if (!expected) throw new IntegrityError(key, `not a segment key: ${key}`)
    const path = this.pathOf(key)
    const cached = await stat(path).catch(() => undefined)
    if (cached?.isFile()) {
      if ((await fileSha256(path)) === expected) {
        result.reusedFiles++
        return path
      }
      result.corruptFiles.push(path)
    }
    const { body } = await store.get(key)
    const actual = sha256Hex(body)
    if (actual !== expected) {
      throw new IntegrityError(key, `segment ${key} in ${store.url} is corrupt: its bytes hash to ${actual}`)
    }
    await mkdir(dirname(path), { recursive: true })
    // Write then rename, so a concurrent or interrupted query never sees a partial file.
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
    await writeFile(tmp, body)
    await rename(tmp, path)
    result.downloadedFiles++
    result.downloadedBytes += body.length
    return path
  }
}

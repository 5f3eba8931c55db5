// Object store on a local or shared file system (`file:///abs/path`) with the same guarantees as S3: objects appear
// whole or not at all, and put-if-absent / put-if-match are atomic across processes, because HEAD fencing needs them.
import { randomBytes, randomInt, createHash } from 'node:crypto'
import type { Dirent, Stats, BigIntStats } from 'node:fs'
import { constants } from 'node:fs'
import { link, mkdir, open, readFile, readdir, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, isAbsolute, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  EverlogError,
  InvalidArgumentError,
  ObjectNotFoundError,
  PreconditionFailedError,
  StoreAccessDeniedError,
  StoreUnavailableError,
} from '../errors.js'
import { compareKeys, resolveRange, validateKey, validatePrefix, validateRange } from './keys.js'
import type { ByteRange, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from './types.js'

// Temp and lock files share this prefix; keys may not use it, so listings can skip them without ambiguity.
const RESERVED = '.everlog-'
const TMP = `${RESERVED}tmp-`
const LOCK = `${RESERVED}lock-`
// A lock held by a live process on this host is only broken after this many staleLockMs (its pid may be reused).
const LIVE_HOLDER_FACTOR = 6

export interface FileStoreOptions {
  /** fsync objects and their directory before a write returns (crash durability). Default true. */
  fsync?: boolean
  /**
   * A per-key lock older than this, taken on another host, is considered abandoned by a crashed writer and broken.
   * Locks are held only around a rename, so a live holder never comes close. Default 10 s. A lock whose holder is a
   * dead process on this host is broken at once; one whose holder is alive only after 6x this age.
   */
  staleLockMs?: number
}

export class FileStore implements ObjectStore {
  readonly url: string
  readonly root: string
  private readonly fsync: boolean
  private readonly staleLockMs: number
  // In-process queue per key, so concurrent writers of one process do not spin on the lock file.
  private readonly localLocks = new Map<string, Promise<void>>()
  private readonly host = hostname()

  constructor(root: string, options: FileStoreOptions = {}) {
    if (!isAbsolute(root)) {
      throw new InvalidArgumentError(`file store root must be an absolute path, got ${JSON.stringify(root)}`)
    }
    this.root = root
    this.url = pathToFileURL(root).href
    this.fsync = options.fsync ?? true
    this.staleLockMs = options.staleLockMs ?? 10_000
  }

  async get(key: string, range?: ByteRange): Promise<GetResult> {
    const path = this.pathOf(key)
    validateRange(key, range)
    let fh: FileHandle
    try {
      fh = await open(path, constants.O_RDONLY)
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key, `object not found: ${key} in ${this.url}`)
      throw this.ioError('read', key, err)
    }
    try {
      // Size and etag come from the open descriptor: a rename replacing the object meanwhile cannot mix versions.
      const st = await fh.stat({ bigint: true })
      if (!st.isFile()) throw new ObjectNotFoundError(key, `object not found: ${key} in ${this.url}`)
      const size = Number(st.size)
      const [start, end] = resolveRange(key, range, size)
      const body = Buffer.allocUnsafe(end - start)
      let done = 0
      while (done < body.length) {
        const { bytesRead } = await fh.read(body, done, body.length - done, start + done)
        if (bytesRead === 0) break
        done += bytesRead
      }
      return { body: done === body.length ? body : body.subarray(0, done), etag: etagOf(st), size }
    } catch (err) {
      throw this.ioError('read', key, err)
    } finally {
      await fh.close()
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.pathOf(key)
    let st: BigIntStats
    try {
      st = await stat(path, { bigint: true })
    } catch (err) {
      if (isMissing(err)) return undefined
      throw this.ioError('stat', key, err)
    }
    if (!st.isFile()) return undefined
    return { key, size: Number(st.size), etag: etagOf(st) }
  }

  async put(key: string, body: Uint8Array, _options?: PutOptions): Promise<{ etag: string }> {
    const path = this.pathOf(key)
    const tmp = await this.writeTemp(key, path, body)
    try {
      // A new key (segments and index nodes always are) is linked into place without the lock: link() creates the
      // name atomically or fails with EEXIST, and a putIfMatch racing it finds either no object or this one, whose
      // etag it did not expect. This spares the lock file's five system calls on the archiver's commit path.
      try {
        await link(tmp.path, path)
        await this.syncDir(dirOf(path))
        return { etag: tmp.etag }
      } catch (err) {
        if (codeOf(err) !== 'EEXIST') throw this.ioError('write', key, err)
      }
      // Replacing an object: locked so that a concurrent putIfMatch cannot check an etag this rename is about to
      // replace.
      await this.withLock(key, path, () => this.replace(key, tmp.path, path))
      return { etag: tmp.etag }
    } finally {
      await unlinkQuietly(tmp.path)
    }
  }

  async putIfAbsent(key: string, body: Uint8Array, _options?: PutOptions): Promise<{ etag: string }> {
    const path = this.pathOf(key)
    const tmp = await this.writeTemp(key, path, body)
    try {
      // link() fails with EEXIST if the name exists: one atomic create, across processes and NFS, no lock needed.
      try {
        await link(tmp.path, path)
      } catch (err) {
        if (codeOf(err) === 'EEXIST') {
          throw new PreconditionFailedError(key, `conditional write failed: ${key} already exists in ${this.url}`)
        }
        throw this.ioError('write', key, err)
      }
      await this.syncDir(dirOf(path))
      return { etag: tmp.etag }
    } finally {
      await unlinkQuietly(tmp.path)
    }
  }

  async putIfMatch(key: string, body: Uint8Array, etag: string, _options?: PutOptions): Promise<{ etag: string }> {
    const path = this.pathOf(key)
    const tmp = await this.writeTemp(key, path, body)
    try {
      await this.withLock(key, path, async () => {
        const current = await this.head(key)
        if (!current) {
          throw new PreconditionFailedError(key, `conditional write failed: ${key} no longer exists in ${this.url}`)
        }
        if (current.etag !== etag) {
          throw new PreconditionFailedError(
            key,
            `conditional write failed: ${key} in ${this.url} changed (etag ${current.etag}, expected ${etag})`,
          )
        }
        await this.replace(key, tmp.path, path)
      })
      return { etag: tmp.etag }
    } finally {
      await unlinkQuietly(tmp.path)
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key)
    await this.withLock(key, path, async () => {
      try {
        await unlink(path)
      } catch (err) {
        if (isMissing(err)) return
        if (codeOf(err) === 'EISDIR' || codeOf(err) === 'EPERM') {
          // A directory at this path is a prefix, not an object: nothing to delete.
          if ((await stat(path).catch(() => undefined))?.isDirectory()) return
        }
        throw this.ioError('delete', key, err)
      }
      await this.syncDir(dirOf(path))
    })
    await this.pruneEmptyDirs(dirOf(path))
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix)
    const slash = prefix.lastIndexOf('/')
    const dirKey = prefix.slice(0, slash + 1)
    const namePrefix = prefix.slice(slash + 1)
    yield* this.walk(dirKey, namePrefix, options.startAfter)
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    validatePrefix(prefix)
    const slash = prefix.lastIndexOf('/')
    const dirKey = prefix.slice(0, slash + 1)
    const namePrefix = prefix.slice(slash + 1)
    const out: string[] = []
    for (const entry of await this.readDirSorted(dirKey)) {
      if (!entry.isDirectory() || !entry.name.startsWith(namePrefix)) continue
      const sub = `${dirKey}${entry.name}/`
      // A directory left empty by a crash or a racing delete is not a prefix: S3 has no empty folders.
      for await (const _ of this.walk(sub, '', undefined)) {
        out.push(sub)
        break
      }
    }
    return out
  }

  async close(): Promise<void> {}

  /**
   * Deletes temp files that writers killed mid-write left behind (they are never visible as objects, but take
   * space). Only files older than olderThanMs are touched, so writes in flight are safe. Returns how many went.
   */
  async removeStaleTempFiles(olderThanMs = 60 * 60 * 1000): Promise<number> {
    let removed = 0
    const visit = async (dir: string): Promise<void> => {
      let entries: Dirent[]
      try {
        entries = await readdir(dir, { withFileTypes: true })
      } catch (err) {
        if (isMissing(err)) return
        throw this.ioError('list', dir.slice(this.root.length + 1), err)
      }
      for (const e of entries) {
        const path = join(dir, e.name)
        if (e.isDirectory() && !e.name.startsWith(RESERVED)) await visit(path)
        else if (e.isFile() && e.name.startsWith(TMP)) {
          const st = await statQuietly(path)
          if (
            st &&
            Date.now() - st.mtimeMs > olderThanMs &&
            (await unlink(path).then(
              () => true,
              () => false,
            ))
          ) {
            removed++
          }
        }
      }
    }
    await visit(this.root)
    return removed
  }

  /** Maps a key to its path under the root after checking it cannot leave the root or hit a reserved name. */
  private pathOf(key: string): string {
    validateKey(key)
    for (const segment of key.split('/')) {
      if (segment.startsWith(RESERVED)) {
        throw new InvalidArgumentError(
          `invalid object key ${JSON.stringify(key)}: path segments starting with "${RESERVED}" are reserved by the file store`,
        )
      }
    }
    return join(this.root, ...key.split('/'))
  }

  /** Keys under dirKey whose first name starts with namePrefix, in full-key order, one directory read at a time. */
  private async *walk(dirKey: string, namePrefix: string, startAfter: string | undefined): AsyncGenerator<ObjectInfo> {
    for (const entry of await this.readDirSorted(dirKey)) {
      if (!entry.name.startsWith(namePrefix)) continue
      const key = dirKey + entry.name
      if (entry.isDirectory()) {
        const sub = `${key}/`
        // Every key below sub starts with sub; when startAfter is past sub without being inside it, all are done.
        if (startAfter !== undefined && !startAfter.startsWith(sub) && compareKeys(sub, startAfter) < 0) continue
        yield* this.walk(sub, '', startAfter)
      } else if (entry.isFile()) {
        if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue
        let st: BigIntStats
        try {
          st = await stat(join(this.root, ...key.split('/')), { bigint: true })
        } catch (err) {
          if (isMissing(err)) continue // deleted since the directory was read
          throw this.ioError('stat', key, err)
        }
        yield { key, size: Number(st.size), etag: etagOf(st), lastModified: new Date(Number(st.mtimeMs)) }
      }
    }
  }

  /** A directory's visible entries sorted as their keys sort: a directory named d sorts as "d/". */
  private async readDirSorted(dirKey: string): Promise<Dirent[]> {
    const dir = dirKey === '' ? this.root : join(this.root, ...dirKey.slice(0, -1).split('/'))
    let entries: Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if (isMissing(err)) return []
      throw this.ioError('list', dirKey, err)
    }
    const visible = entries.filter((e) => !e.name.startsWith(RESERVED) && (e.isFile() || e.isDirectory()))
    const sortKey = new Map(visible.map((e) => [e, e.isDirectory() ? `${e.name}/` : e.name]))
    return visible.sort((a, b) => compareKeys(sortKey.get(a)!, sortKey.get(b)!))
  }

  /** Writes body to a hidden temp file beside the object, durable and with a fresh etag, ready to rename or link. */
  private async writeTemp(key: string, path: string, body: Uint8Array): Promise<{ path: string; etag: string }> {
    const dir = dirOf(path)
    const tmpPath = join(dir, `${TMP}${randomBytes(8).toString('hex')}`)
    let fh: FileHandle | undefined
    for (let attempt = 0; fh === undefined; attempt++) {
      try {
        fh = await open(tmpPath, 'wx', 0o644)
      } catch (err) {
        // The directory may not exist yet, or a delete may have just pruned it: create it and try again.
        if (codeOf(err) !== 'ENOENT' || attempt > 5) throw this.ioError('write', key, err)
        try {
          await mkdir(dir, { recursive: true })
        } catch (mkdirErr) {
          throw this.ioError('write', key, mkdirErr)
        }
      }
    }
    try {
      let done = 0
      while (done < body.length) {
        const { bytesWritten } = await fh.write(body, done, body.length - done)
        done += bytesWritten
      }
      // The etag is inode + mtime + size. A new file always has a new inode among live files; the random
      // sub-second mtime keeps a recycled inode from reproducing an old etag.
      const now = Math.floor(Date.now() / 1000) + randomInt(1_000_000) / 1_000_000
      await fh.utimes(now, now)
      if (this.fsync) await fh.sync()
      const st = await fh.stat({ bigint: true })
      return { path: tmpPath, etag: etagOf(st) }
    } catch (err) {
      await fh.close().catch(() => undefined)
      fh = undefined
      await unlinkQuietly(tmpPath)
      throw this.ioError('write', key, err)
    } finally {
      await fh?.close()
    }
  }

  private async replace(key: string, tmpPath: string, path: string): Promise<void> {
    try {
      await rename(tmpPath, path)
    } catch (err) {
      throw this.ioError('write', key, err)
    }
    await this.syncDir(dirOf(path))
  }

  private async syncDir(dir: string): Promise<void> {
    if (!this.fsync) return
    const fh = await open(dir, constants.O_RDONLY).catch(() => undefined)
    if (!fh) return
    try {
      await fh.sync()
    } catch {
      // Some file systems refuse fsync on a directory; the rename itself is still atomic.
    } finally {
      await fh.close()
    }
  }

  /** Runs fn holding the key's lock file, queued behind other holders in this process. */
  private async withLock<T>(key: string, path: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.localLocks.get(path) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => (release = resolve))
    const tail = previous.then(() => mine)
    this.localLocks.set(path, tail)
    await previous
    try {
      const lockPath = join(dirOf(path), lockName(path))
      await this.acquireFileLock(key, path, lockPath)
      try {
        return await fn()
      } finally {
        await unlinkQuietly(lockPath)
      }
    } finally {
      release()
      if (this.localLocks.get(path) === tail) this.localLocks.delete(path)
    }
  }

  private async acquireFileLock(key: string, path: string, lockPath: string): Promise<void> {
    // The lock is born with its owner in it: written to a temp file, then linked into place (link() fails with EEXIST
    // while another holds it). A lock created empty and written after would, if its writer were killed in between,
    // name no owner, and could only be broken after staleLockMs.
    const ownerPath = join(dirOf(lockPath), `${TMP}${randomBytes(8).toString('hex')}`)
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(ownerPath, `${this.host} ${process.pid}\n`, { flag: 'wx', mode: 0o644 })
        break
      } catch (err) {
        if (codeOf(err) !== 'ENOENT' || attempt >= 5) throw this.ioError('lock', key, err)
        await mkdir(dirOf(path), { recursive: true }).catch(() => undefined)
      }
    }
    try {
      let delay = 1
      for (;;) {
        try {
          await link(ownerPath, lockPath)
          return
        } catch (err) {
          if (codeOf(err) !== 'EEXIST') throw this.ioError('lock', key, err)
        }
        await this.breakIfStale(lockPath)
        await sleep(delay + Math.random() * delay)
        delay = Math.min(delay * 2, 20)
      }
    } finally {
      await unlinkQuietly(ownerPath)
    }
  }

  /**
   * Removes a lock left by a crashed writer. Breakers serialise on a second lock and re-check the lock's inode
   * under it, so two breakers can never remove a fresh lock that a live writer took after the stale one was seen.
   */
  private async breakIfStale(lockPath: string): Promise<void> {
    const seen = await statQuietly(lockPath)
    if (!seen || !(await this.isStale(lockPath, seen))) return
    const breakPath = `${lockPath}.break`
    let breaker: FileHandle
    try {
      breaker = await open(breakPath, 'wx', 0o644)
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') return
      // A breaker that died inside this tiny window leaves the break lock behind; it is removed after twice the
      // stale age.
      const st = await statQuietly(breakPath)
      if (st && Date.now() - st.mtimeMs > 2 * this.staleLockMs) await unlinkQuietly(breakPath)
      return
    }
    try {
      const now = await statQuietly(lockPath)
      if (now && now.ino === seen.ino && now.mtimeMs === seen.mtimeMs) await unlinkQuietly(lockPath)
    } finally {
      await breaker.close()
      await unlinkQuietly(breakPath)
    }
  }

  private async isStale(lockPath: string, st: Stats): Promise<boolean> {
    const age = Date.now() - st.mtimeMs
    const text = await readFile(lockPath, 'utf8').catch(() => '')
    const [host, pidText] = text.trim().split(' ')
    const pid = Number(pidText)
    if (host !== this.host || !Number.isInteger(pid) || pid <= 0) return age > this.staleLockMs
    if (pid === process.pid) return age > LIVE_HOLDER_FACTOR * this.staleLockMs
    try {
      process.kill(pid, 0)
    } catch (err) {
      if (codeOf(err) === 'ESRCH') return true
    }
    // The holder is alive (or its pid was reused): breaking its lock could let two swaps through, so wait far
    // longer than any rename takes before assuming the pid belongs to someone else.
    return age > LIVE_HOLDER_FACTOR * this.staleLockMs
  }

  /** S3 has no empty folders; removing them keeps listPrefixes cheap and the tree tidy. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.length > this.root.length && dir.startsWith(this.root)) {
      try {
        await rmdir(dir)
      } catch {
        return // not empty (or already gone, or raced by a writer): stop
      }
      dir = dirOf(dir)
    }
  }

  private ioError(op: string, key: string, err: unknown): Error {
    if (err instanceof EverlogError) return err
    const code = codeOf(err)
    const where = `${key} in ${this.url}`
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new StoreAccessDeniedError(`cannot ${op} ${where}: permission denied (${code})`, { cause: err })
    }
    if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST') {
      return new InvalidArgumentError(
        `cannot ${op} ${where}: the key collides with another object or prefix (a file store cannot hold both "a" and "a/b")`,
        { cause: err },
      )
    }
    if (code === 'ENAMETOOLONG') {
      return new InvalidArgumentError(`cannot ${op} ${where}: the key is too long for the file system`, { cause: err })
    }
    return new StoreUnavailableError(`cannot ${op} ${where}: ${code ?? String(err)}`, { cause: err })
  }
}

function etagOf(st: BigIntStats): string {
  return `"${st.ino.toString(36)}-${st.mtimeNs.toString(36)}-${st.size.toString(36)}"`
}

function lockName(path: string): string {
  const base = basename(path)
  // Keep lock names within NAME_MAX for long keys.
  return LOCK + (base.length > 200 ? createHash('sha256').update(base).digest('hex') : base)
}

function dirOf(path: string): string {
  return dirname(path)
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

function isMissing(err: unknown): boolean {
  const code = codeOf(err)
  return code === 'ENOENT' || code === 'ENOTDIR'
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined)
}

async function statQuietly(path: string): Promise<Stats | undefined> {
  return stat(path).catch(() => undefined)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

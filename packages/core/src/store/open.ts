// Opens the object store a URL names: file:///abs/path, s3://bucket/prefix or memory://name.
import { isAbsolute, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { InvalidStoreUrlError } from '../errors.js'
import { validatePrefix } from './keys.js'
import { FileStore } from './file.js'
import type { FileStoreOptions } from './file.js'
import { MemoryStore } from './memory.js'
import { S3Store } from './s3.js'
import type { S3StoreOptions } from './s3.js'
import type { ObjectStore } from './types.js'

export const ACCEPTED_STORE_URLS = 'file:///abs/path, s3://bucket/prefix, memory://name'

export type StoreLocation =
  | { scheme: 'file'; path: string }
  | { scheme: 's3'; bucket: string; prefix: string }
  | { scheme: 'memory'; name: string }

export interface OpenStoreOptions {
  s3?: S3StoreOptions
  file?: FileStoreOptions
}

export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  const location = parseStoreUrl(url)
  switch (location.scheme) {
    case 'file':
      return new FileStore(location.path, options.file)
    case 's3':
      return new S3Store({ bucket: location.bucket, prefix: location.prefix }, options.s3)
    case 'memory':
      return new MemoryStore({ name: location.name })
  }
}

// Lowercase letters, digits, dots and hyphens, 3-63 characters (S3's rules; underscores for legacy buckets).
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/

export function parseStoreUrl(url: string): StoreLocation {
  if (typeof url !== 'string' || url.trim() === '') throw invalid(String(url), 'the store URL is empty')
  const shown = redact(url)
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    const hint = isAbsolute(url)
      ? `a path needs the file scheme: ${pathToFileURL(url).href}`
      : `relative paths are not accepted, use an absolute file URL such as ${pathToFileURL(resolve(url)).href}`
    throw invalid(shown, hint)
  }
  if (scheme === 'file') return parseFileUrl(url, shown)
  if (scheme === 's3') return parseS3Url(url, shown)
  if (scheme === 'memory') {
    if (!url.toLowerCase().startsWith('memory://')) throw invalid(shown, 'write memory://name or memory://')
    return { scheme: 'memory', name: url.slice('memory://'.length) }
  }
  throw invalid(shown, `unsupported scheme "${scheme}:"`)
}

function parseFileUrl(url: string, shown: string): StoreLocation {
  // file:relative and file://host/path both parse as URLs, but neither is a path on this machine we can trust.
  if (!/^file:\/\//i.test(url)) throw invalid(shown, 'file URLs start with file:// followed by an absolute path')
  const rest = url.slice('file://'.length)
  if (!rest.startsWith('/') && !rest.toLowerCase().startsWith('localhost/')) {
    const hint = rest.startsWith('.')
      ? `relative paths are not accepted, use an absolute path such as ${pathToFileURL(resolve(rest)).href}`
      : `"${rest.split('/')[0]}" reads as a host name; an absolute path needs three slashes: file:///${rest}`
    throw invalid(shown, hint)
  }
  let path: string
  try {
    path = fileURLToPath(url)
  } catch (err) {
    throw invalid(shown, (err as Error).message, err)
  }
  if (/[?#]/.test(url)) throw invalid(shown, 'file URLs take no query or fragment')
  // A trailing slash names the same directory.
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  return { scheme: 'file', path }
}

function parseS3Url(url: string, shown: string): StoreLocation {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url)
  if (!m) {
    throw invalid(
      shown,
      /[?#]/.test(url) ? 's3 URLs take no query or fragment' : 'write s3://bucket or s3://bucket/prefix',
    )
  }
  const bucket = m[1]!
  if (bucket.includes('@') || bucket.includes(':')) {
    throw invalid(shown, 'credentials and ports do not go into the URL: use the AWS environment or profile')
  }
  if (!BUCKET.test(bucket)) {
    throw invalid(shown, `"${bucket}" is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)`)
  }
  let prefix = (m[2] ?? '').replace(/^\//, '')
  try {
    prefix = decodeURIComponent(prefix)
  } catch (err) {
    throw invalid(shown, 'the prefix has a malformed %-escape', err)
  }
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/'
  try {
    validatePrefix(prefix)
  } catch (err) {
    throw invalid(shown, (err as Error).message, err)
  }
  return { scheme: 's3', bucket, prefix }
}

function invalid(shown: string, why: string, cause?: unknown): InvalidStoreUrlError {
  return new InvalidStoreUrlError(
    `invalid store URL ${JSON.stringify(shown)}: ${why}. Accepted forms: ${ACCEPTED_STORE_URLS}`,
    {
      cause,
    },
  )
}

/** Never echo credentials someone pasted into a URL. */
function redact(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/@]*@/, '$1***@')
}

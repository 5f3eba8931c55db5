// A reader's first question of an archive: can it be opened at all? A folder or bucket that does not exist is a
// wrong URL, not an empty archive, and must not be mistaken for one.
import { stat } from 'node:fs/promises'
import { ConfigError } from '../errors.js'
import { FileStore } from './file.js'
import type { ObjectStore } from './types.js'

/**
 * Throws ConfigError when the store's folder does not exist (file stores) and BucketNotFoundError when its bucket
 * does not exist (S3); other failures (unreachable endpoint, denied access) surface as the store raises them.
 */
export async function assertStoreReachable(store: ObjectStore): Promise<void> {
  if (store instanceof FileStore) {
    const info = await stat(store.root).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined
      throw e
    })
    if (!info?.isDirectory()) {
      throw new ConfigError(
        `the archive ${store.url} cannot be opened: the folder ${store.root} does not exist (check the store URL)`,
      )
    }
    return
  }
  // One listing proves the bucket exists and the credentials may read it.
  await store.listPrefixes('')
}

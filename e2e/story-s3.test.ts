// The whole story over S3 via HTTP (the project's own S3 server; e2e/story-s3-compat.test.ts runs it against
// third-party servers): see support/s3-story.ts.
import { test } from 'node:test'
import { s3Story } from './support/s3-story.js'
import { startStack } from './support/stack.js'

test('produce -> archive to S3 -> retention -> live -> ArchiveConsumer from 0 -> SQL, every byte checked', async (t) => {
  const stack = await startStack(t, 'story-archive')
  await s3Story(t, stack)
})

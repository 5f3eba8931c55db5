#!/usr/bin/env node
// The `everlog` executable, committed so npm can link it (and mark it executable) before the build has run. It
// loads the built CLI; a checkout that has not been built yet says how to build it.
import { existsSync } from 'node:fs'

const built = new URL('../dist/bin.js', import.meta.url)
if (!existsSync(built)) {
  process.stderr.write('everlog: the CLI is not built yet; run `npm run build` in the repository first\n')
  process.exit(2)
}
await import(built.href)

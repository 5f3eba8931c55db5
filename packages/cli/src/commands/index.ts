// The CLI's commands, in the order `everlog --help` lists them. Add a command by adding its module here.
import type { CommandModule } from '../program.js'
import { catCommand } from './cat.js'
import { lsCommand } from './ls.js'
import { verifyCommand } from './verify.js'
import { gcCommand } from './gc.js'
import { queryCommand } from './query.js'
import { athenaCommand } from './athena.js'
import { icebergCommand } from './iceberg.js'
import { archiveCommand } from './archive.js'
import { devBrokerCommand } from './dev-broker.js'
import { demoCommand } from './demo.js'
import { produceSampleCommand } from './produce-sample.js'
import { restoreCommand } from './restore.js'
import { offsetsCommand } from './offsets.js'
import { backupGroupsCommand, restoreGroupsCommand } from './restore-groups.js'

export const builtinCommands: readonly CommandModule[] = [
  lsCommand,
  catCommand,
  verifyCommand,
  gcCommand,
  queryCommand,
  athenaCommand,
  icebergCommand,
  archiveCommand,
  devBrokerCommand,
  restoreCommand,
  offsetsCommand,
  backupGroupsCommand,
  restoreGroupsCommand,
  demoCommand,
  produceSampleCommand,
]

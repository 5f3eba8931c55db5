// `everlog gc`: segments and index nodes that no HEAD reaches, older than a grace period; a dry run unless --apply.
import { DEFAULT_GC_GRACE_MS, collectGarbage, listTopics, readDescriptor } from '@everlog/core'
import type { GcObject, GcResult } from '@everlog/core'
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import { formatBytes } from '../format.js'
import type { CliCommand, CommandModule } from '../program.js'

interface GcFlags {
  store?: string
  topic?: string
  grace: string
  apply?: boolean
  json?: boolean
}

const HELP = `
What is collected: segments under <topic>/data/ and index nodes under <topic>/index/partition=<p>/nodes/ that no
HEAD reaches: leftovers of a crash between a segment's upload and its commit, a fenced writer's segments, index
nodes replaced by later commits. Athena reads data/ directly, so such segments are duplicate rows until removed.
Also offset-map chunks of a restore (<to-topic>/offset-map/) that their partition's manifest does not list.
HEAD, everlog.json, topic.json, offset-map manifests and anything else are never touched. gc stops without deleting when
the archive has a broken or unreadable object (see everlog verify).

Objects written less than --grace ago are kept: a commit may be in flight. A reader that read HEAD longer ago than
--grace may find index nodes replaced since then gone, and has to read HEAD again.

Examples:
  $ everlog gc --store s3://my-bucket/archive            # dry run: what would go
  $ everlog gc --store s3://my-bucket/archive --apply    # delete it
  $ everlog gc --store file:///var/lib/everlog --topic orders --grace 6h --apply
`

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }

export function parseGrace(value: string): number {
  const m = DURATION.exec(value)
  if (!m) throw new UsageError(`--grace must be a duration such as 90m, 1h or 2d, got "${value}"`)
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!)
}

export const gcCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    program
      .command('gc')
      .description('list (or with --apply delete) segments and index nodes that no HEAD references')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
      .option('--topic <topic>', 'only this topic')
      .option('--grace <duration>', 'keep objects younger than this (a commit may be in flight)', '1h')
      .option('--apply', 'delete what was found (default: a dry run that only lists it)')
      .option('--json', 'print the result as JSON')
      .on('--help', () => context.stdout.write(HELP))
      .action(async (flags: GcFlags) => {
        const graceMs = parseGrace(flags.grace)
        if (graceMs < DEFAULT_GC_GRACE_MS / 60) {
          throw new UsageError(`--grace ${flags.grace} is shorter than a minute: a commit in flight could lose objects`)
        }
        const store = context.openStore(flags.store)
        let result: GcResult
        try {
          if (flags.topic === undefined && (await listTopics(store)).length === 0 && !(await readDescriptor(store))) {
            throw new UsageError(`${store.url} is not an Everlog archive (no everlog.json and no topics)`)
          }
          const progress = progressLine(context, flags.apply === true)
          result = await collectGarbage(store, {
            topic: flags.topic,
            graceMs,
            apply: flags.apply === true,
            onObject: progress,
          })
        } finally {
          await store.close()
        }
        await report(result, flags, context)
      })
  },
}

/** A line on stderr every second at most while objects are found or deleted, so a long run is never silent. */
function progressLine(context: CliContext, apply: boolean): (object: GcObject, deleted: boolean) => void {
  let last = Date.now()
  const seen = { found: 0, deleted: 0, bytes: 0 }
  return (object, deleted) => {
    if (deleted) seen.deleted++
    else {
      seen.found++
      seen.bytes += object.size
    }
    const now = Date.now()
    if (now - last < 1000) return
    last = now
    context.stderr.write(
      apply
        ? `everlog: gc: ${seen.found} unreferenced objects found (${formatBytes(seen.bytes)}), ${seen.deleted} deleted\n`
        : `everlog: gc: ${seen.found} unreferenced objects found (${formatBytes(seen.bytes)})\n`,
    )
  }
}

async function report(result: GcResult, flags: GcFlags, context: CliContext): Promise<void> {
  if (flags.json) {
    await write(context.stdout, JSON.stringify(result, null, 2) + '\n')
    return
  }
  let text = ''
  for (const o of result.objects) {
    text += `${result.applied ? 'deleted' : 'would delete'} ${o.key} (${o.kind}, ${formatBytes(o.size)}, written ${o.lastModified.toISOString()})\n`
  }
  await write(context.stdout, text)
  const c = result.collectable
  const young = result.young.objects > 0 ? `; ${result.young.objects} younger than --grace kept` : ''
  context.stderr.write(
    result.applied
      ? `everlog: gc deleted ${result.deleted.objects} unreferenced objects, ${formatBytes(result.deleted.bytes)}${young}\n`
      : `everlog: gc dry run: ${c.objects} unreferenced objects, ${formatBytes(c.bytes)}, would be deleted ` +
          `(run again with --apply)${young}\n`,
  )
}

// `everlog verify`: re-hash every object from HEAD down and check every aggregate against the data it describes.
import { listTopics, readDescriptor, verifyArchive } from '@everlog/core'
import type { VerifyProgress, VerifyResult } from '@everlog/core'
import type { CliContext } from '../context.js'
import { ExitCode, UsageError, write } from '../context.js'
import { formatBytes } from '../format.js'
import type { CliCommand, CommandModule } from '../program.js'

interface VerifyOptions {
  store?: string
  topic?: string
  json?: boolean
  deep?: boolean
}

const HELP = `
Reads every HEAD, index node and segment, checks each object's sha256 against its key, decodes it, and checks
offsets, record counts, sizes and timestamps against what references it. Exit code 0: the archive is sound;
1: something is broken (each broken object is listed, the first one also on stderr); 2: verify could not run.
Segments and index nodes that no HEAD reaches are counted as unreferenced, which is not a failure: \`everlog gc\`
removes them.

--deep also decodes every page of every segment with strict decoders and checks every page CRC, so a segment that
some engine cannot read (such as an LZ4 page that breaks the block format's end-of-block rules, which DuckDB,
pyarrow and polars reject) fails, naming the object, row group and column.

Examples:
  $ everlog verify --store file:///var/lib/everlog
  $ everlog verify --store s3://my-bucket/archive --topic orders --json
  $ everlog verify --store file:///var/lib/everlog --deep
`

/** Progress lines appear only when a run takes longer than this, so short runs stay quiet. */
const PROGRESS_AFTER_MS = 2000

export const verifyCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    program
      .command('verify')
      .description('check the integrity of an archive (hashes, index, segments, HEADs)')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
      .option('--topic <topic>', 'only this topic')
      .option('--json', 'print the full result as JSON')
      .option('--deep', 'also decode every page with strict decoders, as other engines do')
      .addHelpText('after', HELP)
      .action(async (options: VerifyOptions) => {
        const store = context.openStore(options.store)
        let result: VerifyResult
        try {
          if (options.topic === undefined && (await listTopics(store)).length === 0 && !(await readDescriptor(store))) {
            throw new UsageError(`${store.url} is not an Everlog archive (no everlog.json and no topics)`)
          }
          result = await verifyArchive(store, {
            topic: options.topic,
            deep: options.deep === true,
            onProgress: progressReporter(context),
          })
        } finally {
          await store.close()
        }
        await report(result, options, context)
        if (!result.ok) throw new ExitCode(1)
      })
  },
}

function progressReporter(context: CliContext): (p: VerifyProgress) => void {
  const started = Date.now()
  let last = started
  return (p) => {
    const now = Date.now()
    if (now - started < PROGRESS_AFTER_MS || now - last < 1000) return
    last = now
    context.stderr.write(
      `everlog: verifying ${p.topic}/${p.partition}: ${p.segments} segments, ${p.records} records, ` +
        `${formatBytes(p.bytes)} checked\n`,
    )
  }
}

async function report(result: VerifyResult, options: VerifyOptions, context: CliContext): Promise<void> {
  if (options.json) {
    await write(context.stdout, JSON.stringify(result, null, 2) + '\n')
  } else {
    const c = result.checked
    const summary =
      `${c.topics} topics, ${c.partitions} partitions, ${c.nodes} index nodes, ${c.segments} segments, ` +
      `${c.gaps} gaps, ${c.records} records, ${formatBytes(c.bytes)}`
    let text = result.ok
      ? `ok: ${summary} verified\n`
      : `BROKEN: ${result.problems.length} problems (checked ${summary})\n`
    const u = result.unreferenced
    if (u && u.objects > 0) {
      text += `unreferenced: ${u.objects} objects, ${formatBytes(u.bytes)} that no HEAD reaches (not a problem; everlog gc removes them)\n`
    }
    for (const p of result.problems) text += `${p.key}: ${p.message}\n`
    await write(context.stdout, text)
  }
  if (!result.ok) {
    const first = result.problems[0]!
    context.stderr.write(`everlog: archive is broken; first broken object: ${first.key}: ${first.message}\n`)
  }
}

// `everlog ls`: what the archive holds, per topic and partition, from the HEADs alone (no segment is read).
import { describeTopic, listTopics, readDescriptor, validateTopicName } from '@everlog/core'
import type { Head, ObjectStore, TopicDescription } from '@everlog/core'
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import { formatBytes, table } from '../format.js'
import type { CliCommand, CommandModule } from '../program.js'

interface LsOptions {
  store?: string
  topic?: string
  json?: boolean
}

const HELP = `
Examples:
  $ everlog ls --store file:///var/lib/everlog
  $ everlog ls --store s3://my-bucket/archive --topic orders --json

OFFSETS is first..last archived offset (the archive resumes at last+1); GAPS counts offset ranges Kafka deleted
before they could be archived.
`

export const lsCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    program
      .command('ls')
      .description('list archived topics and partitions with their offsets, records, bytes, segments and gaps')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
      .option('--topic <topic>', 'only this topic')
      .option('--json', 'print JSON instead of a table')
      .addHelpText('after', HELP)
      .action(async (options: LsOptions) => {
        const store = context.openStore(options.store)
        try {
          await ls(store, options, context)
        } finally {
          await store.close()
        }
      })
  },
}

async function ls(store: ObjectStore, options: LsOptions, context: CliContext): Promise<void> {
  let topics: string[]
  if (options.topic !== undefined) {
    topics = [validateTopicName(options.topic)]
  } else {
    topics = await listTopics(store)
    if (topics.length === 0 && !(await readDescriptor(store))) {
      throw new UsageError(`${store.url} is not an Everlog archive (no everlog.json and no topics)`)
    }
  }
  const described: TopicDescription[] = []
  for (const topic of topics) described.push(await describeTopic(store, topic))

  if (options.json) {
    const rows = described.flatMap((t) => t.partitions.map((p) => jsonRow(t.topic, p.partition, p.head)))
    await write(context.stdout, JSON.stringify(rows, null, 2) + '\n')
    return
  }
  if (described.length === 0) {
    context.stderr.write(`everlog: no topics archived yet in ${store.url}\n`)
    return
  }
  const rows = described.flatMap((t) =>
    t.partitions.map(({ partition, head }) => [
      t.topic,
      String(partition),
      head?.firstOffset != null ? `${head.firstOffset}..${head.nextOffset - 1n}` : '-',
      String(head?.records ?? 0),
      formatBytes(head?.bytes ?? 0),
      String(head?.segments ?? 0),
      String(head?.gaps ?? 0),
    ]),
  )
  const header = ['TOPIC', 'PARTITION', 'OFFSETS', 'RECORDS', 'BYTES', 'SEGMENTS', 'GAPS']
  await write(context.stdout, table(header, rows, new Set([1, 3, 4, 5, 6])))
}

const str = (v: bigint | null | undefined) => (v === null || v === undefined ? null : v.toString())

function jsonRow(topic: string, partition: number, head: Head | undefined) {
  return {
    topic,
    partition,
    firstOffset: str(head?.firstOffset),
    nextOffset: str(head?.nextOffset ?? 0n),
    records: head?.records ?? 0,
    bytes: head?.bytes ?? 0,
    segments: head?.segments ?? 0,
    gaps: head?.gaps ?? 0,
    minTimestamp: str(head?.minTimestamp),
    maxTimestamp: str(head?.maxTimestamp),
    writer: head?.writer ?? null,
  }
}

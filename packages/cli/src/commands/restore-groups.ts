// `everlog backup-groups` and `everlog restore-groups`: consumer-group offsets into the archive, and back onto a
// cluster translated through a restore's offset map, so consumers resume at the same records.
import type { CliContext } from '../context.js'
import { UsageError, write } from '../context.js'
import { table } from '../format.js'
import type { CliCommand, CommandModule } from '../program.js'
import { checkConditionalWrites, checkKafkaProtocol, snapshotGroupOffsets } from '@everlog/core'
import { restoreGroupOffsets } from '../restore/group-offsets.js'
import { conditionalWritesMode, parseList, parseTimeFlag, unfencedNotice } from '../restore/options.js'
import { addKafkaOptions, kafkaClient } from '../kafka-options.js'
import type { KafkaFlags } from '../kafka-options.js'

interface BackupFlags extends KafkaFlags {
  store?: string
  groups?: string
  topics?: string
  json?: boolean
  unsafeSingleWriter?: boolean
}

interface RestoreGroupsFlags extends KafkaFlags {
  store?: string
  groups?: string
  topic?: string
  toTopic?: string
  at?: string
  dryRun?: boolean
  json?: boolean
}

const BACKUP_HELP = `
Fetches the committed offsets of each group and stores them in the archive as JSON, one object per group and
topic: <topic>/groups/group=<id>/<UTC time>.json. Run it on a schedule (or before deleting a topic) so that
\`everlog restore-groups\` can later move the groups to a restored topic.

Example:
  $ everlog backup-groups --store s3://bucket/archive --brokers kafka:9092 --groups billing,search
`

const RESTORE_HELP = `
Reads each group's newest offset snapshot (or the newest at or before --at), translates every partition's offset
through the offset map that \`everlog restore\` wrote, and commits the results for the group on --brokers.
Kafka only accepts this for groups without running consumers: stop them first. Offsets that were compacted away
move to the next restored record; offsets past what was restored move to the end of the restored records.

Examples:
  $ everlog restore-groups --store s3://bucket/archive --brokers kafka:9092 --groups billing --topic orders
  $ everlog restore-groups --store file:///var/lib/everlog --brokers localhost:9092 --groups billing,search \\
      --topic orders --to-topic orders-restored --dry-run
`

export const backupGroupsCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    const command = program
      .command('backup-groups')
      .description("snapshot consumer groups' committed offsets into the archive")
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
    addKafkaOptions(command)
      .option('--groups <list>', 'consumer groups, comma-separated (required)')
      .option('--topics <list>', 'only these topics (default: every topic the group committed offsets for)')
      .option('--json', 'print what was written as JSON')
      .option('--unsafe-single-writer', 'write even on a store that does not honour conditional writes')
      .addHelpText('after', BACKUP_HELP)
      .action(async (flags: BackupFlags) => {
        const groups = parseList('--groups', flags.groups)
        if (groups === undefined) throw new UsageError('backup-groups needs --groups g1[,g2]')
        const topics = parseList('--topics', flags.topics)
        const client = await kafkaClient(flags, context, 'everlog-backup-groups')
        const store = context.openStore(flags.store)
        const admin = client.kafka.admin()
        try {
          const fencing = await checkConditionalWrites(store, conditionalWritesMode(flags.unsafeSingleWriter, context))
          if (!fencing.fenced) context.stderr.write(`everlog: ${unfencedNotice(fencing)}\n`)
          const written = await client.run(
            async () => {
              await admin.connect()
              await checkKafkaProtocol(
                client.kafka,
                ['Metadata', 'FindCoordinator', 'OffsetFetch', 'DescribeGroups'],
                'everlog backup-groups (kafkajs 2.2.4)',
              )
              if (topics) {
                const existing = new Set(await admin.listTopics())
                const missing = topics.filter((t) => !existing.has(t))
                if (missing.length > 0) {
                  throw new UsageError(
                    `--topics: ${missing.map((t) => `"${t}"`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not a topic of the cluster`,
                  )
                }
              }
              return await snapshotGroupOffsets(admin, store, { groups, topics })
            },
            { groups, ...(topics ? { topics } : {}) },
          )
          if (flags.json) await write(context.stdout, JSON.stringify(written) + '\n')
          else if (written.length === 0) {
            await write(context.stdout, `no committed offsets for ${groups.join(', ')}: nothing written\n`)
          } else {
            const rows = written.map((w) => [w.group, w.topic, String(w.partitions), w.key])
            await write(context.stdout, table(['GROUP', 'TOPIC', 'PARTITIONS', 'SNAPSHOT'], rows, new Set([2])))
          }
        } finally {
          await admin.disconnect()
          await store.close()
        }
      })
  },
}

export const restoreGroupsCommand: CommandModule = {
  register(program: CliCommand, context: CliContext) {
    const command = program
      .command('restore-groups')
      .description('set consumer group offsets on a restored topic, translated through the offset map')
      .option('--store <url>', 'the archive: file:///abs/path, s3://bucket/prefix (default: $EVERLOG_STORE)')
    addKafkaOptions(command)
      .option('--groups <list>', 'consumer groups, comma-separated (required)')
      .option('--topic <topic>', 'source topic of the snapshots (default: every topic restored under its own name)')
      .option('--to-topic <topic>', 'the restored topic (default: --topic)')
      .option('--at <time>', 'use the newest snapshot taken at or before this ISO 8601 time or epoch ms')
      .option('--dry-run', 'print the translated offsets, set nothing')
      .option('--json', 'print the result as JSON')
      .addHelpText('after', RESTORE_HELP)
      .action(async (flags: RestoreGroupsFlags) => {
        const groups = parseList('--groups', flags.groups)
        if (groups === undefined) throw new UsageError('restore-groups needs --groups g1[,g2]')
        const at = parseTimeFlag('--at', flags.at)
        const client = await kafkaClient(flags, context, 'everlog-restore-groups')
        const store = context.openStore(flags.store)
        const admin = client.kafka.admin()
        const target = flags.toTopic ?? flags.topic
        try {
          const restored = await client.run(
            async () => {
              await admin.connect()
              await checkKafkaProtocol(
                client.kafka,
                ['Metadata', 'FindCoordinator', 'OffsetFetch', 'OffsetCommit', 'DescribeGroups', 'ListOffsets'],
                'everlog restore-groups (kafkajs 2.2.4)',
              )
              return await restoreGroupOffsets(admin, store, {
                groups,
                topic: flags.topic,
                toTopic: flags.toTopic,
                at: at === undefined ? undefined : Number(at),
                dryRun: flags.dryRun === true,
              })
            },
            { groups, ...(target !== undefined ? { topics: [target] } : {}) },
          )
          if (flags.json) {
            await write(
              context.stdout,
              JSON.stringify(restored, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
            )
            return
          }
          const rows = restored.flatMap((g) =>
            g.offsets.map((o) => [
              g.group,
              `${g.sourceTopic}/${o.partition}`,
              String(o.sourceOffset),
              `${g.targetTopic}/${o.partition}`,
              String(o.targetOffset),
              o.status,
            ]),
          )
          let text = table(['GROUP', 'SOURCE', 'OFFSET', 'TARGET', 'OFFSET', 'STATUS'], rows, new Set([2, 4]))
          if (flags.dryRun) text += 'dry run: no offsets were set\n'
          await write(context.stdout, text)
        } finally {
          await admin.disconnect()
          await store.close()
        }
      })
  },
}

// `everlog archive`: the archiver daemon. Kafka topics (a list or /regex/) into an Everlog archive, exactly once,
// until SIGTERM/SIGINT (then flush and commit) or, with --once, up to the high watermarks seen at start.
import type { Command } from 'commander'
import { ConfigError } from '@everlog/core'
import { loadConfig, runDaemon } from '@everlog/archiver'
import type { CliContext } from '../context.js'
import { ExitCode } from '../context.js'
import type { CommandModule } from '../program.js'
import { addKafkaOptions, kafkaOverrides } from '../kafka-options.js'
import type { KafkaFlags } from '../kafka-options.js'

interface ArchiveOptions extends KafkaFlags {
  topics?: string
  store?: string
  group?: string
  config?: string
  once?: boolean
  startFrom?: string
  onDataLoss?: string
  httpPort?: string
  logLevel?: string
  segmentMaxBytes?: string
  segmentMaxRecords?: string
  segmentMaxAge?: string
  compression?: string
  maxBufferedBytes?: string
  backupGroups?: string
  unsafeSingleWriter?: boolean
  iceberg?: boolean
}

const HELP = `
Settings come from --config FILE (YAML or JSON), then EVERLOG_* variables, then flags (flags win). Every field of
the file has an env name: nesting by double underscore, e.g. EVERLOG_BROKERS, EVERLOG_SEGMENT__MAX_BYTES=64MiB,
EVERLOG_KAFKA__SASL__PASSWORD. Pass secrets by file (--sasl-password-file, kafka.sasl.passwordFile) or env, never by
flag (flags show up in process listings). restore, backup-groups, restore-groups and produce-sample take the same
Kafka flags, variables and file sections (--kafka-config FILE).

Before its first write the archiver proves the store refuses a second create-if-absent and a stale replace-if-match
(HEAD fencing needs both) and stops if it does not; --unsafe-single-writer (EVERLOG_CONDITIONAL_WRITES=
unsafe-single-writer) starts anyway, which is only correct with exactly one archiver per archive.

Metrics: http://HOST:9464/metrics (Prometheus), /healthz, /readyz. Logs: JSON lines on stdout.
Exit codes: 0 stopped cleanly (signal, or --once done), 1 the archiver failed, 2 invalid configuration.

Examples:
  $ everlog archive --brokers kafka:9092 --topics orders,payments --store s3://bucket/archive
  $ everlog archive --brokers kafka:9092 --topics '/^orders\\..*/' --store file:///var/lib/everlog --once
  $ EVERLOG_KAFKA__SASL__PASSWORD=... everlog archive --config archiver.yaml
  $ everlog archive --brokers b-1.demo.abc123.c2.kafka.us-east-1.amazonaws.com:9098 --sasl-mechanism aws-msk-iam \\
      --topics orders --store s3://bucket/archive
  $ everlog archive --brokers kafka:9093 --ssl-ca-file ca.pem --ssl-cert-file client.pem --ssl-key-file client.key \\
      --topics orders --store s3://bucket/archive
`

/** Flags as a partial configuration: only the ones given, so file and env keep their say for the rest. */
export function archiveOverrides(o: ArchiveOptions): Record<string, unknown> {
  const out: Record<string, unknown> = kafkaOverrides(o)
  const set = (path: string[], v: unknown) => {
    if (v === undefined) return
    let t = out
    for (const p of path.slice(0, -1)) t = (t[p] ??= {}) as Record<string, unknown>
    t[path[path.length - 1]!] = v
  }
  set(['topics'], o.topics)
  set(['store'], o.store)
  set(['group'], o.group)
  set(['once'], o.once)
  set(['startFrom'], o.startFrom)
  set(['onDataLoss'], o.onDataLoss)
  set(['http', 'port'], o.httpPort)
  set(['logLevel'], o.logLevel)
  set(['segment', 'maxBytes'], o.segmentMaxBytes)
  set(['segment', 'maxRecords'], o.segmentMaxRecords)
  set(['segment', 'maxAgeMs'], o.segmentMaxAge)
  set(['segment', 'compression'], o.compression)
  set(['maxBufferedBytes'], o.maxBufferedBytes)
  set(['groupOffsets', 'groups'], o.backupGroups)
  if (o.unsafeSingleWriter) set(['conditionalWrites'], 'unsafe-single-writer')
  set(['iceberg', 'publish'], o.iceberg)
  return out
}

export const archiveCommand: CommandModule = {
  register(program: Command, context: CliContext) {
    const command = program
      .command('archive')
      .description('run the archiver: Kafka topics into object storage, exactly once')
    addKafkaOptions(command, false)
      .option('--topics <list|/regex/>', 'topics to archive: a comma-separated list or one /regular expression/')
      .option('--store <url>', 'the archive: file:///abs/path or s3://bucket/prefix')
      .option('--group <name>', 'Kafka consumer group shared by archiver processes (default everlog-archiver)')
      .option('--config <file>', 'a YAML or JSON file with any of the settings')
      .option('--once', 'archive up to the high watermarks seen at start, flush, commit and exit')
      .option('--start-from <earliest|latest>', 'where a partition with nothing archived yet starts')
      .option('--on-data-loss <continue|fail>', 'after a retention overrun is recorded as a gap: go on or stop')
      .option('--http-port <port>', 'port of /metrics, /healthz and /readyz (default 9464; 0 picks one)')
      .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
      .option('--segment-max-bytes <size>', 'roll a segment at this many raw bytes (e.g. 64MiB)')
      .option('--segment-max-records <n>', 'roll a segment at this many records')
      .option('--segment-max-age <duration>', 'roll a segment this long after its first record (e.g. 5m)')
      .option(
        '--compression <codec>',
        'segment compression: zstd (default), snappy, gzip, lz4 or none; Trino and Athena cannot read lz4 (README: Segment compression)',
      )
      .option('--max-buffered-bytes <size>', 'memory bound for records buffered or uploading (e.g. 256MiB)')
      .option(
        '--backup-groups <list>',
        "also archive these consumer groups' committed offsets every minute (for restore-groups)",
      )
      .option(
        '--unsafe-single-writer',
        'start even on a store that does not honour conditional writes (no fencing: run exactly one archiver)',
      )
      .option('--iceberg', "also publish each topic's Iceberg table every minute (EVERLOG_ICEBERG__* for more)")
      .addHelpText('after', HELP)
      .action(async (options: ArchiveOptions) => {
        let config
        try {
          config = loadConfig({
            ...(options.config !== undefined ? { file: options.config } : {}),
            env: context.env,
            overrides: archiveOverrides(options),
          })
        } catch (err) {
          // The whole list of bad fields, not only the first line.
          if (err instanceof ConfigError) {
            context.stderr.write(`everlog archive: ${err.message}\n`)
            throw new ExitCode(2)
          }
          throw err
        }
        // Until --once is done or SIGTERM/SIGINT (flush, commit, exit 0); a second signal exits at once.
        const code = await runDaemon(config, { logStream: context.stdout, stderr: context.stderr })
        if (code !== 0) throw new ExitCode(code)
      })
  },
}

// `everlog archive`: the archiver daemon. Kafka topics (a list or /regex/) into an Everlog archive, exactly once,
// until SIGTERM/SIGINT (then flush and commit) or, with --once, up to the high watermarks seen at start.
import type { Command } from 'commander'
import { ConfigError } from '@everlog/core'
import { loadConfig, runDaemon } from '@everlog/archiver'
import type { CliContext } from '../context.js'
import { ExitCode } from '../context.js'
import type { CommandModule } from '../program.js'

interface ArchiveOptions {
  brokers?: string
  topics?: string
  store?: string
  group?: string
  config?: string
  once?: boolean
  startFrom?: string
  onDataLoss?: string
  httpPort?: string
  clientId?: string
  logLevel?: string
  segmentMaxBytes?: string
  segmentMaxRecords?: string
  segmentMaxAge?: string
  compression?: string
  maxBufferedBytes?: string
  ssl?: boolean
  saslMechanism?: string
  saslUsername?: string
  backupGroups?: string
}

const HELP = `
Settings come from --config FILE (YAML or JSON), then EVERLOG_* variables, then flags (flags win). Every field of
the file has an env name: nesting by double underscore, e.g. EVERLOG_BROKERS, EVERLOG_SEGMENT__MAX_BYTES=64MiB,
EVERLOG_KAFKA__SASL__PASSWORD. Pass secrets by env or file, not by flag (flags show up in process listings).

Metrics: http://HOST:9464/metrics (Prometheus), /healthz, /readyz. Logs: JSON lines on stdout.
Exit codes: 0 stopped cleanly (signal, or --once done), 1 the archiver failed, 2 invalid configuration.

Examples:
  $ everlog archive --brokers kafka:9092 --topics orders,payments --store s3://bucket/archive
  $ everlog archive --brokers kafka:9092 --topics '/^orders\\..*/' --store file:///var/lib/everlog --once
  $ EVERLOG_KAFKA__SASL__PASSWORD=... everlog archive --config archiver.yaml
`

/** Flags as a partial configuration: only the ones given, so file and env keep their say for the rest. */
export function archiveOverrides(o: ArchiveOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const set = (path: string[], v: unknown) => {
    if (v === undefined) return
    let t = out
    for (const p of path.slice(0, -1)) t = (t[p] ??= {}) as Record<string, unknown>
    t[path[path.length - 1]!] = v
  }
  set(['brokers'], o.brokers)
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
  set(['kafka', 'clientId'], o.clientId)
  set(['kafka', 'ssl'], o.ssl)
  set(['kafka', 'sasl', 'mechanism'], o.saslMechanism)
  set(['kafka', 'sasl', 'username'], o.saslUsername)
  set(['groupOffsets', 'groups'], o.backupGroups)
  return out
}

export const archiveCommand: CommandModule = {
  register(program: Command, context: CliContext) {
    program
      .command('archive')
      .description('run the archiver: Kafka topics into object storage, exactly once')
      .option('--brokers <list>', 'Kafka bootstrap brokers, host:port[,host:port]')
      .option('--topics <list|/regex/>', 'topics to archive: a comma-separated list or one /regular expression/')
      .option('--store <url>', 'the archive: file:///abs/path or s3://bucket/prefix')
      .option('--group <name>', 'Kafka consumer group shared by archiver processes (default everlog-archiver)')
      .option('--config <file>', 'a YAML or JSON file with any of the settings')
      .option('--once', 'archive up to the high watermarks seen at start, flush, commit and exit')
      .option('--start-from <earliest|latest>', 'where a partition with nothing archived yet starts')
      .option('--on-data-loss <continue|fail>', 'after a retention overrun is recorded as a gap: go on or stop')
      .option('--http-port <port>', 'port of /metrics, /healthz and /readyz (default 9464; 0 picks one)')
      .option('--client-id <id>', 'Kafka client id')
      .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
      .option('--segment-max-bytes <size>', 'roll a segment at this many raw bytes (e.g. 64MiB)')
      .option('--segment-max-records <n>', 'roll a segment at this many records')
      .option('--segment-max-age <duration>', 'roll a segment this long after its first record (e.g. 5m)')
      .option('--compression <codec>', 'segment compression: zstd, snappy, gzip, lz4 or none')
      .option('--max-buffered-bytes <size>', 'memory bound for records buffered or uploading (e.g. 256MiB)')
      .option('--ssl', 'connect to Kafka over TLS')
      .option('--sasl-mechanism <mechanism>', 'plain, scram-sha-256 or scram-sha-512')
      .option(
        '--backup-groups <list>',
        "also archive these consumer groups' committed offsets every minute (for restore-groups)",
      )
      .option('--sasl-username <name>', 'SASL user (the password comes from EVERLOG_KAFKA__SASL__PASSWORD or --config)')
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

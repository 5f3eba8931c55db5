// Prometheus metrics of one Archiver, in a private registry so several archivers (tests, embedding) never collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export type ErrorKind = 'store' | 'kafka' | 'fenced' | 'data_loss' | 'config' | 'internal' | 'topic_recreated'

export class ArchiverMetrics {
  readonly registry = new Registry()
  readonly recordsArchived: Counter<'topic'>
  readonly bytesArchived: Counter<'topic'>
  readonly segmentBytes: Counter<'topic'>
  readonly segmentsCommitted: Counter<'topic' | 'reason'>
  readonly gapsCommitted: Counter<'topic'>
  readonly lag: Gauge<'topic' | 'partition'>
  readonly freshness: Gauge<'topic' | 'partition'>
  readonly retentionHeadroom: Gauge<'topic' | 'partition'>
  readonly uploadSeconds: Histogram<'topic'>
  readonly errors: Counter<'kind'>
  readonly retries: Counter<'kind'>
  readonly fencedPartitions: Gauge
  readonly recreatedTopics: Gauge
  readonly dataLossOffsets: Counter<'topic' | 'partition'>
  readonly bufferedBytes: Gauge
  readonly assignedPartitions: Gauge
  readonly groupSnapshots: Counter
  readonly conditionalWrites: Gauge<'mode'>
  readonly icebergPublishes: Counter<'topic' | 'result'>

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry]
    const p = 'everlog_archiver_'
    this.recordsArchived = new Counter({
      name: `${p}records_total`,
      help: 'Records committed to the archive (HEAD advanced over them).',
      labelNames: ['topic'],
      registers,
    })
    this.bytesArchived = new Counter({
      name: `${p}record_bytes_total`,
      help: 'Raw record bytes (key + value + headers) committed to the archive.',
      labelNames: ['topic'],
      registers,
    })
    this.segmentBytes = new Counter({
      name: `${p}segment_bytes_total`,
      help: 'Bytes of segment objects written (compressed Parquet).',
      labelNames: ['topic'],
      registers,
    })
    this.segmentsCommitted = new Counter({
      name: `${p}segments_total`,
      help: 'Segments committed, by what rolled them (size, records, age, flush, gap).',
      labelNames: ['topic', 'reason'],
      registers,
    })
    this.gapsCommitted = new Counter({
      name: `${p}gaps_total`,
      help: 'Gap entries committed: offsets Kafka deleted before they were archived.',
      labelNames: ['topic'],
      registers,
    })
    this.lag = new Gauge({
      name: `${p}lag_records`,
      help: 'Offsets between the archive (HEAD nextOffset) and the high watermark last seen.',
      labelNames: ['topic', 'partition'],
      registers,
    })
    this.freshness = new Gauge({
      name: `${p}freshness_seconds`,
      help: 'How far the archive trails Kafka in time: 0 when caught up, else now minus the newest archived timestamp.',
      labelNames: ['topic', 'partition'],
      registers,
    })
    this.retentionHeadroom = new Gauge({
      name: `${p}retention_headroom_seconds`,
      help: 'Seconds until Kafka may delete the oldest record not yet archived (retention.ms from the topic config).',
      labelNames: ['topic', 'partition'],
      registers,
    })
    this.uploadSeconds = new Histogram({
      name: `${p}upload_seconds`,
      help: 'Time to encode, upload and commit one segment (segment, index nodes, HEAD).',
      labelNames: ['topic'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    })
    this.errors = new Counter({
      name: `${p}errors_total`,
      help: 'Errors by kind (store, kafka, fenced, data_loss, config, internal, topic_recreated).',
      labelNames: ['kind'],
      registers,
    })
    this.retries = new Counter({
      name: `${p}retries_total`,
      help: 'Operations retried after a retriable error, by kind.',
      labelNames: ['kind'],
      registers,
    })
    this.fencedPartitions = new Gauge({
      name: `${p}fenced_partitions`,
      help: 'Partitions this archiver stopped writing because another writer advanced their HEAD.',
      registers,
    })
    this.recreatedTopics = new Gauge({
      name: `${p}recreated_topics`,
      help: 'Topics no longer archived because Kafka deleted and created them again under the archived name.',
      registers,
    })
    this.dataLossOffsets = new Counter({
      name: `${p}data_loss_offsets_total`,
      help: 'Offsets Kafka deleted before they were archived (retention overrun), recorded as gaps.',
      labelNames: ['topic', 'partition'],
      registers,
    })
    this.bufferedBytes = new Gauge({
      name: `${p}buffered_bytes`,
      help: 'Bytes buffered or uploading across all partitions (bounded by maxBufferedBytes).',
      registers,
    })
    this.assignedPartitions = new Gauge({
      name: `${p}assigned_partitions`,
      help: 'Partitions assigned to this archiver by the consumer group.',
      registers,
    })
    this.groupSnapshots = new Counter({
      name: `${p}group_snapshots_total`,
      help: 'Consumer-group offset snapshots archived (groupOffsets.groups), one per group and topic.',
      registers,
    })
    this.conditionalWrites = new Gauge({
      name: `${p}conditional_writes_mode`,
      help:
        'The HEAD fencing mode in force, 1 for it: fenced (the store refused the probe writes) or ' +
        'unsafe_single_writer (it did not, and conditionalWrites=unsafe-single-writer let the archiver start).',
      labelNames: ['mode'],
      registers,
    })
    this.icebergPublishes = new Counter({
      name: `${p}iceberg_publishes_total`,
      help: 'Iceberg table publishes by result (published, unchanged, error).',
      labelNames: ['topic', 'result'],
      registers,
    })
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: p })
  }
}

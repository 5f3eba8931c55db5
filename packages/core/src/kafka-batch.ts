// Kafka's record batch (magic 2) header layout, as DefaultRecordBatch writes it: the dev broker reads and rewrites
// stored batches with it, and the archiver decodes fetched ones.

/** Byte offsets of the v2 batch header fields; the records start at `records`. */
export const KafkaBatch = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
  records: 61,
} as const

/** baseOffset and batchLength come before what batchLength counts. */
export const KAFKA_BATCH_LOG_OVERHEAD = 12

/** Bits of the batch attributes (int16). */
export const KafkaBatchAttributes = {
  /** The low three bits: the codec, a KafkaCompression value. */
  compression: 0x07,
  logAppendTime: 0x08,
  transactional: 0x10,
  control: 0x20,
} as const

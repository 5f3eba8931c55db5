// @everlog/consumer: ArchiveConsumer, a kafkajs Consumer that reads history from the archive and crosses into live
// Kafka at the boundary offset.
export { ArchiveConsumer, ArchiveEvents } from './archive-consumer.js'
export type {
  ArchiveConsumerConfig,
  ArchiveSwitchPayload,
  ArchiveUnavailablePayload,
  ArchiveEventListener,
  ArchiveConsumerIsConsumer,
} from './archive-consumer.js'
export { ArchiveUnavailableError } from './errors.js'
export type { ReadMode } from './position.js'

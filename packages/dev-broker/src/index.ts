// @everlog/dev-broker: an embedded single-node broker speaking the Kafka wire protocol, for development, tests,
// benchmarks and `everlog demo`. See UNSUPPORTED.md for what it deliberately does not do.
export { startDevBroker } from './broker.js'
export type { DevBroker, DevBrokerOptions } from './broker.js'
export type { BrokerLogger, ControlAction, ControlFn, ControlRequest } from './server.js'
export { KafkaErrors, kafkaError, errorName } from './protocol/errors.js'
export type { KafkaErrorInfo, KafkaErrorName } from './protocol/errors.js'

// @everlog/archiver: the daemon that tails Kafka topics into an Everlog archive, exactly once.
export { Archiver } from './archiver.js'
export type { ArchiverOptions, ArchiverStatus } from './archiver.js'
export { runDaemon } from './daemon.js'
export type { RunDaemonOptions } from './daemon.js'
export { configSchema, loadConfig, parseConfig, configFromEnv, readConfigFile } from './config.js'
export type { ArchiverConfig, ArchiverConfigInput, LoadConfigOptions } from './config.js'
export { ArchiverMetrics } from './metrics.js'
export type { ErrorKind } from './metrics.js'

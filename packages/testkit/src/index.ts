export { toolCacheDir, testPython, missingTool } from './tools.js'
export { makeTestPki } from './pki.js'
export type { TestCert, TestPki } from './pki.js'
export {
  KAFKA_VERSION,
  KAFKA_3_VERSION,
  KAFKA_VERSIONS,
  KAFKA_TEST_JVM_ARGS,
  fetchKafka,
  javaCommand,
  kafkaClasspath,
  kafkaLibDir,
  kafkaMissing,
  startKafka,
  startKafkaCluster,
} from './kafka.js'
export type {
  KafkaBroker,
  KafkaCluster,
  KafkaListenerSpec,
  KafkaNode,
  KafkaSecurityProtocol,
  StartKafkaOptions,
} from './kafka.js'

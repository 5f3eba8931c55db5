export { toolCacheDir, testPython, missingTool } from './tools.js'
export { makeTestPki } from './pki.js'
export type { TestCert, TestPki } from './pki.js'
export {
  THIRD_PARTY_S3_SERVERS,
  s3rverServer,
  seaweedfsBinary,
  seaweedfsServer,
  startS3rver,
  startSeaweedfs,
} from './s3-servers.js'
export type { S3ServerProcess, ThirdPartyS3Server } from './s3-servers.js'
export { missingSpark, startSpark } from './spark.js'
export type { SparkOptions, SparkResult, SparkSession } from './spark.js'
export { ICEBERG_SPARK_RUNTIME, icebergSparkJar, runIcebergSpark } from './iceberg-spark.js'
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
export { devBrokerOnly, onlyWithRealKafka, startTestBroker, testBrokerKind, testKafkaVersion } from './test-broker.js'
export type { StartTestBrokerOptions, TestBroker, TestBrokerKind } from './test-broker.js'
export { javaConsume, javaConsumeThroughput, javaProduce } from './java-clients.js'
export type { JavaCompression, JavaProducerOp, JavaRecord, JavaThroughput } from './java-clients.js'
export { missingPythonClient, pythonClientVersion, pythonConsume } from './python-clients.js'
export type { PythonKafkaClient } from './python-clients.js'

export { toolCacheDir, testPython, missingTool } from './tools.js'
export { ICEBERG_SPARK_RUNTIME, icebergSparkJar, runIcebergSpark } from './iceberg-spark.js'

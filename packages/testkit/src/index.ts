export { toolCacheDir, testPython, missingTool } from './tools.js'
export { missingSpark, startSpark } from './spark.js'
export type { SparkOptions, SparkResult, SparkSession } from './spark.js'

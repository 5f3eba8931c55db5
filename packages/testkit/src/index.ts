export { toolCacheDir, testPython, missingTool } from './tools.js'

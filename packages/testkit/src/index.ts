export { toolCacheDir, testPython, missingTool } from './tools.js'
export { makeTestPki } from './pki.js'
export type { TestCert, TestPki } from './pki.js'

// Kafka clients from PyPI (kafka-python 3.x, confluent-kafka; pinned in scripts/requirements-test.txt), run with the
// test virtualenv's python (`python/kafka_read.py`): third-party readers of what Everlog writes into Kafka, their
// records in the Java clients' shape so one comparison serves every reader.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { JavaRecord } from './java-clients.js'
import { missingTool, testPython } from './tools.js'

const script = fileURLToPath(new URL('../python/kafka_read.py', import.meta.url))

export type PythonKafkaClient = 'kafka-python' | 'confluent-kafka'

const MODULES: Record<PythonKafkaClient, string> = { 'kafka-python': 'kafka', 'confluent-kafka': 'confluent_kafka' }

/** Why `client` cannot run here (no virtualenv, or the package is not in it), or undefined when it can. */
export function missingPythonClient(client: PythonKafkaClient): string | undefined {
  const venv = missingTool(testPython(), 'the test virtualenv')
  if (venv) return venv
  const probe = spawnSync(testPython(), ['-c', `import ${MODULES[client]}`], { encoding: 'utf8' })
  if (probe.status === 0) return undefined
  const why = `${client} is not in the test virtualenv; run: bash scripts/test-deps.sh`
  if (process.env.EVERLOG_REQUIRE_TOOLS === '1') throw new Error(why)
  return why
}

/** The client's version string, as the package reports it. */
export function pythonClientVersion(client: PythonKafkaClient): string {
  const expr = client === 'kafka-python' ? 'kafka.__version__' : 'confluent_kafka.version()[0]'
  const probe = spawnSync(testPython(), ['-c', `import ${MODULES[client]}; print(${expr})`], { encoding: 'utf8' })
  if (probe.status !== 0) throw new Error(`${client}: ${probe.stderr.trim()}`)
  return probe.stdout.trim()
}

/** Every record of `topic` (read_committed, all partitions) up to the end offsets at the start, read by `client`. */
export function pythonConsume(client: PythonKafkaClient, bootstrap: string, topic: string): Promise<JavaRecord[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(testPython(), [script, client, bootstrap, topic], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${client} reader exited ${code}:\n${err.trim()}`))
      resolve(
        out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as JavaRecord),
      )
    })
  })
}

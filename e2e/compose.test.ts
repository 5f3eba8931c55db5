// docker-compose.yml is for users with Docker; no engine runs here, so this checks what can be checked without
// one: the file is valid Compose (Debian's docker-compose parses it) and wires the services the README promises.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

function composeConfig(): string {
  try {
    return execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: root, encoding: 'utf8' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      assert.fail(
        'docker-compose is not installed: apt-get install docker-compose (it validates the file, no engine needed)',
      )
    }
    throw err
  }
}

test('docker-compose.yml is valid and wires Kafka (KRaft), MinIO, the archiver and a producer', () => {
  const config = composeConfig()
  for (const service of ['kafka', 'minio', 'minio-init', 'archiver', 'producer']) {
    assert.match(config, new RegExp(`^  ${service}:$`, 'm'), `service ${service}`)
  }
  assert.match(config, /image: apache\/kafka:/)
  assert.match(config, /KAFKA_PROCESS_ROLES: broker,controller/)
  assert.match(config, /--store=s3:\/\/everlog\/archive/)
  assert.match(config, /AWS_ENDPOINT_URL: http:\/\/minio:9000/)
  assert.match(config, /condition: service_completed_successfully/)
})

// A throwaway public key infrastructure made with openssl at test time: a CA, a server certificate for
// localhost/127.0.0.1, a client certificate for mutual TLS, and the broken ones a user meets (expired, for another
// host name, signed by a CA nobody trusts). PEM only: Kafka reads PEM key and trust stores (ssl.*.type=PEM, 2.7+).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCert {
  /** PEM certificate file. */
  certFile: string
  /** PEM private key file (PKCS#8, unencrypted). */
  keyFile: string
  /** Key then certificate in one PEM file: Kafka's `ssl.keystore.location` with `ssl.keystore.type=PEM`. */
  keystoreFile: string
  /** The subject as Kafka's default principal builder names it (User:<this>). */
  subject: string
}

export interface TestPki {
  dir: string
  /** The CA every good certificate is signed by; its certFile is the truststore of clients and brokers. */
  ca: TestCert
  /** Broker certificate for localhost, 127.0.0.1 and ::1. */
  server: TestCert
  /** Client certificate for mutual TLS (principal User:CN=everlog-client). */
  client: TestCert
  /** A broker certificate for localhost that expired yesterday. */
  expired: TestCert
  /** A broker certificate for another host name only. */
  wrongHost: TestCert
  /** A CA nobody trusts, and a client certificate it signed. */
  untrustedCa: TestCert
  untrustedClient: TestCert
  /** Deletes the folder. */
  remove(): void
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Makes every certificate in a new temporary folder (EC P-256 keys: a few milliseconds each). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'everlog-pki-'))
  let serial = 1
  const key = (name: string) => {
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`])
  }
  const finish = (name: string, cn: string): TestCert => {
    const keystoreFile = join(dir, `${name}.keystore.pem`)
    writeFileSync(
      keystoreFile,
      readFileSync(join(dir, `${name}.key`), 'utf8') + readFileSync(join(dir, `${name}.pem`), 'utf8'),
    )
    return {
      certFile: join(dir, `${name}.pem`),
      keyFile: join(dir, `${name}.key`),
      keystoreFile,
      subject: `CN=${cn}`,
    }
  }
  const ca = (name: string, cn: string): TestCert => {
    key(name)
    openssl(dir, [
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${cn}`,
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      `${name}.pem`,
    ])
    return finish(name, cn)
  }
  const leaf = (name: string, cn: string, by: string, days: number, extensions: string[]): TestCert => {
    key(name)
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`])
    writeFileSync(join(dir, `${name}.ext`), extensions.join('\n') + '\n')
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${by}.pem`,
      '-CAkey',
      `${by}.key`,
      '-set_serial',
      String(serial++),
      // A negative count ends the certificate before it starts: expired since yesterday.
      '-days',
      String(days),
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ])
    return finish(name, cn)
  }
  const serverExt = (names: string) => [
    `subjectAltName=${names}`,
    'extendedKeyUsage=serverAuth',
    'keyUsage=critical,digitalSignature',
  ]
  const clientExt = ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature']
  try {
    const pki: TestPki = {
      dir,
      ca: ca('ca', 'Everlog Test CA'),
      server: leaf('server', 'localhost', 'ca', 30, serverExt('DNS:localhost,IP:127.0.0.1,IP:::1')),
      client: leaf('client', 'everlog-client', 'ca', 30, clientExt),
      expired: leaf('expired', 'localhost', 'ca', -1, serverExt('DNS:localhost,IP:127.0.0.1,IP:::1')),
      wrongHost: leaf('wrong-host', 'kafka.example.invalid', 'ca', 30, serverExt('DNS:kafka.example.invalid')),
      untrustedCa: ca('untrusted-ca', 'Nobody Trusts This CA'),
      untrustedClient: undefined as unknown as TestCert,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    }
    pki.untrustedClient = leaf('untrusted-client', 'everlog-client', 'untrusted-ca', 30, clientExt)
    return pki
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`making the test certificates with openssl failed: ${(err as Error).message}`, { cause: err })
  }
}

// AWS MSK IAM authentication: SASL OAUTHBEARER tokens that are SigV4-presigned `kafka-cluster:Connect` URLs, made
// by AWS's own signer library from the standard AWS credential chain (env, profile, SSO, web identity, container
// and instance roles). kafkajs asks for a token on every new connection and on every re-authentication (MSK ends a
// session when its token expires); a token is reused until 80% of its life has passed, then a new one is signed.
import { KafkaAuthenticationError } from '@everlog/core'
import { generateAuthToken, generateAuthTokenFromCredentialsProvider } from 'aws-msk-iam-sasl-signer-js'
import type { OauthbearerProviderResponse } from 'kafkajs'

/** A source of AWS credentials, as the AWS SDK defines it (for tests and for callers with their own chain). */
export type AwsCredentialsProvider = () => Promise<{
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration?: Date
}>

export interface MskIamTokenOptions {
  /** The cluster's AWS region (tokens are signed for kafka.<region>.amazonaws.com). */
  region: string
  /** Default: the standard AWS credential chain. */
  credentials?: AwsCredentialsProvider
  /** Share of a token's life after which a new one is signed (default 0.8). */
  refreshAt?: number
  /** Milliseconds since the epoch (tests move time). */
  now?: () => number
}

/** kafkajs' `sasl.oauthBearerProvider` for MSK IAM: signs a token when none is fresh, shared by concurrent callers. */
export function mskIamTokenProvider(options: MskIamTokenOptions): () => Promise<OauthbearerProviderResponse> {
  const now = options.now ?? Date.now
  const share = options.refreshAt ?? 0.8
  let current: { value: string; refreshAfter: number } | undefined
  let signing: Promise<{ value: string; refreshAfter: number }> | undefined
  const sign = async () => {
    const issued = now()
    let token: { token: string; expiryTime: number }
    try {
      token = options.credentials
        ? await generateAuthTokenFromCredentialsProvider({
            region: options.region,
            awsCredentialsProvider: options.credentials,
          })
        : await generateAuthToken({ region: options.region })
    } catch (err) {
      throw new KafkaAuthenticationError(
        `aws-msk-iam: could not sign a token: ${(err as Error).message}; check the AWS credentials this process ` +
          'gets (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a role) and kafka.sasl.region',
        { cause: err },
      )
    }
    // The token's life as the signer reckons it (real time), counted from when this provider's clock signed it.
    const life = Math.max(0, token.expiryTime - Date.now())
    return { value: token.token, refreshAfter: issued + share * life }
  }
  return async () => {
    if (current === undefined || now() >= current.refreshAfter) {
      signing ??= sign().finally(() => (signing = undefined))
      current = await signing
    }
    return { value: current.value }
  }
}

/** The region of an MSK broker from its host name (b-1.x.y.c2.kafka.us-east-1.amazonaws.com), if it names one. */
export function mskRegionOf(brokers: readonly string[]): string | undefined {
  for (const b of brokers) {
    const m = /\.kafka(?:-serverless)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?(?::\d+)?$/.exec(b)
    if (m) return m[1]
  }
  return undefined
}

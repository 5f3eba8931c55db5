// Runs DDL statements through Amazon Athena and waits for each to finish, so `everlog athena create` fails
// loudly with Athena's own error text instead of leaving a half-registered table.
import {
  AthenaClient,
  GetQueryExecutionCommand,
  StartQueryExecutionCommand,
  type GetQueryExecutionCommandOutput,
  type StartQueryExecutionCommandOutput,
} from '@aws-sdk/client-athena'
import { EverlogError, ErrorCodes, InvalidArgumentError } from '@everlog/core'

/** The two Athena calls we make; AthenaClient satisfies it, tests pass a mock. */
export interface AthenaLike {
  send(command: StartQueryExecutionCommand): Promise<StartQueryExecutionCommandOutput>
  send(command: GetQueryExecutionCommand): Promise<GetQueryExecutionCommandOutput>
}

export interface RunAthenaOptions {
  /** s3:// location where Athena writes query results. */
  output: string
  database?: string
  workgroup?: string
  client?: AthenaLike
  pollIntervalMs?: number
  /** Give up waiting for one statement after this long. Default 5 minutes. */
  timeoutMs?: number
  onStatement?: (event: { index: number; total: number; state: string; queryExecutionId: string }) => void
}

export class AthenaQueryError extends EverlogError {
  constructor(
    message: string,
    readonly queryExecutionId?: string,
  ) {
    super(ErrorCodes.INVALID_ARGUMENT, message)
  }
}

export async function runAthenaStatements(statements: readonly string[], options: RunAthenaOptions): Promise<string[]> {
  if (!/^s3:\/\/[^/]+/.test(options.output)) {
    throw new InvalidArgumentError(
      `--output must be an s3:// location for Athena's query results, got ${JSON.stringify(options.output)}`,
    )
  }
  const client = options.client ?? (new AthenaClient({}) as AthenaLike)
  const poll = options.pollIntervalMs ?? 1000
  const timeout = options.timeoutMs ?? 300_000
  const ids: string[] = []
  for (const [index, sql] of statements.entries()) {
    const started = await client.send(
      new StartQueryExecutionCommand({
        QueryString: sql,
        ResultConfiguration: { OutputLocation: options.output },
        ...(options.database ? { QueryExecutionContext: { Database: options.database } } : {}),
        ...(options.workgroup ? { WorkGroup: options.workgroup } : {}),
      }),
    )
    const id = started.QueryExecutionId
    if (!id) throw new AthenaQueryError(`Athena did not return a query execution id for statement ${index + 1}`)
    ids.push(id)
    const deadline = Date.now() + timeout
    for (;;) {
      const got = await client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))
      const state = got.QueryExecution?.Status?.State ?? 'UNKNOWN'
      options.onStatement?.({ index, total: statements.length, state, queryExecutionId: id })
      if (state === 'SUCCEEDED') break
      if (state === 'FAILED' || state === 'CANCELLED') {
        const reason = got.QueryExecution?.Status?.StateChangeReason ?? 'no reason given'
        const first = sql.split('\n')[0]
        throw new AthenaQueryError(`Athena ${state.toLowerCase()} statement ${index + 1} (${first}): ${reason}`, id)
      }
      if (Date.now() > deadline) {
        throw new AthenaQueryError(`Athena statement ${index + 1} still ${state} after ${timeout} ms (query ${id})`, id)
      }
      await new Promise((r) => setTimeout(r, poll))
    }
  }
  return ids
}

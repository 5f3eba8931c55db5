// Athena cannot run here, so these tests drive runAthenaStatements with a MOCKED Athena client that plays back
// the query states Athena reports; they check the request we build and how failures reach the user.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { GetQueryExecutionCommand } from '@aws-sdk/client-athena'
import { StartQueryExecutionCommand } from '@aws-sdk/client-athena'
import { athenaDdl, runAthenaStatements, type AthenaLike } from '../src/index.js'

function mockAthena(states: Record<string, string[]>, reason = 'line 1:8: mismatched input') {
  const started: StartQueryExecutionCommand['input'][] = []
  let n = 0
  const client = {
    async send(command: StartQueryExecutionCommand | GetQueryExecutionCommand) {
      if (command instanceof StartQueryExecutionCommand) {
        started.push(command.input)
        return { QueryExecutionId: `q${++n}`, $metadata: {} }
      }
      const id = command.input.QueryExecutionId!
      const state = states[id]!.shift() ?? 'SUCCEEDED'
      return {
        QueryExecution: {
          QueryExecutionId: id,
          Status: { State: state, StateChangeReason: state === 'FAILED' ? reason : undefined },
        },
        $metadata: {},
      }
    },
  } as unknown as AthenaLike
  return { client, started }
}

test('mocked Athena: each statement is started with the output location and awaited to success', async () => {
  const ddl = athenaDdl({ store: 's3://bucket/archive', topic: 'orders', partitions: 4 })
  const { client, started } = mockAthena({ q1: ['QUEUED', 'RUNNING', 'SUCCEEDED'], q2: ['RUNNING', 'SUCCEEDED'] })
  const seen: string[] = []
  const ids = await runAthenaStatements([ddl.createTable, ddl.createView], {
    client,
    output: 's3://results/athena/',
    database: 'kafka',
    pollIntervalMs: 1,
    onStatement: (e) => seen.push(`${e.index}:${e.state}`),
  })
  assert.deepEqual(ids, ['q1', 'q2'])
  assert.deepEqual(seen, ['0:QUEUED', '0:RUNNING', '0:SUCCEEDED', '1:RUNNING', '1:SUCCEEDED'])
  assert.equal(started[0]!.QueryString, ddl.createTable)
  assert.equal(started[0]!.ResultConfiguration?.OutputLocation, 's3://results/athena/')
  assert.equal(started[0]!.QueryExecutionContext?.Database, 'kafka')
})

test("mocked Athena: a failed statement stops the run and reports Athena's error text", async () => {
  const { client, started } = mockAthena({ q1: ['RUNNING', 'FAILED'] })
  await assert.rejects(
    runAthenaStatements(['CREATE EXTERNAL TABLE broken (', 'CREATE VIEW never_run AS SELECT 1'], {
      client,
      output: 's3://results/',
      pollIntervalMs: 1,
    }),
    /Athena failed statement 1 \(CREATE EXTERNAL TABLE broken \(\): line 1:8: mismatched input/,
  )
  assert.equal(started.length, 1, 'later statements are not started after a failure')
})

test('an output location that is not S3 is refused before calling Athena', async () => {
  const { client, started } = mockAthena({})
  await assert.rejects(
    runAthenaStatements(['SELECT 1'], { client, output: '/tmp/results' }),
    /--output must be an s3:\/\//,
  )
  assert.equal(started.length, 0)
})

// Registering a published Iceberg table in the AWS Glue Data Catalog, against a mocked Glue (no AWS here). The
// requests are checked against AWS's own API model as the SDK ships it (its schemas: members, required members and
// types), and sent through the real GlueClient's serializer to a mocked HTTP handler, which proves no field we set is
// dropped on the wire.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import type { UpdateTableCommand } from '@aws-sdk/client-glue'
import {
  CreateTableCommand,
  CreateTableRequest$,
  EntityNotFoundException,
  GetTableCommand,
  GetTableRequest$,
  GlueClient,
  UpdateTableRequest$,
} from '@aws-sdk/client-glue'
import { NormalizedSchema } from '@smithy/core/schema'
import { createIcebergTableRequest, registerIcebergTable, type GlueLike } from '../src/index.js'

const STORE = 's3://lake/archive'
const V1 = `${STORE}/orders/iceberg/metadata/v1.metadata.json`
const V2 = `${STORE}/orders/iceberg/metadata/v2.metadata.json`

/** Problems of `value` as an instance of the SDK model shape `schema`; empty when the model accepts it. */
function modelProblems(schema: NormalizedSchema, value: unknown, path: string): string[] {
  const out: string[] = []
  if (schema.isStructSchema()) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected a structure`]
    const raw = schema.getSchema() as unknown as unknown[]
    const names = raw[4] as string[]
    const required = typeof raw[6] === 'number' ? raw[6] : 0
    const members = schema.getMemberSchemas()
    const obj = value as Record<string, unknown>
    for (const name of names.slice(0, required)) if (obj[name] === undefined) out.push(`${path}.${name}: required`)
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue
      const member = members[k]
      if (!member) out.push(`${path}.${k}: not a member of ${schema.getName()}`)
      else out.push(...modelProblems(member, v, `${path}.${k}`))
    }
  } else if (schema.isListSchema()) {
    if (!Array.isArray(value)) return [`${path}: expected a list`]
    value.forEach((v, i) => out.push(...modelProblems(schema.getValueSchema(), v, `${path}[${i}]`)))
  } else if (schema.isMapSchema()) {
    if (typeof value !== 'object' || value === null) return [`${path}: expected a map`]
    for (const [k, v] of Object.entries(value)) out.push(...modelProblems(schema.getValueSchema(), v, `${path}.${k}`))
  } else if (schema.isStringSchema()) {
    if (typeof value !== 'string') out.push(`${path}: expected a string`)
  } else if (schema.isBooleanSchema()) {
    if (typeof value !== 'boolean') out.push(`${path}: expected a boolean`)
  } else if (schema.isNumericSchema()) {
    if (typeof value !== 'number') out.push(`${path}: expected a number`)
  } else if (schema.isTimestampSchema()) {
    if (!(value instanceof Date)) out.push(`${path}: expected a Date`)
  }
  return out
}

const problems = (shape: Parameters<typeof NormalizedSchema.of>[0], value: unknown) =>
  modelProblems(NormalizedSchema.of(shape), value, 'input')

test('the model check itself rejects unknown members, missing required ones and wrong types', () => {
  assert.deepEqual(problems(CreateTableRequest$, { DatabaseName: 'db', TableInput: { Name: 't' } }), [])
  assert.deepEqual(problems(CreateTableRequest$, { TableInput: { Name: 't', Nope: 1 } }), [
    'input.DatabaseName: required',
    'input.TableInput.Nope: not a member of TableInput',
  ])
  assert.deepEqual(
    problems(CreateTableRequest$, { DatabaseName: 'db', TableInput: { Name: 't', Parameters: { a: 1 } } }),
    ['input.TableInput.Parameters.a: expected a string'],
  )
})

test('mocked Glue: create, then re-point at a newer metadata version, then nothing to do', async () => {
  const sent: { name: string; input: object }[] = []
  let table: { Parameters?: Record<string, string>; VersionId?: string } | undefined
  const glue: GlueLike = {
    send: (async (command: GetTableCommand | CreateTableCommand | UpdateTableCommand) => {
      sent.push({ name: command.constructor.name, input: command.input })
      if (command instanceof GetTableCommand) {
        if (!table) throw new EntityNotFoundException({ message: 'Table not found', $metadata: {} })
        return { Table: { Name: command.input.Name, ...table }, $metadata: {} }
      }
      const input = command.input.TableInput!
      table = { Parameters: input.Parameters, VersionId: String(sent.length) }
      return { $metadata: {} }
    }) as GlueLike['send'],
  }
  const base = { store: STORE, topic: 'orders', database: 'kafka', client: glue }

  assert.equal((await registerIcebergTable({ ...base, metadataLocation: V1 })).action, 'created')
  assert.equal((await registerIcebergTable({ ...base, metadataLocation: V2 })).action, 'updated')
  assert.equal((await registerIcebergTable({ ...base, metadataLocation: V2 })).action, 'unchanged')
  assert.deepEqual(
    sent.map((s) => s.name),
    ['GetTableCommand', 'CreateTableCommand', 'GetTableCommand', 'UpdateTableCommand', 'GetTableCommand'],
  )

  const create = sent[1]!.input as ReturnType<typeof createIcebergTableRequest>
  assert.deepEqual(create.TableInput!.Parameters, {
    table_type: 'ICEBERG',
    metadata_location: V1,
    'everlog.topic': 'orders',
  })
  assert.equal(create.TableInput!.StorageDescriptor!.Location, `${STORE}/orders/iceberg`)
  const update = sent[3]!.input as { VersionId?: string; TableInput?: { Parameters?: Record<string, string> } }
  assert.equal(update.VersionId, '2')
  assert.equal(update.TableInput!.Parameters!.metadata_location, V2)
  assert.equal(update.TableInput!.Parameters!.previous_metadata_location, V1)

  // Every request is an instance of its shape in AWS's model.
  const shapes = {
    GetTableCommand: GetTableRequest$,
    CreateTableCommand: CreateTableRequest$,
    UpdateTableCommand: UpdateTableRequest$,
  }
  for (const s of sent) assert.deepEqual(problems(shapes[s.name as keyof typeof shapes], s.input), [], s.name)
})

test('mocked Glue: a table of that name that is not ours is left alone', async () => {
  const glue: GlueLike = {
    send: (async () => ({
      Table: { Name: 'orders', Parameters: { classification: 'parquet' } },
      $metadata: {},
    })) as GlueLike['send'],
  }
  await assert.rejects(
    registerIcebergTable({ store: STORE, topic: 'orders', database: 'kafka', metadataLocation: V1, client: glue }),
    /exists and is not Everlog's Iceberg table of orders; pass another --table/,
  )
})

test("mocked Glue over HTTP: the SDK's serializer carries every field of the CreateTable request", async () => {
  const requests: { target: string; body: unknown }[] = []
  const client = new GlueClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: {
      handle: async (request: { headers: Record<string, string>; body?: string | Uint8Array }) => {
        const body = typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body)
        requests.push({ target: request.headers['x-amz-target']!, body: JSON.parse(body) })
        return {
          response: {
            statusCode: 200,
            headers: { 'content-type': 'application/x-amz-json-1.1' },
            body: Readable.from([Buffer.from('{}')]),
          },
        }
      },
    },
  })
  const input = createIcebergTableRequest({ store: STORE, topic: 'orders', database: 'kafka', metadataLocation: V1 })
  await client.send(new CreateTableCommand(input))
  client.destroy()
  assert.equal(requests.length, 1)
  assert.equal(requests[0]!.target, 'AWSGlue.CreateTable')
  assert.deepEqual(requests[0]!.body, JSON.parse(JSON.stringify(input)))
})

test('only S3 archives and metadata files of that archive can be registered', () => {
  assert.throws(
    () => createIcebergTableRequest({ store: 'file:///x', topic: 'orders', database: 'kafka', metadataLocation: V1 }),
    /Athena reads S3 only/,
  )
  assert.throws(
    () =>
      createIcebergTableRequest({
        store: STORE,
        topic: 'orders',
        database: 'kafka',
        metadataLocation: 's3://other/orders/iceberg/metadata/v1.metadata.json',
      }),
    /is not a metadata file in s3:\/\/lake\/archive/,
  )
})

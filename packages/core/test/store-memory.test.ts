import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryStore } from '../src/store/memory.js'
import { storeContract } from '../src/testing/store-contract.js'

storeContract('memory', async () => new MemoryStore({ pageSize: 4 }))

describe('MemoryStore', () => {
  it('memory://NAME opened twice shares objects; memory:// alone is private', async () => {
    const name = `shared-${process.pid}-${Date.now()}`
    const a = new MemoryStore({ name })
    const b = new MemoryStore({ name })
    const { etag } = await a.put('k', Buffer.from('v'))
    assert.deepEqual(await b.head('k'), { key: 'k', size: 1, etag })
    await assert.rejects(b.putIfAbsent('k', Buffer.from('w')))
    assert.equal(a.url, `memory://${name}`)
    const p1 = new MemoryStore()
    const p2 = new MemoryStore()
    await p1.put('k', Buffer.from('v'))
    assert.equal(await p2.head('k'), undefined)
    MemoryStore.drop(name)
    assert.equal(await new MemoryStore({ name }).head('k'), undefined)
  })
})

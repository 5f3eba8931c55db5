// Where the B+tree reads its nodes from: the object store (verified against the node's hash, cached forever
// because a node never changes) or plain memory for tests and models.
import { FormatError, IntegrityError, InvalidArgumentError, ObjectNotFoundError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { nodeKey, validatePartition, validateTopicName } from '../layout.js'
import type { ObjectStore } from '../store/types.js'
import { decodeNode } from './codec.js'
import type { EncodedNode } from './codec.js'
import type { IndexNode } from './types.js'

export interface NodeSource {
  /** The node whose encoded bytes hash to `hash`. Shared with other readers: never modify it. */
  getNode(hash: string): Promise<IndexNode>
}

const HASH_HEX = /^[0-9a-f]{64}$/

function checkHash(hash: string): void {
  if (typeof hash !== 'string' || !HASH_HEX.test(hash)) {
    throw new InvalidArgumentError(`index node hash ${JSON.stringify(hash)} is not 64 lowercase hex digits`)
  }
}

/** Nodes kept in memory, as written; for tests, models and building a tree before uploading it. */
export class MemoryNodeSource implements NodeSource {
  private readonly nodes = new Map<string, IndexNode>()

  add(encoded: EncodedNode): void {
    this.nodes.set(encoded.hash, encoded.node)
  }

  get size(): number {
    return this.nodes.size
  }

  async getNode(hash: string): Promise<IndexNode> {
    const node = this.nodes.get(hash)
    if (!node) throw new ObjectNotFoundError(hash, `index node ${hash} is not in this memory node source`)
    return node
  }
}

export interface StoreNodeSourceOptions {
  /**
   * How many decoded nodes to keep, least recently used evicted first. Default 1024. A full leaf at fan-out 256
   * with ~120-character segment keys is ~38 KiB stored and ~80 KiB decoded, so the default may hold ~80 MiB: a
   * process reading many partitions should pass less (seeks only need the few upper nodes to stay warm).
   */
  cacheNodes?: number
}

/** Reads one partition's index nodes from an object store. */
export class StoreNodeSource implements NodeSource {
  private readonly cache = new Map<string, IndexNode>()
  private readonly inflight = new Map<string, Promise<IndexNode>>()
  private readonly cacheNodes: number
  private getCount = 0

  constructor(
    readonly store: ObjectStore,
    readonly topic: string,
    readonly partition: number,
    options: StoreNodeSourceOptions = {},
  ) {
    validateTopicName(topic)
    validatePartition(partition)
    const cacheNodes = options.cacheNodes ?? 1024
    if (!Number.isInteger(cacheNodes) || cacheNodes < 0) {
      throw new InvalidArgumentError(`cacheNodes must be an integer >= 0, got ${cacheNodes}`)
    }
    this.cacheNodes = cacheNodes
  }

  /** Store GETs issued so far (cache hits and shared in-flight reads cost none). */
  get gets(): number {
    return this.getCount
  }

  getNode(hash: string): Promise<IndexNode> {
    const cached = this.cache.get(hash)
    if (cached) {
      // Map order is insertion order: re-inserting marks the node most recently used.
      this.cache.delete(hash)
      this.cache.set(hash, cached)
      return Promise.resolve(cached)
    }
    const pending = this.inflight.get(hash)
    if (pending) return pending
    const read = this.fetch(hash).finally(() => this.inflight.delete(hash))
    this.inflight.set(hash, read)
    return read
  }

  private async fetch(hash: string): Promise<IndexNode> {
    checkHash(hash)
    const key = nodeKey(this.topic, this.partition, hash)
    this.getCount++
    const { body } = await this.store.get(key)
    const actual = sha256Hex(body)
    if (actual !== hash) {
      throw new IntegrityError(
        key,
        `index node ${key} in ${this.store.url} is corrupt: its bytes hash to ${actual}, not to the ${hash} in its key`,
      )
    }
    let node: IndexNode
    try {
      node = decodeNode(body)
    } catch (err) {
      // The bytes match their hash, so a writer produced them: name the object so an operator can find it.
      if (err instanceof FormatError) throw new FormatError(`index node ${key}: ${err.message}`, { cause: err })
      throw err
    }
    if (this.cacheNodes > 0) {
      this.cache.set(hash, node)
      if (this.cache.size > this.cacheNodes) this.cache.delete(this.cache.keys().next().value!)
    }
    return node
  }
}

/**
 * Uploads nodes to their content-addressed keys, children before parents, so a reader that can see a parent can
 * also see its children. Writing a node that exists is harmless: the same key always holds the same bytes.
 */
export async function putNodes(
  store: ObjectStore,
  topic: string,
  partition: number,
  nodes: readonly EncodedNode[],
  options: { concurrency?: number } = {},
): Promise<void> {
  // Level by level from the leaves up: every child is stored before any parent PUT starts, while the many leaves
  // of a bulk build still upload in parallel.
  const concurrency = options.concurrency ?? 8
  const byLevel = new Map<number, EncodedNode[]>()
  for (const n of nodes) {
    let list = byLevel.get(n.node.level)
    if (!list) byLevel.set(n.node.level, (list = []))
    list.push(n)
  }
  for (const level of [...byLevel.keys()].sort((a, b) => a - b)) {
    const list = byLevel.get(level)!
    for (let i = 0; i < list.length; i += concurrency) {
      await Promise.all(
        list
          .slice(i, i + concurrency)
          .map((n) =>
            store.put(nodeKey(topic, partition, n.hash), n.bytes, { contentType: 'application/octet-stream' }),
          ),
      )
    }
  }
}

// Producer ids, transactional ids with epoch fencing, and open transactions (partitions and groups they touch).
// EndTxn writes COMMIT/ABORT markers into each partition and tells the group coordinator about pending offsets.

import { KafkaErrors } from '../protocol/errors.js'
import { encodeControlBatch } from '../protocol/record-batch.js'
import type { BrokerState } from './broker-state.js'

export interface Transaction {
  readonly transactionalId: string
  producerId: bigint
  epoch: number
  timeoutMs: number
  ongoing: boolean
  startedAt: number
  /** `topic\0partition` -> where it is. */
  readonly partitions: Map<string, { topic: string; partition: number }>
  readonly groups: Set<string>
}

const MAX_EPOCH = 32767
/** Kafka's transaction.max.timeout.ms default. */
const MAX_TXN_TIMEOUT_MS = 900_000

export class TransactionCoordinator {
  private readonly state: BrokerState
  private readonly byId = new Map<string, Transaction>()
  private readonly byPid = new Map<bigint, Transaction>()
  nextProducerId = 1000n
  private timer: NodeJS.Timeout | undefined

  constructor(state: BrokerState) {
    this.state = state
  }

  /** A fresh producer id for an idempotent (non-transactional) producer. */
  allocateProducerId(): bigint {
    return this.nextProducerId++
  }

  /** InitProducerId: new id, or for a transactional id the same id with a bumped epoch (fencing the old one). */
  initProducerId(
    transactionalId: string | null,
    timeoutMs: number,
  ): { error: number; producerId: bigint; epoch: number } {
    if (transactionalId === null) return { error: 0, producerId: this.allocateProducerId(), epoch: 0 }
    if (timeoutMs <= 0 || timeoutMs > MAX_TXN_TIMEOUT_MS) {
      return { error: KafkaErrors.INVALID_TRANSACTION_TIMEOUT.code, producerId: -1n, epoch: -1 }
    }
    let txn = this.byId.get(transactionalId)
    if (txn === undefined) {
      txn = {
        transactionalId,
        producerId: this.allocateProducerId(),
        epoch: 0,
        timeoutMs,
        ongoing: false,
        startedAt: 0,
        partitions: new Map(),
        groups: new Set(),
      }
      this.byId.set(transactionalId, txn)
      this.byPid.set(txn.producerId, txn)
    } else {
      if (txn.ongoing) this.complete(txn, false)
      txn.timeoutMs = timeoutMs
      if (txn.epoch >= MAX_EPOCH - 1) {
        this.byPid.delete(txn.producerId)
        txn.producerId = this.allocateProducerId()
        txn.epoch = 0
        this.byPid.set(txn.producerId, txn)
      } else {
        txn.epoch++
      }
    }
    this.ensureTimer()
    return { error: 0, producerId: txn.producerId, epoch: txn.epoch }
  }

  /** The transaction a transactional request names, or the Kafka error that fences it. */
  lookup(transactionalId: string, producerId: bigint, epoch: number): { error: number; txn?: Transaction } {
    const txn = this.byId.get(transactionalId)
    if (txn === undefined || txn.producerId !== producerId) {
      return { error: KafkaErrors.INVALID_PRODUCER_ID_MAPPING.code }
    }
    if (epoch !== txn.epoch) return { error: KafkaErrors.INVALID_PRODUCER_EPOCH.code }
    return { error: 0, txn }
  }

  private begin(txn: Transaction): void {
    if (!txn.ongoing) {
      txn.ongoing = true
      txn.startedAt = this.state.now()
    }
  }

  addPartitions(txn: Transaction, topic: string, partition: number): number {
    if (this.state.partition(topic, partition) === undefined) return KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION.code
    this.begin(txn)
    txn.partitions.set(`${topic}\u0000${partition}`, { topic, partition })
    return 0
  }

  addOffsets(txn: Transaction, groupId: string): number {
    this.begin(txn)
    txn.groups.add(groupId)
    return 0
  }

  /** Checks a transactional batch before it is appended. */
  validateProduce(producerId: bigint, epoch: number, topic: string, partition: number): number {
    const txn = this.byPid.get(producerId)
    if (txn === undefined) return KafkaErrors.INVALID_PRODUCER_ID_MAPPING.code
    if (epoch < txn.epoch) return KafkaErrors.INVALID_PRODUCER_EPOCH.code
    if (!txn.ongoing || !txn.partitions.has(`${topic}\u0000${partition}`)) return KafkaErrors.INVALID_TXN_STATE.code
    return 0
  }

  /** Whether a producer id belongs to a transactional id (its batches must be transactional-checked). */
  isTransactionalProducer(producerId: bigint): boolean {
    return this.byPid.has(producerId)
  }

  endTxn(txn: Transaction, commit: boolean): number {
    // an empty transaction (nothing added) ends as a no-op, as clients that never wrote expect
    if (!txn.ongoing) return 0
    this.complete(txn, commit)
    return 0
  }

  /** Writes markers, resolves LSO and aborted lists, and lets the group coordinator publish or drop offsets. */
  private complete(txn: Transaction, commit: boolean): void {
    const now = this.state.now()
    for (const { topic, partition } of txn.partitions.values()) {
      const log = this.state.partition(topic, partition)
      if (log === undefined) continue // topic deleted meanwhile
      const first = log.openTxns.get(txn.producerId)
      const at = log.nextOffset
      const marker = encodeControlBatch(at, txn.producerId, txn.epoch, commit, now)
      log.appendStored(marker, at, at, now, now)
      if (first !== undefined) {
        log.openTxns.delete(txn.producerId)
        if (!commit) log.aborted.push({ producerId: txn.producerId, firstOffset: first, lastOffset: at })
      }
    }
    this.state.groups.completeTransaction(txn.producerId, commit)
    txn.partitions.clear()
    txn.groups.clear()
    txn.ongoing = false
    this.state.notifyAppend()
    this.state.changed()
  }

  /** Aborts transactions older than their timeout, as Kafka's coordinator does. */
  expire(): void {
    const now = this.state.now()
    for (const txn of this.byId.values()) {
      if (txn.ongoing && now - txn.startedAt > txn.timeoutMs) {
        this.complete(txn, false)
        txn.epoch = Math.min(txn.epoch + 1, MAX_EPOCH) // fence the producer that let it time out
      }
    }
  }

  private ensureTimer(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => this.expire(), 1000)
    this.timer.unref()
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }
}

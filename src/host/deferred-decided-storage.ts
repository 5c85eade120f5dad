import type { DurableState, PersistDelta } from '../core/index.ts';
import type { ReplicaStorage } from './storage.ts';

/**
 * A replica's storage that does not spend a transaction on a decidedThrough
 * alone: such a delta is held and written with the next transaction that
 * stores anything else (the next accepted entries, a promise, a compaction),
 * or by `flush()` (the host calls it on its next wake-up).
 *
 * Why this is safe: the stored decidedThrough is a lower bound the replica
 * starts from after a crash, never a promise to anyone. Every slot it covers
 * was decided by a quorum of acceptors that stored it, so a replica that
 * restarts with an older decidedThrough only replays fewer entries into its
 * state machine and learns the rest again from the leader (a new leader's
 * phase 1 finds the same values). What it must never do is store a decided
 * index for slots it does not hold, or below a compacted prefix: a held index
 * rides on the next transaction, with whatever that one writes, and only goes
 * up. The cost: after a crash, a replica's state machine (stale reads) may be
 * briefly behind what it served before, until the next heartbeat.
 */
export class DeferredDecidedStorage implements ReplicaStorage {
  private readonly inner: ReplicaStorage;
  private held: number | undefined;

  constructor(inner: ReplicaStorage) {
    this.inner = inner;
  }

  /** Whether a decidedThrough waits for a transaction. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  loadDurable(): DurableState {
    return this.inner.loadDurable();
  }

  persist(delta: PersistDelta): void {
    const onlyDecided =
      delta.decidedThrough !== undefined &&
      delta.entries.length === 0 &&
      delta.promised === undefined &&
      delta.snapshot === undefined &&
      delta.compactThrough === undefined &&
      delta.baseConfig === undefined &&
      delta.epoch === undefined &&
      delta.fenced === undefined &&
      delta.incarnation === undefined &&
      delta.quiet === undefined &&
      delta.readSeqReserved === undefined;
    if (onlyDecided) {
      this.held = Math.max(this.held ?? 0, delta.decidedThrough!);
      return;
    }
    if (this.held !== undefined) {
      const decidedThrough = Math.max(this.held, delta.decidedThrough ?? 0);
      this.held = undefined;
      this.inner.persist({ ...delta, decidedThrough });
      return;
    }
    this.inner.persist(delta);
  }

  /** Write a held decidedThrough now (one transaction), if there is one. */
  flush(): void {
    if (this.held === undefined) return;
    const decidedThrough = this.held;
    this.held = undefined;
    this.inner.persist({ entries: [], decidedThrough });
  }

  clear(): void {
    this.held = undefined;
    this.inner.clear();
  }

  readMeta(key: string): string | undefined {
    return this.inner.readMeta(key);
  }

  writeMeta(key: string, value: string): void {
    this.inner.writeMeta(key, value);
  }

  get transactions(): number {
    return this.inner.transactions;
  }
}

import type { DurableState, PersistDelta } from '../core/index.ts';

/**
 * Where a replica keeps what must survive a crash: the core's durable state
 * (promised ballot, accepted entries, decided prefix, compacted prefix and the
 * latest snapshot) and a little host
 * metadata (its identity, injected faults). `persist` is atomic: after a crash
 * either the whole delta is there or none of it.
 */
export interface ReplicaStorage {
  /** The durable state as last persisted (an empty state for a new replica). */
  loadDurable(): DurableState;
  /** Apply one Ready's persist delta atomically. */
  persist(delta: PersistDelta): void;
  /** Drop everything (the durable state and all metadata but the replica's identity): a rebuild starts blank from nothing. */
  clear(): void;
  readMeta(key: string): string | undefined;
  writeMeta(key: string, value: string): void;
  /** Counters for cost accounting: storage transactions issued so far by this handle. */
  readonly transactions: number;
}

/** Checks a delta before anything is written, so that a bad one changes nothing. */
export function validateDelta(delta: PersistDelta): void {
  for (const e of delta.entries) {
    if (!Number.isInteger(e.slot) || e.slot < 1) throw new Error(`storage: bad slot ${e.slot}`);
  }
  if (delta.decidedThrough !== undefined && (!Number.isInteger(delta.decidedThrough) || delta.decidedThrough < 0)) {
    throw new Error(`storage: bad decidedThrough ${delta.decidedThrough}`);
  }
  if (delta.compactThrough !== undefined && (!Number.isInteger(delta.compactThrough) || delta.compactThrough < 0)) {
    throw new Error(`storage: bad compactThrough ${delta.compactThrough}`);
  }
  if (delta.snapshot !== undefined && (!Number.isInteger(delta.snapshot.slot) || delta.snapshot.slot < 0)) {
    throw new Error(`storage: bad snapshot slot ${delta.snapshot.slot}`);
  }
}

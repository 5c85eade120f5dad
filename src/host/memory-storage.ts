import { type Ballot, type ConfigurationAt, type DurableState, type Entry, type PersistDelta, type QuietRecord, type Snapshot, ZERO_BALLOT } from '../core/index.ts';
import { type ReplicaStorage, validateDelta } from './storage.ts';

/** What survives a simulated crash; several MemoryStorage handles may share one. */
export class MemoryBacking {
  promised: Ballot = ZERO_BALLOT;
  decidedThrough = 0;
  compactedThrough = 0;
  snapshot: Snapshot | null = null;
  baseConfig: ConfigurationAt | null = null;
  epoch = 0;
  fenced = false;
  incarnation = 1;
  quiet: QuietRecord | null = null;
  readSeqReserved = 0;
  readonly entries = new Map<number, Entry>();
  readonly meta = new Map<string, string>();
}

/** In-memory storage for the simulator and Node tests; a crash keeps the backing and drops the handle. */
export class MemoryStorage implements ReplicaStorage {
  readonly backing: MemoryBacking;
  transactions = 0;

  constructor(backing: MemoryBacking = new MemoryBacking()) {
    this.backing = backing;
  }

  loadDurable(): DurableState {
    const b = this.backing;
    return {
      promised: b.promised,
      decidedThrough: b.decidedThrough,
      entries: [...b.entries.values()].sort((x, y) => x.slot - y.slot),
      compactedThrough: b.compactedThrough,
      snapshot: b.snapshot,
      baseConfig: b.baseConfig,
      epoch: b.epoch,
      fenced: b.fenced,
      incarnation: b.incarnation,
      quiet: b.quiet,
      readSeqReserved: b.readSeqReserved,
    };
  }

  persist(delta: PersistDelta): void {
    validateDelta(delta);
    this.transactions += 1;
    const b = this.backing;
    if (delta.promised) b.promised = delta.promised;
    for (const e of delta.entries) b.entries.set(e.slot, e);
    if (delta.decidedThrough !== undefined) b.decidedThrough = delta.decidedThrough;
    if (delta.snapshot) b.snapshot = delta.snapshot;
    if (delta.baseConfig) b.baseConfig = delta.baseConfig;
    if (delta.epoch !== undefined) b.epoch = delta.epoch;
    if (delta.fenced !== undefined) b.fenced = delta.fenced;
    if (delta.incarnation !== undefined) b.incarnation = delta.incarnation;
    if (delta.quiet) b.quiet = delta.quiet;
    if (delta.readSeqReserved !== undefined) b.readSeqReserved = delta.readSeqReserved;
    if (delta.compactThrough !== undefined) {
      for (const slot of [...b.entries.keys()]) if (slot <= delta.compactThrough) b.entries.delete(slot);
      b.compactedThrough = Math.max(b.compactedThrough, delta.compactThrough);
    }
  }

  clear(): void {
    const b = this.backing;
    const identity = b.meta.get('identity');
    b.promised = ZERO_BALLOT;
    b.decidedThrough = 0;
    b.compactedThrough = 0;
    b.snapshot = null;
    b.baseConfig = null;
    b.epoch = 0;
    b.fenced = false;
    b.incarnation = 1;
    b.quiet = null;
    b.readSeqReserved = 0;
    b.entries.clear();
    b.meta.clear();
    if (identity !== undefined) b.meta.set('identity', identity);
  }

  readMeta(key: string): string | undefined {
    return this.backing.meta.get(key);
  }

  writeMeta(key: string, value: string): void {
    this.backing.meta.set(key, value);
  }
}

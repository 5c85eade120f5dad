import { type Ballot, type ReplicaId, ZERO_BALLOT } from './ballot.ts';
import type { Command } from './command.ts';
import type { ConfigurationAt } from './configuration.ts';

/** One accepted slot: the value an acceptor stored and the ballot it stored it at. */
export interface Entry {
  readonly slot: number;
  readonly ballot: Ballot;
  readonly command: Command;
}

/** A state machine snapshot: the serialised state after applying every slot through `slot`. */
export interface Snapshot {
  readonly slot: number;
  readonly data: string;
}

/**
 * Everything an acceptor must keep across a crash, and nothing else:
 * the ballot it promised, its accepted entries, how far it knows the log is
 * decided, and, once the log prefix is compacted, through which slot entries
 * were dropped and the snapshot that replaces them. Hosts store this and hand
 * it back on restart.
 */
export interface DurableState {
  readonly promised: Ballot;
  readonly decidedThrough: number;
  readonly entries: Iterable<Entry>;
  /** Entries through this slot were dropped (all decided); 0 when nothing was. */
  readonly compactedThrough?: number;
  /** The latest snapshot, covering at least every compacted slot (absent for a logger, which keeps no state machine). */
  readonly snapshot?: Snapshot | null;
  /** The configuration in effect after `compactedThrough` (absent: the host's bootstrap configuration, never changed). */
  readonly baseConfig?: ConfigurationAt | null;
  /** The epoch this replica belongs to (0 until a minority force-start). */
  readonly epoch?: number;
  /** This replica heard from a later epoch: its history was forked off; it does nothing until rebuilt. */
  readonly fenced?: boolean;
  /** Which life of this replica this is (absent: 1); a rebuild starts a new one. */
  readonly incarnation?: number;
  /** The last time this replica went quiet: whom it followed (itself, if it led) and at which ballot. */
  readonly quiet?: QuietRecord | null;
  /**
   * Read nonces (`readSeq`) this replica reserved: every nonce it ever sent is
   * at most this (absent: 0). A new process starts above it, so answers sent to
   * an earlier life of the same leader (a quiet restart reuses its ballot) can
   * never confirm a read of this one.
   */
  readonly readSeqReserved?: number;
}

/**
 * Stored when a replica goes quiet, so that one restarted after an
 * eviction while quiet can come back quiet instead of starting an
 * election: see `Replica`'s constructor for when it may.
 */
export interface QuietRecord {
  readonly leaderId: ReplicaId;
  readonly ballot: Ballot;
  /** The epoch it went quiet in (a minority force-start since means a new history: no restore). */
  readonly epoch: number;
}

export const EMPTY_DURABLE_STATE: DurableState = Object.freeze({
  promised: ZERO_BALLOT,
  decidedThrough: 0,
  entries: [],
  compactedThrough: 0,
  snapshot: null,
  baseConfig: null,
});

/**
 * An acceptor's log: slots start at 1; every slot up to `decidedThrough` is
 * decided and present. Writes are remembered until the host takes them to
 * persist (`takeDirty`).
 */
export class AcceptorLog {
  private readonly entries = new Map<number, Entry>();
  private dirty = new Map<number, Entry>();
  private decided = 0;
  private decidedDirty = false;
  private last = 0;
  private compacted = 0;
  private compactedDirty = false;

  constructor(state: DurableState) {
    this.compacted = state.compactedThrough ?? 0;
    this.last = this.compacted;
    for (const e of state.entries) {
      if (e.slot <= this.compacted) continue; // a row the compaction did not get to delete
      this.entries.set(e.slot, e);
      if (e.slot > this.last) this.last = e.slot;
    }
    this.decided = state.decidedThrough;
    if (this.decided < this.compacted) throw new Error(`log: restored decidedThrough ${this.decided} is below the compacted prefix ${this.compacted}`);
    for (let s = this.compacted + 1; s <= this.decided; s++) {
      if (!this.entries.has(s)) throw new Error(`log: restored decidedThrough ${this.decided} but slot ${s} is missing`);
    }
  }

  /** The first slot still held as an entry (every slot before it was decided and compacted away). */
  get firstSlot(): number {
    return this.compacted + 1;
  }

  get compactedThrough(): number {
    return this.compacted;
  }

  /** Drop every entry through `through` (all decided, and covered by a snapshot or not needed). */
  compact(through: number): void {
    if (through <= this.compacted) return;
    if (through > this.decided) throw new Error(`log: cannot compact through ${through}: only ${this.decided} is decided`);
    for (let s = this.compacted + 1; s <= through; s++) {
      this.entries.delete(s);
      this.dirty.delete(s);
    }
    this.compacted = through;
    this.compactedDirty = true;
  }

  /** A snapshot through `slot` replaces our prefix: everything through it is decided and dropped. */
  installSnapshot(slot: number): void {
    if (slot <= this.compacted) return;
    for (const s of [...this.entries.keys()]) {
      if (s <= slot) this.entries.delete(s);
    }
    for (const s of [...this.dirty.keys()]) {
      if (s <= slot) this.dirty.delete(s);
    }
    this.compacted = slot;
    this.compactedDirty = true;
    if (slot > this.decided) {
      this.decided = slot;
      this.decidedDirty = true;
    }
    if (slot > this.last) this.last = slot;
  }

  get decidedThrough(): number {
    return this.decided;
  }

  /** The highest slot holding an entry (0 when empty). */
  get lastSlot(): number {
    return this.last;
  }

  get(slot: number): Entry | undefined {
    return this.entries.get(slot);
  }

  set(entry: Entry): void {
    if (entry.slot <= this.decided) {
      throw new Error(`log: slot ${entry.slot} is decided (decidedThrough ${this.decided}) and cannot be rewritten`);
    }
    if (!(entry.slot >= 1 && Number.isInteger(entry.slot))) throw new Error(`log: bad slot ${entry.slot}`);
    this.entries.set(entry.slot, entry);
    this.dirty.set(entry.slot, entry);
    if (entry.slot > this.last) this.last = entry.slot;
  }

  markDecidedThrough(slot: number): void {
    if (slot <= this.decided) return;
    for (let s = Math.max(this.decided, this.compacted) + 1; s <= slot; s++) {
      if (!this.entries.has(s)) throw new Error(`log: cannot decide through ${slot}: slot ${s} is missing`);
    }
    this.decided = slot;
    this.decidedDirty = true;
  }

  /** Entries from `from` through `to` inclusive that are present, in slot order. */
  range(from: number, to: number): Entry[] {
    const out: Entry[] = [];
    for (let s = Math.max(1, from); s <= to; s++) {
      const e = this.entries.get(s);
      if (e) out.push(e);
    }
    return out;
  }

  hasDirty(): boolean {
    return this.dirty.size > 0 || this.decidedDirty || this.compactedDirty;
  }

  /** Hands the writes since the last call to the host and forgets them. */
  takeDirty(): { entries: Entry[]; decidedThrough: number | undefined; compactThrough: number | undefined } {
    const entries = [...this.dirty.values()].sort((a, b) => a.slot - b.slot);
    const decidedThrough = this.decidedDirty ? this.decided : undefined;
    const compactThrough = this.compactedDirty ? this.compacted : undefined;
    this.dirty = new Map();
    this.decidedDirty = false;
    this.compactedDirty = false;
    return { entries, decidedThrough, compactThrough };
  }
}

import { type Ballot, ZERO_BALLOT } from './ballot.ts';
import type { Command } from './command.ts';

/** One accepted slot: the value an acceptor stored and the ballot it stored it at. */
export interface Entry {
  readonly slot: number;
  readonly ballot: Ballot;
  readonly command: Command;
}

/**
 * Everything an acceptor must keep across a crash, and nothing else:
 * the ballot it promised, its accepted entries, and how far it knows the log
 * is decided. Hosts store this and hand it back on restart.
 */
export interface DurableState {
  readonly promised: Ballot;
  readonly decidedIndex: number;
  readonly entries: Iterable<Entry>;
}

export const EMPTY_DURABLE_STATE: DurableState = Object.freeze({
  promised: ZERO_BALLOT,
  decidedIndex: 0,
  entries: [],
});

/**
 * An acceptor's log: slots start at 1; every slot up to `decidedIndex` is
 * decided and present. Writes are remembered until the host takes them to
 * persist (`takeDirty`).
 */
export class AcceptorLog {
  private readonly entries = new Map<number, Entry>();
  private dirty = new Map<number, Entry>();
  private decided = 0;
  private decidedDirty = false;
  private last = 0;

  constructor(state: DurableState) {
    for (const e of state.entries) {
      this.entries.set(e.slot, e);
      if (e.slot > this.last) this.last = e.slot;
    }
    this.decided = state.decidedIndex;
    for (let s = 1; s <= this.decided; s++) {
      if (!this.entries.has(s)) throw new Error(`log: restored decidedIndex ${this.decided} but slot ${s} is missing`);
    }
  }

  get decidedIndex(): number {
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
      throw new Error(`log: slot ${entry.slot} is decided (decidedIndex ${this.decided}) and cannot be rewritten`);
    }
    if (!(entry.slot >= 1 && Number.isInteger(entry.slot))) throw new Error(`log: bad slot ${entry.slot}`);
    this.entries.set(entry.slot, entry);
    this.dirty.set(entry.slot, entry);
    if (entry.slot > this.last) this.last = entry.slot;
  }

  markDecidedThrough(slot: number): void {
    if (slot <= this.decided) return;
    for (let s = this.decided + 1; s <= slot; s++) {
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
    return this.dirty.size > 0 || this.decidedDirty;
  }

  /** Hands the writes since the last call to the host and forgets them. */
  takeDirty(): { entries: Entry[]; decidedIndex: number | undefined } {
    const entries = [...this.dirty.values()].sort((a, b) => a.slot - b.slot);
    const decidedIndex = this.decidedDirty ? this.decided : undefined;
    this.dirty = new Map();
    this.decidedDirty = false;
    return { entries, decidedIndex };
  }
}

import type { ReplicaId } from './ballot.ts';
import type { ReadState } from './ready.ts';

// Read-index (etcd-raft's read_only.go): a leader serves a linearizable read
// once a quorum confirmed, after the read was asked, that it still leads; the
// read may then be served from any state that has applied the decided prefix
// the leader had when the read was asked.

/** Read nonces reserved per durable write: one extra stored field every this many confirmation broadcasts. */
export const READ_SEQ_BLOCK = 65_536;

interface PendingRead {
  readonly readId: string;
  /** Where the leader's decided prefix ended when the read was asked: serve once the state machine applied through it. */
  readonly decidedThrough: number;
  /** The nonce of the first heartbeat broadcast sent after the read was asked: only answers echoing it (or later) confirm. */
  readonly seq: number;
}

/**
 * A leader's reads in flight. A heartbeat broadcast carries the read nonce
 * (`seq`) and answers echo it, so a read is confirmed only by answers to a
 * broadcast sent after it was asked. Nonces are unique across the lives of
 * a replica: they are reserved durably, a block at a time, before one is sent
 * (the reservation rides in the same Ready, persisted before its messages
 * leave). A replica restarted quiet leads again at its old ballot: answers
 * still on their way to its previous life carry that ballot, and only a nonce
 * above all of that life's keeps them from confirming this life's reads.
 */
export class ReadIndex {
  /** Reads asked before the leader decided a slot of its own ballot (its opening no-op): their read index is not known yet. */
  private waiting: string[] = [];
  private pending: PendingRead[] = [];
  private confirmed: ReadState[] = [];
  /** The nonce heartbeats carry now. */
  private seqNow: number;
  /** The nonce of the last broadcast sent for reads. */
  private seqBroadcast: number;
  /** Nonces through this one are durably reserved; none above it has been sent. */
  private seqReserved: number;
  private reservationDirty = false;

  /** `reservedThrough`: the stored reservation; a new life starts above every nonce an earlier one may have sent. */
  constructor(reservedThrough: number) {
    this.seqNow = this.seqBroadcast = this.seqReserved = reservedThrough;
  }

  /** The nonce a heartbeat carries now. */
  get seq(): number {
    return this.seqNow;
  }

  /** Reads asked and not yet confirmed or dropped (going quiet waits for them). */
  get inFlight(): boolean {
    return this.pending.length > 0 || this.waiting.length > 0;
  }

  /**
   * A read asked of the leader, whose decided prefix ends at `decidedThrough` and whose
   * opening slot is `openingSlot`. True if it now waits for a confirmation (the
   * caller confirms what it can, `confirm`).
   */
  request(readId: string, decidedThrough: number, openingSlot: number): boolean {
    if (decidedThrough < openingSlot) {
      this.waiting.push(readId);
      return false;
    }
    this.pending.push({ readId, decidedThrough, seq: this.seqBroadcast + 1 });
    return true;
  }

  /**
   * The leader decided through `through`, past its opening slot: reads that
   * waited for it take `through` as their read index. True if there were any.
   */
  openingDecided(through: number): boolean {
    if (this.waiting.length === 0) return false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const readId of waiting) this.pending.push({ readId, decidedThrough: through, seq: this.seqBroadcast + 1 });
    return true;
  }

  /**
   * Reads asked since the last broadcast need one of their own: true if the
   * leader must broadcast heartbeats now (carrying the new `seq`, reserved).
   */
  takeBroadcast(): boolean {
    const last = this.pending.at(-1);
    if (!last || last.seq <= this.seqBroadcast) return false;
    if (last.seq > this.seqReserved) {
      this.seqReserved = last.seq + READ_SEQ_BLOCK - 1;
      this.reservationDirty = true;
    }
    this.seqNow = last.seq;
    this.seqBroadcast = last.seq;
    return true;
  }

  /** Confirm, in order, the reads whose nonce was echoed by a quorum (`echoed(seq)`: who echoed it; `isQuorum` judges them). */
  confirm(echoed: (seq: number) => ReadonlySet<ReplicaId>, isQuorum: (acks: ReadonlySet<ReplicaId>) => boolean): void {
    while (this.pending.length > 0) {
      const r = this.pending[0]!;
      if (!isQuorum(echoed(r.seq))) return;
      this.pending.shift();
      this.confirmed.push({ readId: r.readId, decidedThrough: r.decidedThrough });
    }
  }

  /** Leadership ended (or begins anew): the ids of every read not confirmed, which are dropped. */
  abandon(): string[] {
    const dropped = [...this.waiting, ...this.pending.map((r) => r.readId)];
    this.waiting = [];
    this.pending = [];
    return dropped;
  }

  /** Something for the next Ready: confirmed reads, or a reservation to persist. */
  get hasReady(): boolean {
    return this.confirmed.length > 0 || this.reservationDirty;
  }

  /** The reads confirmed since the last call (for the Ready). */
  takeConfirmed(): ReadState[] {
    const out = this.confirmed;
    this.confirmed = [];
    return out;
  }

  /** Nonces reserved through this one, if that changed since the last call (persist it before sending). */
  takeReservation(): number | undefined {
    if (!this.reservationDirty) return undefined;
    this.reservationDirty = false;
    return this.seqReserved;
  }

  get reservationPending(): boolean {
    return this.reservationDirty;
  }
}

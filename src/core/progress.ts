import type { ReplicaId } from './ballot.ts';

// Progress tracking (etcd-raft's tracker/): what a leader knows of every other
// acceptor, and the one rule for whether an acceptor is live.

/** A leader's knowledge of one other acceptor. */
export interface Progress {
  /** Where its decided prefix ended, as it last reported. */
  decidedThrough: number;
  /** Every slot in (decidedThrough, ackedThrough] was acknowledged at our ballot: it can learn those decisions itself. */
  ackedThrough: number;
  /** It answered since the last check-quorum (reset by each check). */
  recentActive: boolean;
  /** The highest read nonce it echoed (read-index.ts). */
  readSeqAcked: number;
  /** Catch-up: the last slot sent to it, and when. */
  catchupThrough: number;
  catchupTick: number;
  /** The last tick it answered us. */
  lastReplyTick: number;
  /** When we last sent it a snapshot (-1: never). */
  snapshotTick: number;
  /** The incarnation this knowledge is about: a rebuilt replica starts from nothing. */
  readonly incarnation: number;
}

/** Knowledge of an acceptor we have not heard from yet; it counts as live from `nowTicks` (it had no chance to answer). */
export function freshProgress(incarnation: number, nowTicks: number): Progress {
  return {
    incarnation,
    decidedThrough: 0,
    ackedThrough: 0,
    recentActive: false,
    readSeqAcked: 0,
    catchupThrough: 0,
    catchupTick: 0,
    lastReplyTick: nowTicks,
    snapshotTick: -1,
  };
}

/** Every slot through this one it holds, or will learn is decided on our next message (it acknowledged it at our ballot). */
export function knownThrough(pr: Progress): number {
  return Math.max(pr.decidedThrough, pr.ackedThrough);
}

/**
 * A leader's progress of every other acceptor of the configurations it
 * knows. `isLive` is the one definition of liveness every leader decision
 * uses (fail-back, step-down, configuration changes, compaction, the status's
 * blocked writes): an acceptor is live if it answered within an election
 * timeout. Check-quorum has its own, stricter window: `recentActive`, reset
 * at every check.
 */
export class ProgressTracker {
  private readonly byId = new Map<ReplicaId, Progress>();
  /** An acceptor that answered fewer than this many ticks ago is live (the election timeout). */
  private readonly liveTicks: number;

  constructor(liveTicks: number) {
    this.liveTicks = liveTicks;
  }

  get(id: ReplicaId): Progress | undefined {
    return this.byId.get(id);
  }

  set(id: ReplicaId, pr: Progress): void {
    this.byId.set(id, pr);
  }

  [Symbol.iterator](): IterableIterator<[ReplicaId, Progress]> {
    return this.byId.entries();
  }

  values(): IterableIterator<Progress> {
    return this.byId.values();
  }

  /** Forget everything (leadership ended, or a new one begins). */
  clear(): void {
    this.byId.clear();
  }

  /** Fresh knowledge of each of `peers`, and of nobody else. */
  reset(peers: readonly ReplicaId[], incarnationOf: (id: ReplicaId) => number, nowTicks: number): void {
    this.byId.clear();
    for (const p of peers) this.byId.set(p, freshProgress(incarnationOf(p), nowTicks));
  }

  /**
   * The configurations changed: forget acceptors no longer in any of them,
   * and start afresh on new ones and on rebuilt ones (a new incarnation).
   */
  sync(peers: readonly ReplicaId[], incarnationOf: (id: ReplicaId) => number, nowTicks: number): void {
    const ids = new Set(peers);
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
    for (const id of peers) {
      const pr = this.byId.get(id);
      const incarnation = incarnationOf(id);
      if (!pr || pr.incarnation !== incarnation) this.byId.set(id, freshProgress(incarnation, nowTicks));
    }
  }

  /** It answered within an election timeout. */
  isLive(pr: Progress, nowTicks: number): boolean {
    return nowTicks - pr.lastReplyTick < this.liveTicks;
  }

  /** `self` and every live acceptor. */
  liveSet(self: ReplicaId, nowTicks: number): Set<ReplicaId> {
    const live = new Set<ReplicaId>([self]);
    for (const [id, pr] of this.byId) if (this.isLive(pr, nowTicks)) live.add(id);
    return live;
  }

  /** Live, and holds (or will learn) every slot through `decidedThrough`. */
  caughtUp(id: ReplicaId, decidedThrough: number, nowTicks: number): boolean {
    const pr = this.byId.get(id);
    return pr !== undefined && this.isLive(pr, nowTicks) && knownThrough(pr) >= decidedThrough;
  }

  /** An answer at our ballot: it is active and live, and holds everything through the decided prefix it reports. */
  recordReply(pr: Progress, decidedThrough: number, nowTicks: number): void {
    pr.recentActive = true;
    pr.lastReplyTick = nowTicks;
    pr.decidedThrough = Math.max(pr.decidedThrough, decidedThrough);
    pr.ackedThrough = Math.max(pr.ackedThrough, pr.decidedThrough);
  }

  /** Check-quorum: `self` and every acceptor that answered since the last check; the window starts over. */
  takeRecentlyActive(self: ReplicaId): Set<ReplicaId> {
    const active = new Set<ReplicaId>([self]);
    for (const [id, pr] of this.byId) {
      if (pr.recentActive) active.add(id);
      pr.recentActive = false;
    }
    return active;
  }

  /** A fresh check-quorum window, as if everyone had just answered (a leader waking from quiet). */
  markAllActive(nowTicks: number): void {
    for (const pr of this.byId.values()) {
      pr.recentActive = true;
      pr.lastReplyTick = nowTicks;
    }
  }

  /** `self` and every acceptor that echoed read nonce `seq` or a later one (read-index.ts). */
  echoed(self: ReplicaId, seq: number): Set<ReplicaId> {
    const acks = new Set<ReplicaId>([self]);
    for (const [id, pr] of this.byId) if (pr.readSeqAcked >= seq) acks.add(id);
    return acks;
  }
}

import { type Ballot, type ReplicaId, ballotEquals } from './ballot.ts';
import type { ClientCommand } from './command.ts';
import type { FlowLimits } from './flow-control.ts';
import type { AcceptorLog, Entry } from './log.ts';
import type { AcceptMessage, Message } from './messages.ts';
import { type Progress, freshProgress, knownThrough } from './progress.ts';
import type { ReplicaTiming } from './replica-options.ts';
import type { NearestQuorum } from './thrifty.ts';
import { TravellingBatches } from './travelling-batches.ts';

// Replication (phase 2): a leader's accept batches, their acknowledgements and
// retransmission, and catching up acceptors that lag; on the acceptor's side,
// storing an accepted run and learning which slots are decided.

/** What replication needs of the replica it runs in. */
export interface ReplicationContext {
  readonly id: ReplicaId;
  readonly log: AcceptorLog;
  readonly timing: ReplicaTiming;
  /** The current tick. */
  now(): number;
  /** The leader's own ballot. */
  ballot(): Ballot;
  /** Every other member of any configuration in the chain: phase-2 traffic goes to all of them. */
  peers(): readonly ReplicaId[];
  /** A decision at `slot` needs a phase-2 quorum of every configuration that may govern it. */
  isDecisionQuorum(slot: number, acks: ReadonlySet<ReplicaId>): boolean;
  /** A passive replica (a read replica) of the configuration in effect. */
  isPassive(id: ReplicaId): boolean;
  /** Store an entry in our log (and note a configuration command in it). */
  writeEntry(e: Entry): void;
  send(m: Message): void;
  /** The acceptor needs slots we compacted: send it our latest snapshot (snapshot-shipping.ts). */
  sendSnapshot(to: ReplicaId, pr: Progress): void;
  /** Thrifty replication: the followers a new batch goes to first (thrifty.ts), or null to send it to every peer. */
  nearestQuorum(): NearestQuorum | null;
  /** Whether a snapshot newer than slot `after` exists to send (snapshot-shipping.ts). */
  snapshotAfter(after: number): boolean;
}

/** Per-slot bookkeeping of a leader for a slot it proposed and has not yet seen decided. */
interface PendingSlot {
  readonly acks: Set<ReplicaId>;
  sentTick: number;
}

/** An accept batch in flight. */
interface Batch {
  readonly firstSlot: number;
  readonly lastSlot: number;
  /**
   * Thrifty replication: the followers it went to, and the tick at which it
   * goes to the others if it is still undecided (the hedge); null once it has
   * gone to every peer.
   */
  hedge: { readonly sentTo: ReadonlySet<ReplicaId>; readonly atTick: number } | null;
  /**
   * A new leader's opening batch (its re-proposals and opening no-op): it does
   * not take a place in the pipeline, so the first writes of a leadership go
   * out beside it instead of a round trip later (at depth 1 they waited for it).
   */
  readonly opening: boolean;
}

/**
 * A leader's phase 2. Queued proposals go out as accept batches (of up to
 * `batchMax` commands each), up to the pipeline depth of batches in flight
 * (the flow limits); acceptors acknowledge runs of slots; a slot is decided
 * once a phase-2 quorum acknowledged it, and the decided prefix grows over the
 * contiguous decided slots. Unacknowledged accepts are sent again; an
 * acceptor that reports less than we decided is caught up from the log (or
 * sent a snapshot), skipping what is still travelling to it.
 */
export class Replication {
  private readonly ctx: ReplicationContext;
  /** Client commands (and configuration changes) waiting for a slot. */
  private proposals: ClientCommand[] = [];
  /** The next free slot. */
  private next = 0;
  private pending = new Map<number, PendingSlot>();
  /** Decided slots above the decided prefix (waiting for the slots before them). */
  private decidedAbove = new Set<number>();
  /** Accept batches sent and not yet decided, oldest first. */
  private batches: Batch[] = [];
  /** Per acceptor, the accept batches sent to it at `ballot` and not yet acknowledged. */
  private travelling = new Map<ReplicaId, { ballot: Ballot; batches: TravellingBatches }>();
  /** Pipeline depth and batch size; the host's flow controller may change them (flow-control.ts). */
  flow: FlowLimits;

  constructor(ctx: ReplicationContext, flow: FlowLimits) {
    this.ctx = ctx;
    this.flow = flow;
  }

  /** The next free slot (a leader's proposals get slots from here on). */
  get nextSlot(): number {
    return this.next;
  }

  /** Commands waiting for a slot. */
  get queued(): number {
    return this.proposals.length;
  }

  /** Slots proposed and not yet decided. */
  get undecided(): number {
    return this.pending.size;
  }

  /** Accept batches in flight. */
  get inflight(): number {
    return this.batches.length;
  }

  hasQueued(kind: ClientCommand['kind']): boolean {
    return this.proposals.some((c) => c.kind === kind);
  }

  /** A new leadership: nothing queued, pending or in flight (`reserveThrough` then says where proposals start). */
  begin(): void {
    this.next = 0;
    this.proposals = [];
    this.pending = new Map();
    this.decidedAbove = new Set();
    this.batches = [];
  }

  /** Leadership ended: the ids of the commands that never got a slot (their callers may retry anywhere). */
  abandon(): string[] {
    const dropped = this.proposals.map((c) => c.id);
    this.proposals = [];
    this.pending = new Map();
    this.decidedAbove = new Set();
    this.batches = [];
    return dropped;
  }

  /** Slots through `slot` are taken (a new leader's re-proposals and opening no-op, or a restored log): proposals go after it. */
  reserveThrough(slot: number): void {
    this.next = slot + 1;
  }

  queue(command: ClientCommand): void {
    this.proposals.push(command);
  }

  /** Slot `slot` holds our value and waits for acknowledgements (a new leader's re-proposals). */
  track(slot: number): void {
    this.pending.set(slot, { acks: new Set(), sentTick: this.ctx.now() });
  }

  /** Slot `slot` is known decided (a new leader learned it from a promise). */
  markDecided(slot: number): void {
    this.decidedAbove.add(slot);
  }

  /** A new leader's first batches: every slot from `first` to the last one it wrote, in batches of `batchMax`, to every peer. */
  openBatches(first: number): void {
    for (let f = first; f < this.next; f += this.ctx.timing.batchMax) {
      const last = Math.min(this.next - 1, f + this.ctx.timing.batchMax - 1);
      this.batches.push({ firstSlot: f, lastSlot: last, hedge: null, opening: true });
      this.broadcastAccept(f, last, null);
    }
  }

  /**
   * Queued proposals go out as accept batches, as many as the in-flight window
   * allows (none while `paused`: a leadership hand-over).
   */
  flush(paused: boolean): void {
    if (paused) return; // writes wait while leadership is being handed over
    const ctx = this.ctx;
    const flow = this.flow;
    let nearest: NearestQuorum | null = null;
    let picked = false;
    let opening = 0;
    for (const b of this.batches) if (b.opening) opening += 1;
    while (this.proposals.length > 0 && this.batches.length - opening < flow.inflightMax) {
      // Batch window: while a batch is in flight, a short queue waits for more commands
      // (the next decided batch flushes again, so nothing waits forever).
      if (this.batches.length - opening > 0 && this.proposals.length < flow.batchMin) break;
      if (!picked) {
        // Once per flush: every batch of it goes to the same followers. Beside a new leader's opening
        // batch, to every follower: none has answered this leadership yet, and the nearest by old
        // measurements may be the leader that just failed.
        nearest = opening > 0 ? null : ctx.nearestQuorum();
        picked = true;
      }
      const batch = this.proposals.splice(0, flow.batchMax);
      const first = this.next;
      const ballot = ctx.ballot();
      for (const command of batch) {
        ctx.writeEntry({ slot: this.next, ballot, command });
        this.pending.set(this.next, { acks: new Set(), sentTick: ctx.now() });
        this.next += 1;
      }
      const last = this.next - 1;
      const sentTo = nearest ? new Set(nearest.to) : null;
      this.batches.push({ firstSlot: first, lastSlot: last, hedge: nearest && sentTo ? { sentTo, atTick: ctx.now() + nearest.hedgeAfterTicks } : null, opening: false });
      this.broadcastAccept(first, last, sentTo);
    }
  }

  /** Send slots `first..last` to every peer in `only` (every peer when null), except a passive one while proposals queue. */
  private broadcastAccept(first: number, last: number, only: ReadonlySet<ReplicaId> | null, skip: ReadonlySet<ReplicaId> | null = null): void {
    const ctx = this.ctx;
    const commands = ctx.log.range(first, last).map((e) => e.command);
    if (commands.length !== last - first + 1) throw new Error(`replica ${ctx.id}: accept run ${first}..${last} has holes`);
    const ballot = ctx.ballot();
    for (const to of ctx.peers()) {
      if (this.throttled(to) || (only !== null && !only.has(to)) || skip?.has(to)) continue;
      ctx.send({ type: 'accept', from: ctx.id, to, ballot, firstSlot: first, commands, decidedThrough: ctx.log.decidedThrough });
      this.travellingTo(to).sent(first, last, ctx.now());
    }
  }

  /**
   * Thrifty replication's hedge: a batch still undecided at its hedge tick
   * goes to every peer it did not go to (a nearest follower is slow, crashed
   * or cut off; the others hold the rest of the quorum).
   */
  hedge(): void {
    const now = this.ctx.now();
    for (const b of this.batches) {
      if (b.hedge === null || now < b.hedge.atTick) continue;
      const sentTo = b.hedge.sentTo;
      b.hedge = null;
      let undecided = false;
      for (let s = b.firstSlot; s <= b.lastSlot && !undecided; s++) undecided = this.pending.has(s);
      if (undecided) this.broadcastAccept(b.firstSlot, b.lastSlot, null, sentTo);
    }
  }

  /** Ticks until the earliest hedge is due (at least 1), or null when none waits. */
  ticksUntilHedge(): number | null {
    let at = Number.POSITIVE_INFINITY;
    for (const b of this.batches) if (b.hedge !== null && b.hedge.atTick < at) at = b.hedge.atTick;
    return at === Number.POSITIVE_INFINITY ? null : Math.max(1, at - this.ctx.now());
  }

  /** The batches on their way to `to` at our current ballot (travelling-batches.ts). */
  private travellingTo(to: ReplicaId): TravellingBatches {
    const ballot = this.ctx.ballot();
    const t = this.travelling.get(to);
    if (t && ballotEquals(t.ballot, ballot)) return t.batches;
    const batches = new TravellingBatches();
    this.travelling.set(to, { ballot, batches });
    return batches;
  }

  /** `from` acknowledged `slot` (it persisted our value there); a phase-2 quorum of acknowledgements decides it. */
  ack(slot: number, from: ReplicaId): void {
    const p = this.pending.get(slot);
    if (!p) return; // decided already, or not ours
    p.acks.add(from);
    if (this.ctx.isDecisionQuorum(slot, p.acks)) {
      this.pending.delete(slot);
      this.decidedAbove.add(slot);
    }
  }

  /**
   * How far the decided prefix reaches now, from `decidedThrough` on: the slots
   * after it that are decided, contiguously. Rounds wholly decided leave the
   * pipeline.
   */
  takeDecidedPrefix(decidedThrough: number): number {
    let through = decidedThrough;
    while (this.decidedAbove.has(through + 1)) {
      this.decidedAbove.delete(through + 1);
      through += 1;
    }
    if (through > decidedThrough) while (this.batches.length > 0 && this.batches[0]!.lastSlot <= through) this.batches.shift();
    return through;
  }

  /** A configuration change was decided: later slots may now need fewer acknowledgements. */
  recountPending(): void {
    for (const [slot, p] of this.pending) {
      if (this.ctx.isDecisionQuorum(slot, p.acks)) {
        this.pending.delete(slot);
        this.decidedAbove.add(slot);
      }
    }
  }

  /** Accepts not acknowledged within `retransmitTicks` go again, to the acceptors that did not answer. */
  retransmit(): void {
    const ctx = this.ctx;
    const now = ctx.now();
    const stale: number[] = [];
    for (const [slot, p] of this.pending) {
      if (now - p.sentTick >= ctx.timing.retransmitTicks) {
        stale.push(slot);
        p.sentTick = now;
      }
    }
    if (stale.length === 0) return;
    stale.sort((a, b) => a - b);
    const ballot = ctx.ballot();
    for (const to of ctx.peers()) {
      if (this.throttled(to)) continue;
      let runStart = -1;
      let runEnd = -1;
      const flush = (): void => {
        if (runStart < 0) return;
        const commands = ctx.log.range(runStart, runEnd).map((e) => e.command);
        ctx.send({ type: 'accept', from: ctx.id, to, ballot, firstSlot: runStart, commands, decidedThrough: ctx.log.decidedThrough });
        runStart = -1;
      };
      for (const s of stale) {
        if (this.pending.get(s)!.acks.has(to)) {
          flush();
          continue;
        }
        if (runStart >= 0 && s === runEnd + 1 && s - runStart < ctx.timing.batchMax) {
          runEnd = s;
        } else {
          flush();
          runStart = s;
          runEnd = s;
        }
      }
      flush();
    }
  }

  /**
   * Send decided entries to an acceptor that reported a shorter decided prefix
   * than ours: up to `inflightMax` catch-up messages in flight, restarting from
   * its reported position when nothing was sent for `retransmitTicks`.
   */
  catchUp(to: ReplicaId, pr: Progress): void {
    if (this.throttled(to)) return;
    const ctx = this.ctx;
    const now = ctx.now();
    const timing = ctx.timing;
    const decided = ctx.log.decidedThrough;
    // Slots it acknowledged at our ballot it will mark decided on our next message by itself;
    // slots in batches still on their way to it need no second copy (unless a batch is overdue).
    const known = this.travellingTo(to).travellingThrough(knownThrough(pr), now, timing.retransmitTicks);
    if (known >= decided) return;
    if (known + 1 < ctx.log.firstSlot) {
      ctx.sendSnapshot(to, pr);
      return;
    }
    const quiet = now - pr.catchupTick >= timing.retransmitTicks;
    let next = quiet || pr.catchupThrough <= known ? known + 1 : pr.catchupThrough + 1;
    const windowEnd = Math.min(decided, known + timing.inflightMax * timing.catchupBatchMax);
    const ballot = ctx.ballot();
    while (next <= windowEnd) {
      const last = Math.min(windowEnd, next + timing.catchupBatchMax - 1);
      const commands = ctx.log.range(next, last).map((e) => e.command);
      if (commands.length !== last - next + 1) throw new Error(`replica ${ctx.id}: decided run ${next}..${last} has holes`);
      ctx.send({ type: 'accept', from: ctx.id, to, ballot, firstSlot: next, commands, decidedThrough: decided });
      pr.catchupThrough = last;
      pr.catchupTick = now;
      next = last + 1;
    }
  }

  /**
   * A replica outside every configuration we know campaigns: it was removed
   * while it could not hear about it. Send it the decided log it lacks (or a
   * snapshot) so it learns the configuration that removed it and goes quiet.
   */
  informOutsider(to: ReplicaId, decidedThrough: number, incarnation: number): void {
    const ctx = this.ctx;
    const log = ctx.log;
    const from = decidedThrough + 1;
    if (from > log.decidedThrough) return;
    if (ctx.snapshotAfter(decidedThrough) && (from < log.firstSlot || log.decidedThrough - decidedThrough > ctx.timing.catchupBatchMax)) {
      ctx.sendSnapshot(to, freshProgress(incarnation, ctx.now()));
      return;
    }
    if (from < log.firstSlot) return;
    const last = Math.min(log.decidedThrough, from + ctx.timing.catchupBatchMax - 1);
    const commands = log.range(from, last).map((e) => e.command);
    ctx.send({ type: 'accept', from: ctx.id, to, ballot: ctx.ballot(), firstSlot: from, commands, decidedThrough: log.decidedThrough });
  }

  /**
   * A passive replica is served after the voters: while proposals queue up
   * behind a full pipeline, it gets no fresh accepts and no catch-up (it
   * catches up once the backlog is gone).
   */
  private throttled(to: ReplicaId): boolean {
    return this.proposals.length > 0 && this.ctx.isPassive(to);
  }
}

/** An acceptor stores the run of an accept it follows: every slot it has not already seen decided. */
export function storeAcceptedRun(m: AcceptMessage, decidedThrough: number, writeEntry: (e: Entry) => void): void {
  m.commands.forEach((command, i) => {
    const slot = m.firstSlot + i;
    if (slot <= decidedThrough) return; // already final here
    writeEntry({ slot, ballot: m.ballot, command });
  });
}

/**
 * The leader at `ballot` says everything through `leaderDecided` is decided:
 * how far that makes this acceptor's decided prefix reach. A slot is decided
 * here only if we hold the leader's own value for it (accepted at `ballot`);
 * otherwise we wait for the leader to catch us up.
 */
export function provenDecidedThrough(log: AcceptorLog, ballot: Ballot, leaderDecided: number): number {
  let through = log.decidedThrough;
  while (through < leaderDecided) {
    const e = log.get(through + 1);
    if (!e) break;
    if (!ballotEquals(e.ballot, ballot)) break;
    through += 1;
  }
  return through;
}

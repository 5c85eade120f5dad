import {
  type ClientCommand,
  type ConfigCommand,
  type Configuration,
  type Entry,
  type FlowLimits,
  type FlowState,
  type Message,
  type OperatorResult,
  type PersistDelta,
  type ProposeResult,
  type QuorumOverride,
  type ReadIndexResult,
  type ReadState,
  type Ready,
  type ReplicaId,
  type ReplicaOptions,
  type ReplicaStatus,
  type Snapshot,
  type StateMachine,
  Replica,
} from '../core/index.ts';
import type { ReplicaStorage } from './storage.ts';

const WORK_MODE_META = 'work-mode';

/** A request refused because this replica already holds `pendingMax` requests waiting for their outcome. */
export interface Overloaded {
  readonly ok: false;
  readonly reason: 'overloaded';
}

/** How a proposal ended, as far as this replica can tell; `Result` is what the state machine's `apply` returned. */
export type ProposalOutcome<Result = unknown> =
  | { readonly kind: 'applied'; readonly result: Result }
  /** Never given a slot: it cannot take effect, so retrying anywhere is safe. */
  | { readonly kind: 'dropped' }
  /** Given a slot, then leadership was lost: it may or may not take effect. */
  | { readonly kind: 'outcome-unknown' };

/** A read-index read is either safe to serve now (the state machine has applied far enough) or dropped. */
export type ReadReadiness = 'ready' | 'dropped';

/**
 * When a replica snapshots its state machine and drops the log prefix
 * (DCF dcf_truncate): every `snapshotEverySlots` applied slots, keeping the
 * last `retainSlots` entries so slightly lagging replicas catch up from the log.
 *
 * `scaleWithState`: once the last snapshot held more records than the interval
 * (keys, idempotency sessions, leases: StateMachine.records), wait as many
 * slots as it held records. A snapshot writes the whole state, so with a fixed
 * interval its cost per write grows with the state (tens of thousands of
 * sessions made every thousandth write stall each replica for about a hundred
 * milliseconds); scaled, a snapshot costs a few records per slot since the
 * last, and the log kept between snapshots stays about as large as the state.
 * Scaled snapshots are also spread over the replicas: the k-th of n (by id)
 * waits k/(2n) longer, so they do not all stop to write the state at the same
 * slot (a follower busy with its snapshot then never holds up a quorum that the
 * others can form, and on one shared thread the pauses come one at a time).
 * The log kept stays under one and a half times the state.
 */
export interface CompactionPolicy {
  readonly snapshotEverySlots: number;
  readonly retainSlots: number;
  readonly scaleWithState?: boolean;
}

/** Hooks for a host that watches every step (the simulator's safety checker; the Durable Object host's log reads). */
export interface ReadyObserver<Result = unknown> {
  /** After a Ready's state is durable, with the number of messages about to leave. Return true to crash here, before they do. */
  afterPersist?(delta: PersistDelta, messages: number): boolean;
  beforeSend?(m: Message): void;
  afterApply?(e: Entry, result: Result): void;
  afterInstall?(snapshot: Snapshot): void;
  /** After the host did everything `rd` asked and advanced the core. */
  afterReady?(rd: Ready): void;
  /**
   * A snapshot through `snapshotSlot` was taken and the log compacted so that
   * it starts at `firstSlot`; the snapshot's transaction comes next. What a
   * host keeps about the slots it applied before the snapshot (and still in
   * the log) must be stored now: a restarted replica replays only what
   * follows the snapshot.
   */
  afterCompact?(firstSlot: number, snapshotSlot: number): void;
}

/**
 * Work an application does only while its replica leads, on the leader's own
 * clock (the KV application's lease expiry: src/kv/lease-keeper.ts). The
 * runner counts the ticks of this life, tells the duties when leadership
 * begins or ends and what was applied, and proposes, as the leader, the
 * commands they say are due. Followers' duties do nothing: no follower reads
 * a clock for them.
 */
export interface LeaderDuties<Result> {
  /** This replica began or stopped leading (in this life: a restarted replica starts not leading). */
  leadership(leading: boolean): void;
  /** An entry was applied at tick `now` (of this life). */
  applied(e: Entry, result: Result, now: number): void;
  /** Commands to propose at tick `now` (called only while leading); a `config` one is a configuration change (Replica.changeConfiguration). */
  due(now: number): ClientCommand[];
  /** Ticks until something falls due (0: now), or null when nothing will. */
  ticksUntilDue(now: number): number | null;
}

/** Several duties as one: each is told everything, and what falls due is theirs in order. */
export function allDuties<Result>(duties: readonly LeaderDuties<Result>[]): LeaderDuties<Result> {
  return {
    leadership: (leading) => duties.forEach((d) => d.leadership(leading)),
    applied: (e, result, now) => duties.forEach((d) => d.applied(e, result, now)),
    due: (now) => duties.flatMap((d) => d.due(now)),
    ticksUntilDue: (now) => {
      let soonest: number | null = null;
      for (const d of duties) {
        const t = d.ticksUntilDue(now);
        if (t !== null && (soonest === null || t < soonest)) soonest = t;
      }
      return soonest;
    },
  };
}

/**
 * Runs a replica's Readies: the synchronous duties of every host of a
 * replica, in the order a Ready demands: persist, send, apply, serve reads,
 * answer dropped requests, advance.
 * The simulator and the Durable Object host both run replicas through this, so
 * what the simulator proves is what production does.
 *
 * It is a host's only road to the core: everything a host asks of the replica
 * (inputs, operator controls, status) goes through a method here, and the
 * application's state is read through `query`. Generic over the application's
 * state machine (`StateMachine<Result>`); the runner never looks inside it.
 */
export class ReadyRunner<Result = unknown, SM extends StateMachine<Result> = StateMachine<Result>> {
  private readonly core: Replica;
  private readonly sm: SM;
  readonly storage: ReplicaStorage;
  private readonly waiters = new Map<string, (o: ProposalOutcome<Result>) => void>();
  private readonly reads = new Map<string, (r: ReadReadiness) => void>();
  private confirmed: ReadState[] = [];
  /**
   * Back-pressure: proposals and linearizable reads that may wait here for
   * their outcome at once; one more is refused (`overloaded`) and never
   * proposed, so nothing refused is applied.
   */
  pendingMax = Number.POSITIVE_INFINITY;
  private observer: ReadyObserver<Result>;
  /** False for a logger: it stores and votes on the log but keeps no state machine. */
  readonly keepsData: boolean;
  private readonly compaction: CompactionPolicy | null;
  /** Ticks of this life (the leader duties' clock). */
  private ticks = 0;
  private duties: LeaderDuties<Result> | null = null;
  /** Whether the duties were last told this replica leads. */
  private dutiesLeading = false;
  /** A leader with duties wakes at least this often: the host clock replays at most four election timeouts at once. */
  private readonly dutiesWakeTicksMax: number;
  /** The latest durable snapshot: what a leader sends to an acceptor that needs compacted slots. */
  private latest: Snapshot | null;
  /** Records the state held when `latest` was taken or installed (CompactionPolicy.scaleWithState). */
  private snapshotRecords = 0;
  /** How much longer than the others this replica waits between scaled snapshots (CompactionPolicy.scaleWithState). */
  private readonly snapshotStagger: number;
  crashed = false;
  /**
   * The core led when this runner last looked. Leadership is often lost in an
   * input (a higher ballot, check-quorum in a tick) that then has nothing to
   * persist or send: comparing with the last drain, not with the role just
   * before the next Ready, is what notices it.
   */
  private leading = false;

  /** `stateMachine`: a fresh, empty one (it is restored from the latest snapshot here). */
  constructor(
    options: ReplicaOptions,
    storage: ReplicaStorage,
    stateMachine: SM,
    observer: ReadyObserver<Result> = {},
    compaction: CompactionPolicy | null = null,
  ) {
    this.storage = storage;
    this.sm = stateMachine;
    this.observer = observer;
    this.compaction = compaction;
    this.dutiesWakeTicksMax = 2 * options.electionTimeoutTicks;
    const durable = storage.loadDurable();
    this.latest = durable.snapshot ?? null;
    // Whether a replica is a logger never changes (the core refuses such changes); new replicas are never loggers.
    const self = options.configuration.members.find((m) => m.id === options.id);
    const ids = options.configuration.members.map((m) => m.id).sort((a, b) => a - b);
    this.snapshotStagger = Math.max(0, ids.indexOf(options.id)) / (2 * Math.max(1, ids.length));
    this.keepsData = self?.role !== 'logger';
    // Recovery: the state machine starts from the snapshot; the core replays decided entries after it.
    if (this.latest && this.keepsData) this.sm.restore(this.latest.data);
    this.snapshotRecords = this.latest && this.keepsData ? this.sm.records : 0;
    this.core = new Replica({ ...options, snapshots: { latest: () => this.latest } }, durable, this.keepsData ? this.sm.appliedThrough : 0);
    const mode = storage.readMeta(WORK_MODE_META);
    if (mode) this.core.setWorkMode(storedWorkMode(JSON.parse(mode) as QuorumOverride));
    this.leading = this.core.currentRole === 'leader'; // restored quiet as leader: nobody waits yet
  }

  /**
   * Minority work mode on (with the survivors and vote_num, starting `epoch`)
   * or off (null). Durable: a replica that restarts keeps the mode.
   */
  setWorkMode(override: QuorumOverride | null, epoch?: number): void {
    this.core.setWorkMode(override, epoch);
    if (override) this.storage.writeMeta(WORK_MODE_META, JSON.stringify(override));
    else this.storage.writeMeta(WORK_MODE_META, '');
  }

  /**
   * Rebuild: forget everything this replica stored and start it blank in
   * `epoch` and `incarnation`. Safe only for a replica whose old state nobody
   * can rely on any more: one fenced by a minority force-start (it never acted
   * in the new epoch), or one whose new incarnation the configuration already
   * names (messages meant for the old one are ignored). The leader then sends
   * it a snapshot and the log.
   */
  static rebuildBlank(storage: ReplicaStorage, epoch: number, incarnation = 1): void {
    storage.clear();
    storage.persist({ entries: [], epoch, fenced: false, incarnation });
  }

  get id(): number {
    return this.core.id;
  }

  // ---------------------------------------------------------------- inputs (then `drain`)

  /** A message from another replica of the stream. */
  step(m: Message): void {
    this.core.step(m);
  }

  /** One unit of logical time has passed. */
  tick(): void {
    this.core.tick();
    this.ticks += 1;
  }

  /** Ticks counted in this life (resumes after a forgiven late wake-up count none). */
  get tickCount(): number {
    return this.ticks;
  }

  /** Let `duties` act while this replica leads (see LeaderDuties); at most one, set before the first input. */
  setLeaderDuties(duties: LeaderDuties<Result>): void {
    this.duties = duties;
    this.dutiesLeading = false;
    this.syncLeadership();
  }

  /** The host could not run this replica for a while: its failure detectors start over (Replica.resume). */
  resume(): void {
    this.core.resume();
  }

  /** Ticks until the core's earliest timer fires, or a leader duty falls due; null when none runs (quiet, or fenced, and no duty). */
  ticksUntilNextTimer(): number | null {
    const core = this.core.ticksUntilNextTimer();
    const due = this.duties && this.dutiesLeading ? this.duties.ticksUntilDue(this.ticks) : null;
    if (due === null) return core;
    const duty = Math.max(1, Math.min(due, this.dutiesWakeTicksMax));
    return core === null ? duty : Math.min(core, duty);
  }

  /** Propose at this replica; `done` (if anyone waits) runs once when the outcome is known here. */
  propose(command: ClientCommand, done?: (o: ProposalOutcome<Result>) => void): ProposeResult | Overloaded {
    if (this.pending() >= this.pendingMax) return { ok: false, reason: 'overloaded' };
    const res = this.core.propose(command);
    if (res.ok && done) this.waiters.set(command.id, done);
    return res;
  }

  /** Propose a configuration change at this replica (the leader); `done` runs once when the outcome is known here. */
  changeConfiguration(command: ConfigCommand, done: (o: ProposalOutcome<Result>) => void): OperatorResult {
    const res = this.core.changeConfiguration(command);
    if (res.ok) this.waiters.set(command.id, done);
    return res;
  }

  /** Start a read-index read; `done('ready')` runs when the state machine may be read for it. */
  readIndex(readId: string, done: (r: ReadReadiness) => void): ReadIndexResult | Overloaded {
    if (this.pending() >= this.pendingMax) return { ok: false, reason: 'overloaded' };
    const res = this.core.readIndex(readId);
    if (res.ok) this.reads.set(readId, done);
    return res;
  }

  /** Proposals and reads waiting here for their outcome. */
  pending(): number {
    return this.waiters.size + this.reads.size;
  }

  /** Give up waiting for a proposal (a caller's timeout); it may still be decided. */
  forgetProposal(commandId: string): void {
    this.waiters.delete(commandId);
  }

  forgetRead(readId: string): void {
    this.reads.delete(readId);
  }

  // ---------------------------------------------------------------- operator controls

  /** Switchover to `target` (Replica.transferLeadership). */
  transferLeadership(target: ReplicaId, timeoutTicks?: number): OperatorResult {
    return this.core.transferLeadership(target, timeoutTicks);
  }

  /** The leader hands over to the best other replica (Replica.stepDown). */
  stepDown(timeoutTicks?: number): OperatorResult {
    return this.core.stepDown(timeoutTicks);
  }

  /** Campaign now, skipping pre-vote (Replica.campaignNow). */
  campaignNow(): OperatorResult {
    return this.core.campaignNow();
  }

  /** Run mode: automatic elections on or off. */
  setAutoElection(on: boolean): void {
    this.core.setAutoElection(on);
  }

  setFlowLimits(limits: FlowLimits): void {
    this.core.setFlowLimits(limits);
  }

  flowLimits(): FlowLimits {
    return this.core.flowLimits();
  }

  flowState(): FlowState {
    return this.core.flowState();
  }

  // ---------------------------------------------------------------- views

  status(): ReplicaStatus {
    return this.core.status();
  }

  /** The configuration in effect (cheaper than `status().configuration`). */
  configuration(): Configuration {
    return this.core.activeConfiguration;
  }

  /** The decided command at `slot`, if this replica still holds it. */
  decidedEntry(slot: number): Entry | undefined {
    return this.core.decidedEntry(slot);
  }

  /**
   * Read the application's state as applied so far; null for a logger, which
   * keeps no state machine. `read` must not change it (only decided commands do).
   */
  query<T>(read: (sm: SM) => T): T | null {
    return this.keepsData ? read(this.sm) : null;
  }

  /** Do everything the core asks until it has nothing more; `send` gets each outgoing message after persistence. */
  drain(send: (m: Message) => void): void {
    this.drainReadies(send);
    if (!this.crashed && this.proposeDuties()) this.drainReadies(send);
    if (!this.crashed && this.compaction && this.maybeCompact(this.compaction.snapshotEverySlots)) this.drainReadies(send);
  }

  /** Tell the duties whether this replica leads, when that changed. */
  private syncLeadership(): void {
    if (!this.duties) return;
    const leading = this.core.currentRole === 'leader';
    if (leading === this.dutiesLeading) return;
    this.dutiesLeading = leading;
    this.duties.leadership(leading);
  }

  /** Propose what the leader's duties say is due; true if anything was proposed. */
  private proposeDuties(): boolean {
    this.syncLeadership();
    if (!this.duties || !this.dutiesLeading) return false;
    let proposed = false;
    // Not subject to pendingMax: nobody waits for these, and a lease must end even under load.
    for (const command of this.duties.due(this.ticks)) {
      // A configuration change (leaders: follow) goes through the core's checks; a refused one is the duty's to try again.
      proposed = (command.kind === 'config' ? this.core.changeConfiguration(command) : this.core.propose(command)).ok || proposed;
    }
    return proposed;
  }

  /** Snapshot and compact now, whatever the thresholds (an operator's request). */
  compactNow(send: (m: Message) => void): void {
    if (this.maybeCompact(1, false)) this.drainReadies(send);
  }

  /**
   * Take a snapshot if `every` slots (or, `scaled`, as many as the last
   * snapshot held records, if more) were applied since the last one; true if
   * the core has something to persist. Counting the last snapshot's records,
   * not the state's now, keeps a state that grows by a record per slot (a
   * session per write) from putting the next snapshot off for ever, and still
   * bounds a snapshot to the records of the one before plus a few per slot since.
   */
  private maybeCompact(every: number, scaled = this.compaction?.scaleWithState ?? false): boolean {
    const retain = this.compaction?.retainSlots ?? 0;
    if (this.keepsData) {
      const applied = this.sm.appliedThrough;
      const due = scaled ? Math.floor(Math.max(every, this.snapshotRecords) * (1 + this.snapshotStagger)) : every;
      if (applied - (this.latest?.slot ?? 0) < due) return false;
      const snapshot: Snapshot = { slot: applied, data: this.sm.snapshot() };
      this.snapshotRecords = this.sm.records;
      this.core.compact(applied - retain, snapshot);
      this.observer.afterCompact?.(applied - retain + 1, applied);
      return true;
    }
    const st = this.core.status();
    if (st.decidedThrough - (st.firstSlot - 1) < every + retain) return false;
    this.core.compact(st.decidedThrough - retain, null); // a logger has no state machine to snapshot
    return true;
  }

  private drainReadies(send: (m: Message) => void): void {
    // Each Ready is finite work; a core that never runs out of them has a bug. Fail loudly, not forever.
    for (let rounds = 0; !this.crashed && this.core.hasReady(); rounds++) {
      if (rounds >= 100_000) throw new Error(`replica ${this.id}: the core keeps producing Readies (${JSON.stringify(this.core.status())})`);
      this.syncLeadership();
      const rd = this.core.ready();
      if (rd.persist) {
        this.storage.persist(rd.persist);
        if (rd.persist.snapshot) this.latest = rd.persist.snapshot;
        if (this.observer.afterPersist?.(rd.persist, rd.messages.length)) {
          this.crashed = true;
          return;
        }
      }
      for (const m of rd.messages) {
        this.observer.beforeSend?.(m);
        send(m);
      }
      this.apply(rd);
      this.confirmed.push(...rd.readStates);
      for (const id of rd.dropped.proposals) this.settle(id, { kind: 'dropped' });
      for (const id of rd.dropped.reads) this.settleRead(id, 'dropped');
      this.core.advance(rd);
      this.serveReads();
      this.noticeLeadership();
      this.syncLeadership();
      this.observer.afterReady?.(rd);
    }
    if (!this.crashed) {
      this.noticeLeadership();
      this.syncLeadership();
    }
  }

  /** Leadership is gone since the runner last looked: answer everyone still waiting here. */
  private noticeLeadership(): void {
    const leads = this.core.currentRole === 'leader';
    if (this.leading && !leads) this.abandonWaiters();
    this.leading = leads;
  }

  private apply(rd: Ready): void {
    if (!this.keepsData) return; // a logger's decided entries stay in its log only
    if (rd.installSnapshot) {
      this.sm.restore(rd.installSnapshot.data);
      this.snapshotRecords = this.sm.records;
      this.observer.afterInstall?.(rd.installSnapshot);
    }
    for (const e of rd.decided) {
      const result = this.sm.apply(e.slot, e.command);
      this.duties?.applied(e, result, this.ticks);
      this.observer.afterApply?.(e, result);
      if (e.command.kind !== 'noop') this.settle(e.command.id, { kind: 'applied', result });
    }
  }

  private serveReads(): void {
    if (this.confirmed.length === 0) return;
    const keep: ReadState[] = [];
    for (const rs of this.confirmed) {
      if (this.sm.appliedThrough < rs.decidedThrough) keep.push(rs);
      else this.settleRead(rs.readId, 'ready');
    }
    this.confirmed = keep;
  }

  /** Leadership is gone: proposals still waiting may or may not be decided by the next leader. */
  private abandonWaiters(): void {
    const waiting = [...this.waiters.keys()];
    for (const id of waiting) this.settle(id, { kind: 'outcome-unknown' });
    const reads = [...this.reads.keys()];
    for (const id of reads) this.settleRead(id, 'dropped');
    this.confirmed = [];
  }

  private settle(id: string, o: ProposalOutcome<Result>): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    w(o);
  }

  private settleRead(id: string, r: ReadReadiness): void {
    const w = this.reads.get(id);
    if (!w) return;
    this.reads.delete(id);
    w(r);
  }
}

/**
 * A minority work mode stored before vote_num had to be a strict majority of
 * the survivors: raised to the smallest majority, so the replica starts (and
 * stays safe) instead of refusing to. With every survivor up it still decides.
 */
export function storedWorkMode(o: QuorumOverride): QuorumOverride {
  const voters = [...new Set(o.voters)];
  return { voters, voteNum: Math.max(o.voteNum, Math.floor(voters.length / 2) + 1) };
}

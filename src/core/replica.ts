import {
  type Ballot,
  type ReplicaId,
  ZERO_BALLOT,
  ballotEquals,
  ballotGreater,
  compareBallots,
  formatBallot,
} from './ballot.ts';
import { type ClientCommand, type Command, type ConfigCommand, NOOP, unreachable } from './command.ts';
import { type CompiledConfiguration, compileConfiguration, configurationKey } from './configuration.ts';
import { ConfigurationChain } from './configuration-chain.ts';
import { type FlowLimits, type FlowState, checkFlowLimits } from './flow-control.ts';
import { TravellingRounds } from './travelling-rounds.ts';
import { priorityElectionTicks } from './election-timing.ts';
import { AcceptorLog, type DurableState, EMPTY_DURABLE_STATE, type Entry, type QuietRecord, type Snapshot } from './log.ts';
import { type Member, type Membership, isElectable, isVoter } from './membership.ts';
import type {
  AcceptMessage,
  AcceptedMessage,
  HeartbeatMessage,
  HeartbeatReplyMessage,
  InstallSnapshotMessage,
  Message,
  NackMessage,
  PreVoteMessage,
  PreVoteReplyMessage,
  PrepareMessage,
  PromiseMessage,
  PromisedEntry,
  TimeoutNowMessage,
} from './messages.ts';
import type { PersistDelta, ReadState, Ready } from './ready.ts';
import { randomBelow } from './rng.ts';
import {
  DEFAULT_PRIORITY,
  type NotLeader,
  type OperatorResult,
  type PriorityOptions,
  type ProposeResult,
  type QuorumOverride,
  type ReadIndexResult,
  type ReplicaOptions,
  type ReplicaStatus,
  type Role,
  checkQuorumOverride,
  validateOptions,
} from './replica-options.ts';
import { Timeout } from './timeout.ts';

/** Read nonces reserved per durable write: one extra stored field every this many read rounds. */
const READ_SEQ_BLOCK = 65_536;

/** An acceptor's answers to a proposer: they count only from the incarnation the configuration names. */
const ANSWERS: ReadonlySet<Message['type']> = new Set(['promise', 'accepted', 'heartbeat-reply', 'pre-vote-reply', 'nack']);

/** Per-slot bookkeeping of a leader for a slot it proposed and has not yet seen decided. */
interface PendingSlot {
  readonly acks: Set<ReplicaId>;
  sentTick: number;
}

/** A leader's knowledge of one other acceptor. */
interface Progress {
  decidedIndex: number;
  /** Every slot in (decidedIndex, ackedThrough] was acknowledged at our ballot: it can learn those decisions itself. */
  ackedThrough: number;
  recentActive: boolean;
  readSeqAcked: number;
  catchupThrough: number;
  catchupTick: number;
  /** The last tick it answered us. */
  lastReplyTick: number;
  /** When we last sent it a snapshot (-1: never). */
  snapshotTick: number;
  /** The incarnation this knowledge is about: a rebuilt replica starts from nothing. */
  incarnation: number;
}

interface PendingRead {
  readonly readId: string;
  readonly readIndex: number;
  readonly seq: number;
}

/**
 * One replica of one stream: proposer, acceptor and learner of Multi-Paxos as a
 * pure state machine in the shape of etcd-raft's RawNode. The host feeds it
 * `tick`, `step`, `propose` and `readIndex`, then takes a `Ready`, does what it
 * says (persist, send, apply) and calls `advance`. It does no I/O and reads no
 * clock; its only randomness is the injected `rng`.
 */
export class Replica {
  readonly id: ReplicaId;
  private readonly opts: ReplicaOptions;
  private readonly priority: PriorityOptions;

  /** Which configurations govern our slots (membership changes, minority work mode) and what their quorums need. */
  private readonly configs: ConfigurationChain;
  /** Our member record in the configuration in effect, if we are a member (in this incarnation). */
  private self: Member | undefined;
  /**
   * A logger keeps no state machine. That is fixed for the life of a replica by
   * the bootstrap configuration: changes between logger and any other role are
   * refused, and replicas added later are never loggers.
   */
  private readonly isLogger: boolean;
  /** Every other member of any configuration in the chain: phase-2 traffic goes to all of them. */
  private peers: readonly ReplicaId[] = [];
  /** Every other voter of any configuration in the chain: elections involve them. */
  private electionPeers: readonly ReplicaId[] = [];

  private readonly log: AcceptorLog;
  private promisedBallot: Ballot;
  private promisedDirty = false;
  private appliedIndex: number;
  /** The highest slot handed out in a Ready's `decided` and not yet advanced past. */
  private outstanding: Ready | null = null;

  private role: Role = 'follower';
  private leaderId: ReplicaId | null = null;
  /** The ballot this replica campaigns or leads with. */
  private ownBallot: Ballot = ZERO_BALLOT;
  private maxRoundSeen: number;
  private nowTicks = 0;
  /** When we last had no leader (for bounding priority deference). */
  private leaderlessSinceTick = 0;
  /** When we started following the current leader (for the minimum tenure). */
  private leaderSinceTick = 0;
  /** Electable voters heard campaigning recently: who outranks a pre-candidate. */
  private heardCampaigning = new Map<ReplicaId, { tick: number; decidedIndex: number }>();

  private readonly electionTimeout: Timeout;
  private readonly heartbeatTimeout: Timeout;
  private readonly checkQuorumTimeout: Timeout;

  private outbox: Message[] = [];
  /** A snapshot to persist with the next Ready (from compaction or installation). */
  private snapshotToPersist: Snapshot | null = null;
  /** We just went quiet: store whom we follow at which ballot (restoreQuiet reads it after a restart). */
  private quietToPersist: QuietRecord | null = null;
  /** Candidates we sent our snapshot to as an acceptor (at most once per election timeout each). */
  private snapshotOffers = new Map<ReplicaId, Progress>();
  /** A snapshot the host must load into its state machine with the next Ready. */
  private snapshotToInstall: Snapshot | null = null;
  /** Pieces of a snapshot being received, keyed by sender ballot and slot. */
  private incoming: { key: string; chunks: (string | undefined)[]; received: number } | null = null;
  private readStates: ReadState[] = [];
  private droppedProposals: string[] = [];
  private droppedReads: string[] = [];

  // pre-candidate
  private preVoteBallot: Ballot = ZERO_BALLOT;
  private preVotes = new Set<ReplicaId>();
  // candidate
  private prepareFromSlot = 0;
  private promises = new Map<ReplicaId, PromiseMessage>();
  /** Replicas we sent our prepare to. */
  private preparedTo = new Set<ReplicaId>();
  // leader
  private proposals: ClientCommand[] = [];
  private nextSlot = 0;
  private pending = new Map<number, PendingSlot>();
  private decidedAbove = new Set<number>();
  private batches: { firstSlot: number; lastSlot: number }[] = [];
  /** Per acceptor, the accept rounds sent to it at `ballot` and not yet acknowledged. */
  private travelling = new Map<ReplicaId, { ballot: Ballot; rounds: TravellingRounds }>();
  /** Pipeline depth and batch size; the host's flow controller may change them (flow-control.ts). */
  private flow: FlowLimits;
  private progress = new Map<ReplicaId, Progress>();
  /** Reads wait until the leader has decided a slot of its own ballot (its opening no-op). */
  private openingSlot = 0;
  private waitingReads: string[] = [];
  private pendingReads: PendingRead[] = [];
  /**
   * The read nonce: a heartbeat round carries it and answers echo it, so a
   * read is confirmed only by answers to a round sent after it was asked.
   * Unique across the lives of this replica (see `reserveReadSeq`).
   */
  private readSeq: number;
  private readSeqBroadcast: number;
  /** Nonces through this one are durably reserved; none above it has been sent. */
  private readSeqReserved: number;
  private readSeqDirty = false;
  /** Leadership hand-over in progress: proposals wait until it completes or is abandoned. */
  private transfer: { target: ReplicaId; sinceTick: number; sent: boolean; manual: boolean; timeoutTicks: number } | null = null;
  /** An operator put this leader in place: automatic fail-back waits for the next election (or configuration change). */
  private failbackSuppressed = false;
  /** We are campaigning because an operator (or a leader's hand-over ordered by one) asked. */
  private campaignIsManual = false;
  /** Run mode (DCF RUN_MODE): with automatic elections off, nobody campaigns by itself. */
  private autoElection: boolean;
  /** Leader: heartbeat intervals since the last client request (for quiescence). */
  private idleHeartbeats = 0;
  /** Leader that stopped heartbeating, or follower that stopped its election timer. */
  private quiescent = false;
  /** Which epoch we belong to (a minority force-start begins a new one); durable. */
  private epoch: number;
  private epochDirty = false;
  /** We heard from a later epoch: our history was forked off; we do nothing until rebuilt. Durable. */
  private fenced: boolean;
  /** Which life of this replica this is: messages meant for another are ignored. Set by a rebuild. */
  private readonly incarnation: number;
  /** While a message is stepped: its sender and the incarnation it came from (answers go back to that one). */
  private answering: { readonly to: ReplicaId; readonly incarnation: number } | null = null;

  constructor(opts: ReplicaOptions, durable: DurableState = EMPTY_DURABLE_STATE, appliedIndex = 0) {
    validateOptions(opts);
    this.opts = opts;
    this.flow = { inflightMax: opts.inflightMax, batchMax: opts.batchMax, batchMin: 1 };
    this.id = opts.id;
    this.priority = opts.priority ?? DEFAULT_PRIORITY;
    this.autoElection = opts.autoElection ?? true;
    this.log = new AcceptorLog(durable);
    this.isLogger = opts.configuration.members.find((m) => m.id === this.id)?.role === 'logger';
    this.epoch = durable.epoch ?? 0;
    // A new life starts above every nonce an earlier one may have sent.
    this.readSeq = this.readSeqBroadcast = this.readSeqReserved = durable.readSeqReserved ?? 0;
    this.fenced = durable.fenced ?? false;
    this.incarnation = durable.incarnation ?? 1;
    this.configs = new ConfigurationChain(this.log, durable.baseConfig ?? { slot: 0, configuration: opts.configuration });
    this.self = this.ownRecord();
    this.configurationChanged();
    this.promisedBallot = durable.promised;
    this.maxRoundSeen = this.promisedBallot.round;
    if (appliedIndex > this.log.decidedIndex) {
      throw new Error(`replica ${opts.id}: appliedIndex ${appliedIndex} is beyond decidedIndex ${this.log.decidedIndex}`);
    }
    if (appliedIndex < this.log.compactedThrough && !this.isLogger) {
      throw new Error(`replica ${opts.id}: entries through ${this.log.compactedThrough} were compacted, but its state machine starts at ${appliedIndex}`);
    }
    if (appliedIndex < this.log.compactedThrough) appliedIndex = this.log.compactedThrough; // a logger: nothing to apply there
    this.appliedIndex = appliedIndex;
    this.electionTimeout = new Timeout('election', this.randomizedElectionTicks());
    this.heartbeatTimeout = new Timeout('heartbeat', opts.heartbeatIntervalTicks);
    this.checkQuorumTimeout = new Timeout('check-quorum', opts.electionTimeoutTicks);
    this.electionTimeout.start();
    if (durable.quiet) this.restoreQuiet(durable.quiet);
  }

  /**
   * A replica that restarts (an idle Durable Object evicted, then called
   * again) comes back as it went quiet, instead of starting an election that
   * would make the first request after an idle period wait an election
   * timeout: a leader leads again at its ballot, a follower follows its
   * leader, both quiet (no timers until a request or a message). Only if
   * nothing happened here since that could make it wrong: its promise is
   * still that ballot (no later ballot was answered), it is still in the
   * epoch it went quiet in (a minority force-start since changed the quorums
   * that ballot's phase 1 was won under), and every slot in its log is
   * decided (nothing in flight, so a leader has no round to resume).
   *
   * Why a leader may: its ballot's phase 1 is a fact about the acceptors, not
   * about its memory. Everything chosen below the ballot was learned then and
   * is in its (durable, fully decided) log, and it persisted every slot before
   * proposing it, so the next slot is free. If another replica was elected
   * meanwhile, the acceptors promised a higher ballot: the first accept or
   * read confirmation is refused and it steps down, as any deposed leader.
   */
  private restoreQuiet(q: QuietRecord): void {
    if (this.fenced || !this.self || q.epoch !== this.epoch || !ballotEquals(q.ballot, this.promisedBallot)) return;
    if (this.log.decidedIndex !== this.log.lastSlot) return;
    if (q.leaderId === this.id) {
      if (!this.electable() || q.ballot.replicaId !== this.id) return;
      this.role = 'leader';
      this.leaderId = this.id;
      this.ownBallot = q.ballot;
      this.nextSlot = this.log.lastSlot + 1;
      this.openingSlot = this.log.decidedIndex; // decided long ago: reads need only their quorum confirmation
      for (const p of this.peers) this.progress.set(p, this.freshProgress(p));
    } else {
      this.leaderId = q.leaderId;
    }
    this.leaderSinceTick = this.nowTicks;
    this.quiescent = true;
    this.electionTimeout.stop();
  }

  // ---------------------------------------------------------------- inputs

  /** One unit of logical time has passed. */
  tick(): void {
    if (this.fenced) return;
    this.nowTicks += 1;
    if (this.role === 'leader') {
      this.tickLeader();
    } else {
      this.electionTimeout.tick();
      if (this.electionTimeout.fired()) this.campaign();
      else if (this.role !== 'follower' && this.electionTimeout.elapsedTicks % this.opts.retransmitTicks === 0) this.askAgain();
    }
  }

  /**
   * The host could not run this replica for a while (its wake-up came long
   * after it was due: an overloaded or paused machine), so time passed that
   * the replica could not listen through. Its failure detectors start over
   * rather than act on a silence it could not have heard: a follower (or
   * candidate) restarts its election timeout, a leader restarts its
   * check-quorum window and sends heartbeats at once. The host decides when a
   * wake-up was late, and how often to forgive one (runner.ts / replica-host.ts).
   */
  resume(): void {
    if (this.fenced || this.quiescent) return;
    if (this.role === 'leader') {
      this.checkQuorumTimeout.reset();
      this.heartbeatTimeout.reset();
      this.broadcastHeartbeat();
    } else {
      this.electionTimeout.reset();
    }
  }

  /**
   * A campaign in progress asks again those that have not answered (their
   * request or answer may have been lost): on a lossy network, an election
   * that needs many voters would otherwise rarely get every answer in one try.
   */
  private askAgain(): void {
    if (this.role === 'pre-candidate') {
      for (const to of this.electionPeers) {
        if (!this.preVotes.has(to)) this.send({ type: 'pre-vote', from: this.id, to, ballot: this.preVoteBallot, decidedIndex: this.log.decidedIndex });
      }
    } else if (this.role === 'candidate') {
      for (const to of this.preparedTo) {
        if (!this.promises.has(to)) this.send({ type: 'prepare', from: this.id, to, ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
      }
    }
  }

  /** A message from another replica of this stream. Stale, duplicated and reordered messages are harmless. */
  step(m: Message): void {
    if (m.to !== this.id) throw new Error(`replica ${this.id}: got a message for ${m.to}`);
    if (m.from === this.id) throw new Error(`replica ${this.id}: got a message from itself`);
    if (this.fenced) return;
    if ((m.toIncarnation ?? 1) !== this.incarnation) return; // meant for an earlier (or later) life of this replica
    if (ANSWERS.has(m.type) && (m.fromIncarnation ?? 1) !== this.configs.incarnationOf(m.from)) return; // from a life of that replica we no longer count
    const theirs = m.epoch ?? 0;
    if (theirs > this.epoch) {
      if (!this.isBlank() || (this.self !== undefined && isVoter(this.self))) {
        this.fence(); // a later epoch exists: our history was forked off (or, a voter, we would vote by the old quorums)
        return;
      }
      // A replica with no history of its own that does not vote (added after a force-start, never used) has
      // nothing to fork off: it joins the later epoch as a rebuild would, instead of waiting to be rebuilt.
      this.epoch = theirs;
      this.epochDirty = true;
    }
    if (theirs < this.epoch) {
      if (m.type !== 'fenced') this.send({ type: 'fenced', from: this.id, to: m.from });
      return;
    }
    this.answering = { to: m.from, incarnation: m.fromIncarnation ?? 1 };
    try {
      this.dispatch(m);
    } finally {
      this.answering = null;
    }
  }

  private dispatch(m: Message): void {
    switch (m.type) {
      case 'pre-vote':
        return this.onPreVote(m);
      case 'pre-vote-reply':
        return this.onPreVoteReply(m);
      case 'prepare':
        return this.onPrepare(m);
      case 'promise':
        return this.onPromise(m);
      case 'accept':
        return this.onAccept(m);
      case 'accepted':
        return this.onAccepted(m);
      case 'heartbeat':
        return this.onHeartbeat(m);
      case 'heartbeat-reply':
        return this.onHeartbeatReply(m);
      case 'nack':
        return this.onNack(m);
      case 'timeout-now':
        return this.onTimeoutNow(m);
      case 'install-snapshot':
        return this.onInstallSnapshot(m);
      case 'fenced':
        return; // same epoch: stale (it was sent before we moved on)
      default:
        return unreachable(m);
    }
  }

  /**
   * Queue a client command. Only the leader accepts; queued commands go out
   * together as one accept round at the next `ready()`.
   */
  propose(command: ClientCommand): ProposeResult {
    if (this.fenced) return { ok: false, reason: 'not-leader', leaderHint: null };
    this.wakeUp();
    if (this.role !== 'leader') return this.notLeader();
    this.proposals.push(command);
    return { ok: true };
  }

  /**
   * Ask to serve a linearizable read. When leadership is confirmed by a quorum
   * after this call, a `ReadState` with this id appears in a Ready.
   */
  readIndex(readId: string): ReadIndexResult {
    if (this.fenced) return { ok: false, reason: 'not-leader', leaderHint: null };
    this.wakeUp();
    if (this.role !== 'leader') return this.notLeader();
    if (this.log.decidedIndex < this.openingSlot) {
      this.waitingReads.push(readId);
    } else {
      this.pendingReads.push({ readId, readIndex: this.log.decidedIndex, seq: this.readSeqBroadcast + 1 });
      this.confirmReads();
    }
    return { ok: true };
  }

  // ---------------------------------------------------------------- operator controls

  /**
   * Switchover (DCF promote_leader, Patroni switchover): move leadership to
   * `target` once it has caught up, pausing writes for the hand-over only.
   * Fail-back to a higher priority stays off until the next election. Gives up
   * (and writes resume) after `timeoutTicks`.
   */
  transferLeadership(target: ReplicaId, timeoutTicks = 2 * this.opts.electionTimeoutTicks): OperatorResult {
    this.wakeUp();
    if (this.role !== 'leader') return { ok: false, code: 'not-leader', message: 'only the leader can hand over leadership', leaderHint: this.leaderId };
    const m = this.membership.get(target);
    if (!m) return { ok: false, code: 'invalid-target', message: `replica ${target} is not a member of this stream` };
    if (target === this.id) return { ok: false, code: 'invalid-target', message: `replica ${target} already leads` };
    if (!isElectable(m)) return { ok: false, code: 'invalid-target', message: `replica ${target} is a ${m.role} and can never lead` };
    this.startTransfer(target, true, timeoutTicks);
    return { ok: true, target };
  }

  /** The leader steps down in favour of the best other replica (highest priority, caught up, reachable). */
  stepDown(timeoutTicks = 2 * this.opts.electionTimeoutTicks): OperatorResult {
    if (this.role !== 'leader') return { ok: false, code: 'not-leader', message: 'only the leader can step down', leaderHint: this.leaderId };
    let best: Member | null = null;
    for (const m of this.membership.members) {
      if (m.id === this.id || !isElectable(m)) continue;
      const pr = this.progress.get(m.id);
      if (!pr || this.nowTicks - pr.lastReplyTick >= this.opts.electionTimeoutTicks) continue;
      if (!best || m.priority > best.priority) best = m;
    }
    if (!best) return { ok: false, code: 'no-target', message: 'no other replica that can lead is reachable' };
    return this.transferLeadership(best.id, timeoutTicks);
  }

  /** Start an election now, skipping pre-vote (an operator promoting this replica, e.g. in manual run mode). */
  campaignNow(): OperatorResult {
    if (this.fenced) return { ok: false, code: 'invalid-target', message: `replica ${this.id} is fenced by a later epoch and does nothing until rebuilt` };
    if (!this.electable()) return { ok: false, code: 'invalid-target', message: `replica ${this.id} is ${this.self ? `a ${this.self.role}` : 'not a member'} and cannot lead` };
    if (this.role === 'leader') return { ok: false, code: 'invalid-target', message: `replica ${this.id} already leads` };
    this.campaignIsManual = true;
    this.electNow();
    return { ok: true, target: this.id };
  }

  /** Run mode: with automatic elections off, no replica starts an election by itself. */
  setAutoElection(on: boolean): void {
    // Back to automatic: an operator's earlier choice of leader no longer holds off fail-back.
    if (on && !this.autoElection) this.failbackSuppressed = false;
    this.autoElection = on;
  }

  /**
   * Minority work mode (DCF work_mode minority, vote_num): with an override,
   * `voteNum` of its voters elect and decide, whatever the configuration says;
   * null returns to the configured quorums. Entering it starts `epoch` (higher
   * than any before): replicas still in an earlier epoch are fenced on contact
   * and never act on this history until rebuilt. `voteNum` must be a strict
   * majority of the survivors (checkQuorumOverride): anything less lets two
   * survivors decide different values for one slot with no partition at all.
   */
  setWorkMode(override: QuorumOverride | null, epoch: number = this.epoch): void {
    const checked = override ? checkQuorumOverride(override) : null;
    if (epoch < this.epoch) throw new RangeError(`work mode: epoch ${epoch} is below this replica's ${this.epoch}`);
    if (epoch > this.epoch) {
      this.epoch = epoch;
      this.epochDirty = true;
      // A new epoch: whatever we led or campaigned for belongs to the old one.
      if (this.role !== 'follower') this.becomeFollower(null, `epoch ${epoch} begins`);
      this.leaderId = null;
    }
    this.configs.override = checked;
    this.wakeUp();
  }

  /**
   * Membership change (DCF add/remove member, change role, priority, group,
   * weight): propose `command.configuration` as the stream's next
   * configuration. One change at a time; a new replica joins as `passive` (a
   * learner) and becomes a voter by a later change once it has caught up; the
   * leader itself is never removed or demoted here (hand over first); a change
   * the replicas answering now could not decide under is refused. The change
   * takes effect for the slots after its own once decided; the host learns
   * that the way it learns any proposal's outcome.
   */
  changeConfiguration(command: ConfigCommand): OperatorResult {
    this.wakeUp();
    if (this.role !== 'leader') return { ok: false, code: 'not-leader', message: 'only the leader can change the configuration', leaderHint: this.leaderId };
    if (this.configs.pending() !== null || this.proposals.some((c) => c.kind === 'config')) {
      return { ok: false, code: 'change-in-progress', message: 'another configuration change is not decided yet; one change at a time' };
    }
    if (this.transfer) return { ok: false, code: 'change-in-progress', message: 'a leadership hand-over is in progress' };
    let next: CompiledConfiguration;
    try {
      next = compileConfiguration(command.configuration);
    } catch (e) {
      if (e instanceof RangeError) return { ok: false, code: 'invalid-change', message: e.message.replace(/^(quorum|membership): /, '') };
      throw e;
    }
    const refusal = this.refuseChange(next);
    if (refusal) return { ok: false, ...refusal };
    this.proposals.push(command);
    return { ok: true, target: this.id };
  }

  /** Change how the leader batches proposals from now on (a flow controller's decision). */
  setFlowLimits(limits: FlowLimits): void {
    this.flow = checkFlowLimits(limits);
  }

  flowLimits(): FlowLimits {
    return this.flow;
  }

  /** What a flow controller samples: rounds in flight, commands queued behind them, the decided index. */
  flowState(): FlowState {
    const leading = this.role === 'leader';
    return {
      inflight: leading ? this.batches.length : 0,
      queued: this.proposals.length,
      decidedIndex: this.log.decidedIndex,
      lastProposedSlot: leading ? this.nextSlot - 1 : 0,
    };
  }

  // ---------------------------------------------------------------- ready / advance

  hasReady(): boolean {
    this.flushProposals();
    this.flushReads();
    return (
      this.promisedDirty ||
      this.configs.hasDirtyBase() ||
      this.epochDirty ||
      this.readSeqDirty ||
      this.snapshotToPersist !== null ||
      this.quietToPersist !== null ||
      this.snapshotToInstall !== null ||
      this.log.hasDirty() ||
      this.outbox.length > 0 ||
      this.log.decidedIndex > this.appliedIndex ||
      this.readStates.length > 0 ||
      this.droppedProposals.length > 0 ||
      this.droppedReads.length > 0
    );
  }

  /** Everything the host must do now; call `advance` with it once done. */
  ready(): Ready {
    if (this.outstanding) throw new Error(`replica ${this.id}: ready() called again before advance()`);
    this.flushProposals();
    this.flushReads();
    const dirty = this.log.takeDirty();
    let persist: PersistDelta | null = null;
    const baseConfig = this.configs.takeDirtyBase();
    const quiet = this.quietToPersist;
    this.quietToPersist = null;
    if (this.promisedDirty || baseConfig || this.epochDirty || this.readSeqDirty || dirty.entries.length > 0 || dirty.decidedIndex !== undefined || dirty.compactThrough !== undefined || this.snapshotToPersist || quiet) {
      persist = {
        ...(this.promisedDirty ? { promised: this.promisedBallot } : {}),
        ...(dirty.decidedIndex !== undefined ? { decidedIndex: dirty.decidedIndex } : {}),
        entries: dirty.entries,
        ...(dirty.compactThrough !== undefined ? { compactThrough: dirty.compactThrough } : {}),
        ...(this.snapshotToPersist ? { snapshot: this.snapshotToPersist } : {}),
        ...(baseConfig ? { baseConfig } : {}),
        ...(this.epochDirty ? { epoch: this.epoch, fenced: this.fenced } : {}),
        ...(quiet ? { quiet } : {}),
        ...(this.readSeqDirty ? { readSeqReserved: this.readSeqReserved } : {}),
      };
    }
    this.promisedDirty = false;
    this.readSeqDirty = false;
    this.epochDirty = false;
    this.snapshotToPersist = null;
    const install = this.snapshotToInstall;
    this.snapshotToInstall = null;
    const applyFrom = Math.max(this.appliedIndex, install?.slot ?? 0) + 1;
    const ready: Ready = {
      persist,
      messages: this.outbox,
      installSnapshot: install,
      decided: this.log.range(applyFrom, this.log.decidedIndex),
      readStates: this.readStates,
      dropped: { proposals: this.droppedProposals, reads: this.droppedReads },
    };
    this.outbox = [];
    this.readStates = [];
    this.droppedProposals = [];
    this.droppedReads = [];
    this.outstanding = ready;
    return ready;
  }

  /** The host has done everything `ready` asked. */
  advance(ready: Ready): void {
    if (ready !== this.outstanding) throw new Error(`replica ${this.id}: advance() with a Ready that is not the outstanding one`);
    this.outstanding = null;
    if (ready.installSnapshot) this.appliedIndex = Math.max(this.appliedIndex, ready.installSnapshot.slot);
    const last = ready.decided.at(-1);
    if (last) this.appliedIndex = last.slot;
    const persisted = ready.persist;
    if (!persisted) return;
    // Our own promise and accepts count only now that they are durable.
    if (this.role === 'candidate' && persisted.promised && ballotEquals(persisted.promised, this.ownBallot)) {
      this.recordPromise(this.selfPromise());
    }
    if (this.role === 'leader') {
      for (const e of persisted.entries) {
        if (ballotEquals(e.ballot, this.ownBallot)) this.ackSlot(e.slot, this.id);
      }
      this.advanceLeaderDecided();
    }
  }

  status(): ReplicaStatus {
    return {
      id: this.id,
      role: this.role,
      memberRole: this.self?.role ?? 'none',
      configuration: this.configs.active.config.configuration,
      configurationSlot: this.configs.active.slot,
      pendingConfiguration: this.configs.pending(),
      quorumOverride: this.configs.override,
      epoch: this.epoch,
      fenced: this.fenced,
      incarnation: this.incarnation,
      writesBlocked: this.writesBlocked(),
      transferringTo: this.transfer?.target ?? null,
      autoElection: this.autoElection,
      quiescent: this.quiescent,
      leaderId: this.leaderId,
      ballot: this.role === 'leader' || this.role === 'candidate' ? this.ownBallot : this.promisedBallot,
      promised: this.promisedBallot,
      decidedIndex: this.log.decidedIndex,
      appliedIndex: this.appliedIndex,
      lastSlot: this.log.lastSlot,
      firstSlot: this.log.firstSlot,
    };
  }

  /**
   * Ticks until the earliest running timer fires (heartbeat, check-quorum or
   * election): a host with nothing else to do may sleep that long; null when no
   * timer runs (a quiescent replica sleeps until a message or request arrives).
   */
  ticksUntilNextTimer(): number | null {
    if (this.fenced) return null;
    let min = Number.POSITIVE_INFINITY;
    for (const t of [this.electionTimeout, this.heartbeatTimeout, this.checkQuorumTimeout]) {
      const r = t.remainingTicks;
      if (r !== null && r < min) min = r;
    }
    return min === Number.POSITIVE_INFINITY ? null : Math.max(1, min); // null: quiescent, nothing to wake for
  }

  /** The decided command at `slot`, if this replica knows it. */
  decidedEntry(slot: number): Entry | undefined {
    return slot <= this.log.decidedIndex ? this.log.get(slot) : undefined;
  }

  // ---------------------------------------------------------------- role transitions

  private becomeFollower(leaderId: ReplicaId | null, why: string): void {
    void why; // kept at call sites so every transition says why it happens
    if (this.role === 'leader') this.abandonLeadership();
    this.quiescent = false;
    this.role = 'follower';
    if (leaderId === null && this.leaderId !== null) this.leaderlessSinceTick = this.nowTicks;
    if (leaderId !== null && leaderId !== this.leaderId) this.leaderSinceTick = this.nowTicks;
    this.leaderId = leaderId;
    this.promises = new Map();
    this.preVotes = new Set();
    this.heartbeatTimeout.stop();
    this.checkQuorumTimeout.stop();
    this.resetElectionTimeout();
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') throw new Error(`replica ${this.id}: a leader cannot become pre-candidate`);
    if (!this.electable()) throw new Error(`replica ${this.id}: a ${this.self?.role ?? 'non-member'} never campaigns`);
    if (this.leaderId !== null) this.leaderlessSinceTick = this.nowTicks;
    this.role = 'pre-candidate';
    this.leaderId = null;
    this.preVoteBallot = { round: Math.max(this.promisedBallot.round, this.maxRoundSeen) + 1, replicaId: this.id };
    this.preVotes = new Set([this.id]);
    this.configs.resetPromised();
    this.resetElectionTimeout();
    for (const to of this.electionPeers) {
      this.send({ type: 'pre-vote', from: this.id, to, ballot: this.preVoteBallot, decidedIndex: this.log.decidedIndex });
    }
    if (this.isElectionQuorum(this.preVotes)) this.becomeCandidate();
  }

  private becomeCandidate(): void {
    if (this.role !== 'pre-candidate') throw new Error(`replica ${this.id}: only a pre-candidate becomes candidate (was ${this.role})`);
    const round = Math.max(this.promisedBallot.round, this.maxRoundSeen, this.preVoteBallot.round - 1) + 1;
    this.ownBallot = { round, replicaId: this.id };
    this.maxRoundSeen = round;
    this.role = 'candidate';
    this.promise(this.ownBallot);
    this.prepareFromSlot = this.log.decidedIndex + 1;
    this.promises = new Map();
    this.configs.resetPromised();
    this.preparedTo = new Set(this.electionPeers);
    this.resetElectionTimeout();
    for (const to of this.electionPeers) {
      this.send({ type: 'prepare', from: this.id, to, ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
    }
    // Our own promise is counted in advance(), once it is durable.
  }

  private becomeLeader(): void {
    if (this.role !== 'candidate') throw new Error(`replica ${this.id}: only a candidate becomes leader (was ${this.role})`);
    this.role = 'leader';
    this.leaderId = this.id;
    this.electionTimeout.stop();
    this.heartbeatTimeout.start();
    this.checkQuorumTimeout.start();
    this.pending = new Map();
    this.decidedAbove = new Set();
    this.batches = [];
    this.proposals = [];
    this.pendingReads = [];
    this.waitingReads = [];
    this.progress = new Map();
    this.transfer = null;
    this.failbackSuppressed = this.campaignIsManual;
    this.campaignIsManual = false;
    this.quiescent = false;
    this.idleHeartbeats = 0;
    for (const p of this.peers) this.progress.set(p, this.freshProgress(p));

    // Merge what the promise quorum reported: a value known decided wins, else
    // the value accepted at the highest ballot, else a no-op fills the hole.
    const from = this.prepareFromSlot;
    let maxSlot = from - 1;
    const best = new Map<number, PromisedEntry>();
    for (const pr of this.promises.values()) {
      for (const e of pr.entries) {
        if (e.slot < from) continue;
        if (e.slot > maxSlot) maxSlot = e.slot;
        const cur = best.get(e.slot);
        if (!cur || (!cur.decided && (e.decided || compareBallots(e.ballot, cur.ballot) > 0))) best.set(e.slot, e);
      }
    }
    const runStart = from;
    for (let s = from; s <= maxSlot; s++) {
      if (s <= this.log.decidedIndex) continue;
      const chosen = best.get(s);
      const command: Command = chosen ? chosen.command : NOOP;
      this.writeEntry({ slot: s, ballot: this.ownBallot, command });
      if (chosen?.decided) {
        this.decidedAbove.add(s);
      } else {
        this.pending.set(s, { acks: new Set(), sentTick: this.nowTicks });
      }
    }
    // The opening no-op: once it is decided, every slot before it is decided too,
    // and reads through this leader become safe.
    this.openingSlot = maxSlot + 1;
    this.writeEntry({ slot: this.openingSlot, ballot: this.ownBallot, command: NOOP });
    this.pending.set(this.openingSlot, { acks: new Set(), sentTick: this.nowTicks });
    this.nextSlot = this.openingSlot + 1;
    this.advanceLeaderDecided();
    if ((this.role as Role) !== 'leader') return; // a decided configuration change we re-proposed removed us
    const start = Math.max(runStart, this.log.decidedIndex + 1);
    for (let first = start; first < this.nextSlot; first += this.opts.batchMax) {
      const last = Math.min(this.nextSlot - 1, first + this.opts.batchMax - 1);
      this.batches.push({ firstSlot: first, lastSlot: last });
      this.broadcastAccept(first, last);
    }
    this.promises = new Map();
    this.configs.resetPromised();
  }

  /** Leadership ends: callers of queued work learn it was never proposed. */
  private abandonLeadership(): void {
    for (const c of this.proposals) this.droppedProposals.push(c.id);
    for (const r of this.waitingReads) this.droppedReads.push(r);
    for (const r of this.pendingReads) this.droppedReads.push(r.readId);
    this.proposals = [];
    this.waitingReads = [];
    this.pendingReads = [];
    this.pending = new Map();
    this.decidedAbove = new Set();
    this.batches = [];
    this.progress = new Map();
    this.transfer = null;
  }

  // ---------------------------------------------------------------- timers

  private campaign(): void {
    if (!this.self) {
      this.electionTimeout.stop(); // not a member (removed, or not yet told it joined): nothing to watch until a leader speaks
      return;
    }
    if (!this.electable()) {
      this.forgetSilentLeader(); // a logger or passive replica never leads, but stops vouching for a silent leader
      this.resetElectionTimeout();
      return;
    }
    if (!this.tenureServed()) {
      this.resetElectionTimeout(); // the leader has not led long enough to be replaced
      return;
    }
    if (!this.autoElection) {
      this.forgetSilentLeader();
      this.resetElectionTimeout(); // manual run mode: an operator promotes a replica explicitly
      return;
    }
    this.becomePreCandidate();
  }

  /**
   * The leader we watched went silent for a whole election timeout: we no
   * longer vouch for it (pre-votes are granted again), as a replica that
   * campaigns does when it becomes pre-candidate.
   */
  private forgetSilentLeader(): void {
    if (this.leaderId === null) return;
    this.leaderlessSinceTick = this.nowTicks;
    this.leaderId = null;
  }

  /** False while the current leader is within its minimum tenure. */
  private tenureServed(): boolean {
    const t = this.priority.minLeaderTenureTicks;
    return t === 0 || this.leaderId === null || this.nowTicks - this.leaderSinceTick >= t;
  }

  private tickLeader(): void {
    this.heartbeatTimeout.tick();
    this.checkQuorumTimeout.tick();
    if (this.checkQuorumTimeout.fired()) {
      const active = new Set<ReplicaId>([this.id]);
      for (const [id, p] of this.progress) {
        if (p.recentActive) active.add(id);
        p.recentActive = false;
      }
      // A leader that can still gather promises or accepts keeps leading (writes
      // may be blocked by a policy, and the status says why); one that can do
      // neither would only block a better-connected replica from leading.
      if (!this.isConfirmationQuorum(active) && !this.isElectionQuorum(active)) {
        this.becomeFollower(null, 'check-quorum: no quorum heard from within an election timeout');
        return;
      }
      this.checkQuorumTimeout.reset();
    }
    if (this.heartbeatTimeout.fired()) {
      this.heartbeatTimeout.reset();
      this.idleHeartbeats += 1;
      if (this.mayQuiesce()) {
        this.quiesce();
        return;
      }
      this.broadcastHeartbeat();
      this.retransmit();
      this.tickTransfer();
    }
  }

  /**
   * An idle leader may go quiet when no client asked anything for the quiesce
   * period, nothing is in flight or queued, and every other replica answered
   * recently and holds every decided slot.
   */
  private mayQuiesce(): boolean {
    const after = this.opts.quiesceAfterTicks ?? 0;
    if (after === 0 || this.idleHeartbeats * this.opts.heartbeatIntervalTicks < after) return false;
    if (this.pending.size > 0 || this.proposals.length > 0 || this.pendingReads.length > 0 || this.waitingReads.length > 0 || this.transfer) return false;
    if (this.log.decidedIndex !== this.nextSlot - 1) return false;
    if (this.failBackTarget() !== null) return false; // hand over first: the better leader should be the quiet one
    for (const [id, pr] of this.progress) {
      if (!this.reachableAndCaughtUp(id) || pr.decidedIndex < this.log.decidedIndex) return false;
    }
    return true;
  }

  /** Tell the followers we go quiet, then stop our timers: an idle stream costs nothing. */
  private quiesce(): void {
    for (const to of this.peers) {
      this.send({ type: 'heartbeat', from: this.id, to, ballot: this.ownBallot, decidedIndex: this.log.decidedIndex, readSeq: this.readSeq, quiesce: true });
    }
    this.quiescent = true;
    this.heartbeatTimeout.stop();
    this.checkQuorumTimeout.stop();
    this.quietToPersist = { leaderId: this.id, ballot: this.ownBallot, epoch: this.epoch };
  }

  /** A client request (or any sign of life) ends quiescence: timers run again. */
  private wakeUp(): void {
    this.idleHeartbeats = 0;
    if (!this.quiescent) return;
    this.quiescent = false;
    if (this.role === 'leader') {
      // A fresh check-quorum window, as if everyone had just answered.
      for (const p of this.progress.values()) {
        p.recentActive = true;
        p.lastReplyTick = this.nowTicks;
      }
      this.heartbeatTimeout.start();
      this.checkQuorumTimeout.start();
      this.broadcastHeartbeat();
    } else {
      this.electionTimeout.start();
    }
  }

  private resetElectionTimeout(): void {
    this.electionTimeout.afterTicks = this.randomizedElectionTicks();
    this.electionTimeout.start();
  }

  /** `[base, 2*base)`; with priorities on, staggered by rank instead (election-timing.ts). */
  private randomizedElectionTicks(): number {
    const base = this.opts.electionTimeoutTicks;
    if (this.priority.enabled && this.self) return priorityElectionTicks(base, this.membership.members, this.self, this.leaderId, this.opts.rng);
    return base + randomBelow(this.opts.rng, base);
  }

  // ---------------------------------------------------------------- election handlers

  private onPreVote(m: PreVoteMessage): void {
    // Anyone asked answers: a candidate asks the voters of every configuration it
    // knows of, which may include replicas removed since, and counts only those.
    // Someone is campaigning: a quiet leader resumes heartbeats (so a live one is not deposed), a quiet
    // follower watches its leader again (if it died while quiet, the follower times out and grants).
    this.wakeUp();
    if (this.membership.has(m.from)) this.heardCampaigning.set(m.from, { tick: this.nowTicks, decidedIndex: m.decidedIndex });
    if (this.role === 'leader' && this.memberInChain(m.from) === undefined) this.informOutsider(m.from, m.decidedIndex);
    // A live leader, or a follower that heard from one within the base timeout,
    // refuses: a replica cut off from the leader cannot depose it.
    // (A replica outside the configuration watches no leader - its timer is stopped - so it cannot vouch for one.)
    const leaderAlive =
      this.role === 'leader' ||
      (this.self !== undefined && this.leaderId !== null && this.electionTimeout.elapsedTicks < this.opts.electionTimeoutTicks);
    const granted =
      !leaderAlive &&
      ballotGreater(m.ballot, this.promisedBallot) &&
      // Electable by the configuration in effect here (a candidate at least as up to date as we are knows at
      // least as much; changes still undecided in our log may never be decided).
      isElectable(this.membership.get(m.from) ?? this.memberInChain(m.from) ?? { id: m.from, role: 'passive', priority: 0, weight: 0, group: 0 }) &&
      this.tenureServed() &&
      // Among equals, the more up-to-date wins: never help a replica that knows less than we do,
      // unless we cannot lead ourselves (a logger, a passive or a removed replica would block it forever).
      (m.decidedIndex >= this.log.decidedIndex || !this.electable()) &&
      !this.defersToHigherPriority(m.from, m.decidedIndex);
    this.send({ type: 'pre-vote-reply', from: this.id, to: m.from, ballot: m.ballot, granted, promised: this.promisedBallot });
  }

  /**
   * True if a live, caught-up, electable replica of higher priority than
   * `candidate` (ourselves included) is campaigning, so `candidate` should not
   * win now. Bounded: after three election timeouts without a leader we stop
   * deferring, so a higher-priority replica that cannot win cannot block
   * everybody else forever.
   */
  private defersToHigherPriority(candidate: ReplicaId, candidateDecided: number): boolean {
    if (!this.priority.enabled) return false;
    const base = this.opts.electionTimeoutTicks;
    if (this.leaderId === null && this.nowTicks - this.leaderlessSinceTick >= 3 * base) return false;
    const theirs = this.membership.priorityOf(candidate);
    // Only to one that knows at least as much as the candidate: one that knows less could never win
    // against it (the candidate would refuse it), and deferring to it would leave nobody to lead.
    if (this.self && this.electable() && this.self.priority > theirs && this.log.decidedIndex >= candidateDecided) return true;
    for (const [id, heard] of this.heardCampaigning) {
      if (id === candidate || this.nowTicks - heard.tick >= base) continue;
      const m = this.membership.get(id);
      if (m && isElectable(m) && m.priority > theirs && heard.decidedIndex >= this.log.decidedIndex && heard.decidedIndex >= candidateDecided) return true;
    }
    return false;
  }

  private onPreVoteReply(m: PreVoteReplyMessage): void {
    this.observeRound(m.promised.round);
    if (this.role !== 'pre-candidate' || !ballotEquals(m.ballot, this.preVoteBallot)) return; // stale
    if (!m.granted) return;
    this.preVotes.add(m.from);
    if (this.isElectionQuorum(this.preVotes)) this.becomeCandidate();
  }

  private onPrepare(m: PrepareMessage): void {
    // Any acceptor asked promises (a removed one too: a candidate that has not yet
    // learned of the removal needs it); a candidate counts only its voters.
    this.observeRound(m.ballot.round);
    if (ballotGreater(this.promisedBallot, m.ballot)) {
      this.nack(m.from, m.ballot);
      return;
    }
    if (ballotGreater(m.ballot, this.promisedBallot)) {
      if (this.role !== 'follower') this.becomeFollower(null, `prepare ${formatBallot(m.ballot)} outranks our ${this.role} ballot`);
      this.promise(m.ballot);
      this.leaderId = null; // we no longer accept the old leader's proposals
    }
    this.electionTimeout.reset(); // give the candidate its chance
    const entries: PromisedEntry[] = this.log
      .range(m.fromSlot, this.log.lastSlot)
      .map((e) => ({ slot: e.slot, ballot: e.ballot, command: e.command, decided: e.slot <= this.log.decidedIndex }));
    this.send({
      type: 'promise',
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      fromSlot: m.fromSlot,
      decidedIndex: this.log.decidedIndex,
      entries,
      compactedThrough: this.log.compactedThrough,
    });
    // The candidate asks for slots we compacted: it will step back; send it our snapshot so that it (or
    // anyone it then follows) can go on - we may be the only one that has those slots, and unable to lead.
    if (m.fromSlot <= this.log.compactedThrough) {
      let pr = this.snapshotOffers.get(m.from);
      if (!pr) this.snapshotOffers.set(m.from, (pr = this.freshProgress(m.from)));
      this.sendSnapshot(m.from, pr, m.ballot);
    }
  }

  private onPromise(m: PromiseMessage): void {
    if (this.role !== 'candidate' || !ballotEquals(m.ballot, this.ownBallot)) return; // stale or late
    if (m.fromSlot !== this.prepareFromSlot) return; // answers an older prepare of ours
    this.recordPromise(m);
  }

  private recordPromise(m: PromiseMessage): void {
    if (m.compactedThrough >= this.prepareFromSlot) {
      // That acceptor dropped decided slots we do not have: we could fill them with
      // no-ops where values were chosen. Let a better-informed replica lead; it will
      // send us a snapshot.
      this.becomeFollower(null, `acceptor ${m.from} compacted through ${m.compactedThrough}, beyond what we know (${this.prepareFromSlot - 1})`);
      return;
    }
    this.promises.set(m.from, m);
    // Configuration changes above our decided index: phase 1 needs a quorum of each of them too, so ask their voters.
    for (const id of this.configs.learnFromPromise(m.entries)) {
      if (id === this.id || this.preparedTo.has(id)) continue;
      this.preparedTo.add(id);
      this.send({ type: 'prepare', from: this.id, to: id, ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
    }
    if (this.isElectionQuorum(new Set(this.promises.keys()))) this.becomeLeader();
  }

  private selfPromise(): PromiseMessage {
    return {
      type: 'promise',
      from: this.id,
      to: this.id,
      ballot: this.ownBallot,
      fromSlot: this.prepareFromSlot,
      decidedIndex: this.log.decidedIndex,
      compactedThrough: this.log.compactedThrough,
      entries: this.log
        .range(this.prepareFromSlot, this.log.lastSlot)
        .map((e) => ({ slot: e.slot, ballot: e.ballot, command: e.command, decided: e.slot <= this.log.decidedIndex })),
    };
  }

  private onNack(m: NackMessage): void {
    this.observeRound(m.promised.round);
    if ((this.role === 'leader' || this.role === 'candidate') && ballotEquals(m.ballot, this.ownBallot)) {
      this.becomeFollower(null, `acceptor ${m.from} promised ${formatBallot(m.promised)} above our ${formatBallot(m.ballot)}`);
    }
  }

  /** Our leader hands leadership to us: campaign now, without a pre-vote (it vouches that we are caught up). */
  private onTimeoutNow(m: TimeoutNowMessage): void {
    this.observeRound(m.ballot.round);
    if (this.role !== 'follower' || this.leaderId !== m.from || !ballotEquals(m.ballot, this.promisedBallot)) return; // stale
    if (!this.electable()) return;
    this.campaignIsManual = m.manual;
    this.electNow();
  }

  /** Campaign at once, skipping pre-vote. */
  private electNow(): void {
    this.becomePreCandidate();
    if ((this.role as Role) === 'pre-candidate') this.becomeCandidate(); // unless it already won alone
  }

  // ---------------------------------------------------------------- phase 2 handlers

  /**
   * A message from a leader at `ballot`: true if we follow it (promising it if it
   * is new to us), false if it is stale and was refused.
   */
  private followLeader(from: ReplicaId, ballot: Ballot): boolean {
    this.observeRound(ballot.round);
    if (ballotGreater(this.promisedBallot, ballot)) {
      this.nack(from, ballot);
      return false;
    }
    if (ballotGreater(ballot, this.promisedBallot)) this.promise(ballot);
    if (this.role !== 'follower' || this.leaderId !== from) {
      this.becomeFollower(from, `leader ${from} at ${formatBallot(ballot)}`);
    } else {
      this.electionTimeout.start(); // restarts from zero, and resumes a quiescent follower's timer
    }
    this.quiescent = false;
    return true;
  }

  private onAccept(m: AcceptMessage): void {
    if (!this.followLeader(m.from, m.ballot)) return;
    m.commands.forEach((command, i) => {
      const slot = m.firstSlot + i;
      if (slot <= this.log.decidedIndex) return; // already final here
      this.writeEntry({ slot, ballot: m.ballot, command });
    });
    this.learnDecided(m.ballot, m.decidedIndex);
    this.send({
      type: 'accepted',
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      firstSlot: m.firstSlot,
      lastSlot: m.firstSlot + m.commands.length - 1,
      decidedIndex: this.log.decidedIndex,
    });
  }

  private onHeartbeat(m: HeartbeatMessage): void {
    if (!this.followLeader(m.from, m.ballot)) return;
    this.learnDecided(m.ballot, m.decidedIndex);
    if (m.quiesce && this.log.decidedIndex >= m.decidedIndex) {
      // The leader went quiet and we hold everything: stop watching it until someone speaks.
      if (!this.quiescent) this.quietToPersist = { leaderId: m.from, ballot: m.ballot, epoch: this.epoch };
      this.quiescent = true;
      this.electionTimeout.stop();
    }
    this.send({
      type: 'heartbeat-reply',
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      decidedIndex: this.log.decidedIndex,
      readSeq: m.readSeq,
    });
  }

  /**
   * The leader at `ballot` says everything through `leaderDecided` is decided. A
   * slot is decided here only if we hold the leader's own value for it (accepted
   * at `ballot`); otherwise we wait for the leader to catch us up.
   */
  private learnDecided(ballot: Ballot, leaderDecided: number): void {
    let through = this.log.decidedIndex;
    while (through < leaderDecided) {
      const e = this.log.get(through + 1);
      if (!e) break;
      if (!ballotEquals(e.ballot, ballot)) break;
      through += 1;
    }
    this.log.markDecidedThrough(through);
    this.refreshActive();
  }

  private onAccepted(m: AcceptedMessage): void {
    if (this.role !== 'leader' || !ballotEquals(m.ballot, this.ownBallot)) return; // stale
    const pr = this.progressOf(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.lastReplyTick = this.nowTicks;
    pr.decidedIndex = Math.max(pr.decidedIndex, m.decidedIndex);
    pr.ackedThrough = Math.max(pr.ackedThrough, pr.decidedIndex);
    if (m.firstSlot <= pr.ackedThrough + 1) pr.ackedThrough = Math.max(pr.ackedThrough, m.lastSlot);
    for (let s = m.firstSlot; s <= m.lastSlot; s++) this.ackSlot(s, m.from);
    this.advanceLeaderDecided();
    if (this.role !== 'leader') return; // the decided configuration removed us
    this.catchUp(m.from, pr);
    if (this.transfer?.target === m.from) this.completeTransfer();
  }

  private onHeartbeatReply(m: HeartbeatReplyMessage): void {
    if (this.role !== 'leader' || !ballotEquals(m.ballot, this.ownBallot)) return; // stale
    const pr = this.progressOf(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.lastReplyTick = this.nowTicks;
    pr.decidedIndex = Math.max(pr.decidedIndex, m.decidedIndex);
    pr.ackedThrough = Math.max(pr.ackedThrough, pr.decidedIndex);
    pr.readSeqAcked = Math.max(pr.readSeqAcked, m.readSeq);
    this.confirmReads();
    this.catchUp(m.from, pr);
  }

  // ---------------------------------------------------------------- leader machinery

  private ackSlot(slot: number, from: ReplicaId): void {
    const p = this.pending.get(slot);
    if (!p) return; // decided already, or not ours
    p.acks.add(from);
    if (this.isDecisionQuorum(slot, p.acks)) {
      this.pending.delete(slot);
      this.decidedAbove.add(slot);
    }
  }

  private advanceLeaderDecided(): void {
    for (;;) {
      let through = this.log.decidedIndex;
      while (this.decidedAbove.has(through + 1)) {
        this.decidedAbove.delete(through + 1);
        through += 1;
      }
      if (through === this.log.decidedIndex) return;
      this.log.markDecidedThrough(through);
      while (this.batches.length > 0 && this.batches[0]!.lastSlot <= through) this.batches.shift();
      if (through >= this.openingSlot && this.waitingReads.length > 0) {
        const waiting = this.waitingReads;
        this.waitingReads = [];
        for (const readId of waiting) {
          this.pendingReads.push({ readId, readIndex: through, seq: this.readSeqBroadcast + 1 });
        }
        this.confirmReads();
      }
      const changed = this.refreshActive();
      if (this.role !== 'leader' || !changed) return;
      // A configuration change was decided: later slots may now need fewer quorums.
      for (const [slot, p] of this.pending) {
        if (this.isDecisionQuorum(slot, p.acks)) {
          this.pending.delete(slot);
          this.decidedAbove.add(slot);
        }
      }
    }
  }

  /** Queued proposals go out as accept rounds, as many as the in-flight window allows. */
  private flushProposals(): void {
    if (this.role !== 'leader') return;
    if (this.transfer) return; // writes wait while leadership is being handed over
    const flow = this.flow;
    while (this.proposals.length > 0 && this.batches.length < flow.inflightMax) {
      // Batch window: while a round is in flight, a short queue waits for more commands
      // (the next decided round flushes again, so nothing waits forever).
      if (this.batches.length > 0 && this.proposals.length < flow.batchMin) break;
      const batch = this.proposals.splice(0, flow.batchMax);
      const first = this.nextSlot;
      for (const command of batch) {
        this.writeEntry({ slot: this.nextSlot, ballot: this.ownBallot, command });
        this.pending.set(this.nextSlot, { acks: new Set(), sentTick: this.nowTicks });
        this.nextSlot += 1;
      }
      const last = this.nextSlot - 1;
      this.batches.push({ firstSlot: first, lastSlot: last });
      this.broadcastAccept(first, last);
    }
  }

  private broadcastAccept(first: number, last: number): void {
    const commands = this.log.range(first, last).map((e) => e.command);
    if (commands.length !== last - first + 1) throw new Error(`replica ${this.id}: accept run ${first}..${last} has holes`);
    for (const to of this.peers) {
      if (this.throttled(to)) continue;
      this.send({ type: 'accept', from: this.id, to, ballot: this.ownBallot, firstSlot: first, commands, decidedIndex: this.log.decidedIndex });
      this.travellingTo(to).sent(first, last, this.nowTicks);
    }
  }

  /** The rounds on their way to `to` at our current ballot (travelling-rounds.ts). */
  private travellingTo(to: ReplicaId): TravellingRounds {
    const t = this.travelling.get(to);
    if (t && ballotEquals(t.ballot, this.ownBallot)) return t.rounds;
    const rounds = new TravellingRounds();
    this.travelling.set(to, { ballot: this.ownBallot, rounds });
    return rounds;
  }

  private broadcastHeartbeat(): void {
    for (const to of this.peers) {
      this.send({ type: 'heartbeat', from: this.id, to, ballot: this.ownBallot, decidedIndex: this.log.decidedIndex, readSeq: this.readSeq });
    }
  }

  /** Accepts not acknowledged within `retransmitTicks` go again, to the acceptors that did not answer. */
  private retransmit(): void {
    const stale: number[] = [];
    for (const [slot, p] of this.pending) {
      if (this.nowTicks - p.sentTick >= this.opts.retransmitTicks) {
        stale.push(slot);
        p.sentTick = this.nowTicks;
      }
    }
    if (stale.length === 0) return;
    stale.sort((a, b) => a - b);
    for (const to of this.peers) {
      if (this.throttled(to)) continue;
      let runStart = -1;
      let runEnd = -1;
      const flush = (): void => {
        if (runStart < 0) return;
        const commands = this.log.range(runStart, runEnd).map((e) => e.command);
        this.send({ type: 'accept', from: this.id, to, ballot: this.ownBallot, firstSlot: runStart, commands, decidedIndex: this.log.decidedIndex });
        runStart = -1;
      };
      for (const s of stale) {
        if (this.pending.get(s)!.acks.has(to)) {
          flush();
          continue;
        }
        if (runStart >= 0 && s === runEnd + 1 && s - runStart < this.opts.batchMax) {
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
   * Send decided entries to an acceptor that reported a lower decided index
   * than ours: up to `inflightMax` catch-up messages in flight, restarting from
   * its reported position when nothing was sent for `retransmitTicks`.
   */
  private catchUp(to: ReplicaId, pr: Progress): void {
    if (this.throttled(to)) return;
    // Slots it acknowledged at our ballot it will mark decided on our next message by itself;
    // slots in rounds still on their way to it need no second copy (unless a round is overdue).
    const acked = Math.max(pr.decidedIndex, pr.ackedThrough);
    const known = this.travellingTo(to).travellingThrough(acked, this.nowTicks, this.opts.retransmitTicks);
    if (known >= this.log.decidedIndex) return;
    if (known + 1 < this.log.firstSlot) {
      this.sendSnapshot(to, pr);
      return;
    }
    const quiet = this.nowTicks - pr.catchupTick >= this.opts.retransmitTicks;
    let next = quiet || pr.catchupThrough <= known ? known + 1 : pr.catchupThrough + 1;
    const windowEnd = Math.min(this.log.decidedIndex, known + this.opts.inflightMax * this.opts.catchupBatchMax);
    while (next <= windowEnd) {
      const last = Math.min(windowEnd, next + this.opts.catchupBatchMax - 1);
      const commands = this.log.range(next, last).map((e) => e.command);
      if (commands.length !== last - next + 1) throw new Error(`replica ${this.id}: decided run ${next}..${last} has holes`);
      this.send({ type: 'accept', from: this.id, to, ballot: this.ownBallot, firstSlot: next, commands, decidedIndex: this.log.decidedIndex });
      pr.catchupThrough = last;
      pr.catchupTick = this.nowTicks;
      next = last + 1;
    }
  }

  /**
   * A replica outside every configuration we know campaigns: it was removed
   * while it could not hear about it. Send it the decided log it lacks (or a
   * snapshot) so it learns the configuration that removed it and goes quiet.
   */
  private informOutsider(to: ReplicaId, decidedIndex: number): void {
    const from = decidedIndex + 1;
    if (from > this.log.decidedIndex) return;
    const snap = this.opts.snapshots?.latest();
    if (snap && snap.slot > decidedIndex && (from < this.log.firstSlot || this.log.decidedIndex - decidedIndex > this.opts.catchupBatchMax)) {
      this.sendSnapshot(to, this.freshProgress(to));
      return;
    }
    if (from < this.log.firstSlot) return;
    const last = Math.min(this.log.decidedIndex, from + this.opts.catchupBatchMax - 1);
    const commands = this.log.range(from, last).map((e) => e.command);
    this.send({ type: 'accept', from: this.id, to, ballot: this.ownBallot, firstSlot: from, commands, decidedIndex: this.log.decidedIndex });
  }

  /** The slots it needs are compacted: send our latest snapshot, in pieces, at most once per election timeout. */
  private sendSnapshot(to: ReplicaId, pr: Progress, asAcceptor: Ballot | null = null): void {
    if (pr.snapshotTick >= 0 && this.nowTicks - pr.snapshotTick < this.opts.electionTimeoutTicks) return;
    const snap = this.opts.snapshots?.latest() ?? null;
    if (!snap || snap.slot < this.log.firstSlot - 1) return; // nothing to send yet (a host bug would show up as a stuck acceptor)
    pr.snapshotTick = this.nowTicks;
    const config = this.configs.configurationAt(snap.slot);
    const size = this.opts.snapshotChunkChars ?? 1_000_000;
    const chunks = Math.max(1, Math.ceil(snap.data.length / size));
    for (let i = 0; i < chunks; i++) {
      const piece = { type: 'install-snapshot' as const, from: this.id, to, slot: snap.slot, chunk: i, chunks, data: snap.data.slice(i * size, (i + 1) * size), config };
      this.send(asAcceptor ? { ...piece, ballot: asAcceptor, fromAcceptor: true } : { ...piece, ballot: this.ownBallot });
    }
  }

  /** A piece of the leader's snapshot; once all have arrived, it replaces our prefix and state machine. */
  private onInstallSnapshot(m: InstallSnapshotMessage): void {
    if (m.fromAcceptor) {
      if (this.role === 'leader') return; // a leader is never behind what an acceptor compacted
    } else if (!this.followLeader(m.from, m.ballot)) return;
    if (m.slot > this.log.decidedIndex) {
      const key = `${formatBallot(m.ballot)}/${m.slot}/${m.chunks}`;
      if (this.incoming?.key !== key) this.incoming = { key, chunks: new Array<string | undefined>(m.chunks).fill(undefined), received: 0 };
      const inc = this.incoming;
      if (m.chunk < 0 || m.chunk >= m.chunks) return;
      if (inc.chunks[m.chunk] === undefined) {
        inc.chunks[m.chunk] = m.data;
        inc.received += 1;
      }
      if (inc.received < m.chunks) return;
      this.incoming = null;
      const snap: Snapshot = { slot: m.slot, data: inc.chunks.join('') };
      this.log.installSnapshot(m.slot);
      this.snapshotToPersist = snap;
      if (!this.isLogger) this.snapshotToInstall = snap;
      else this.appliedIndex = Math.max(this.appliedIndex, m.slot); // a logger has no state machine to load
      // The snapshot replaces the log that held the configuration in effect after it.
      this.configs.installSnapshot(m.slot, m.config);
      this.onNewConfiguration();
      // A campaign from before the snapshot asked for slots that are now decided here: start over from it.
      if (m.fromAcceptor && this.role !== 'follower') this.becomeFollower(null, `installed a snapshot through ${m.slot} from acceptor ${m.from}`);
    }
    if (m.fromAcceptor) return;
    // Tell the leader where we are now (after the snapshot is durable: this rides in the same Ready).
    this.send({ type: 'accepted', from: this.id, to: m.from, ballot: m.ballot, firstSlot: m.slot, lastSlot: m.slot, decidedIndex: this.log.decidedIndex });
  }

  /**
   * The host saved `snapshot` (its state machine through `snapshot.slot`, or
   * null for a logger, which has none): drop entries through `through`. A
   * leader keeps what live acceptors still need unless they are so far behind
   * that sending the snapshot is cheaper.
   */
  compact(through: number, snapshot: Snapshot | null): void {
    if (snapshot && snapshot.slot > this.appliedIndex) throw new Error(`replica ${this.id}: snapshot at ${snapshot.slot} is beyond applied ${this.appliedIndex}`);
    let limit = Math.min(through, this.appliedIndex, this.log.decidedIndex, snapshot?.slot ?? Number.POSITIVE_INFINITY);
    if (this.role === 'leader') {
      // An acceptor within a few catch-up rounds of `limit` gets entries, not a snapshot.
      const catchable = 4 * this.opts.inflightMax * this.opts.catchupBatchMax;
      for (const pr of this.progress.values()) {
        const known = Math.max(pr.decidedIndex, pr.ackedThrough);
        const live = this.nowTicks - pr.lastReplyTick < this.opts.electionTimeoutTicks;
        if (live && known < limit && limit - known <= catchable) limit = known;
      }
    }
    if (snapshot) this.snapshotToPersist = snapshot;
    if (limit > this.log.compactedThrough) {
      this.configs.compactTo(limit);
      this.log.compact(limit);
    }
  }

  /** Reads requested since the last broadcast get a heartbeat round of their own. */
  private flushReads(): void {
    if (this.role !== 'leader') return;
    const last = this.pendingReads.at(-1);
    if (!last || last.seq <= this.readSeqBroadcast) return;
    this.reserveReadSeq(last.seq);
    this.readSeq = last.seq;
    this.readSeqBroadcast = last.seq;
    this.broadcastHeartbeat();
  }

  /**
   * Nonces are reserved durably, a block at a time, before one is sent (the
   * reservation rides in the same Ready, persisted before its messages leave).
   * A replica restarted quiet leads again at its old ballot: answers still on
   * their way to its previous life carry that ballot, and only a nonce above
   * all of that life's keeps them from confirming this life's reads.
   */
  private reserveReadSeq(seq: number): void {
    if (seq <= this.readSeqReserved) return;
    this.readSeqReserved = seq + READ_SEQ_BLOCK - 1;
    this.readSeqDirty = true;
  }

  private confirmReads(): void {
    while (this.pendingReads.length > 0) {
      const r = this.pendingReads[0]!;
      const acks = new Set<ReplicaId>([this.id]);
      for (const [id, p] of this.progress) if (p.readSeqAcked >= r.seq) acks.add(id);
      if (!this.isConfirmationQuorum(acks)) return;
      this.pendingReads.shift();
      this.readStates.push({ readId: r.readId, readIndex: r.readIndex });
    }
  }

  /**
   * A passive replica is served after the voters: while proposals queue up
   * behind a full pipeline, it gets no fresh accepts and no catch-up (it
   * catches up once the backlog is gone).
   */
  private throttled(to: ReplicaId): boolean {
    return this.proposals.length > 0 && this.membership.get(to)?.role === 'passive';
  }

  /** For a leader: what its quorum policy lacks among the acceptors heard from recently, or null. */
  private writesBlocked(): string | null {
    if (this.role !== 'leader') return null;
    const active = new Set<ReplicaId>([this.id]);
    for (const [id, p] of this.progress) if (this.nowTicks - p.lastReplyTick < this.opts.electionTimeoutTicks) active.add(id);
    return this.configs.explainBlocked(active);
  }

  /** A hand-over in progress goes on or times out; otherwise fail-back may start one. */
  private tickTransfer(): void {
    const t = this.transfer;
    if (t) {
      if (this.nowTicks - t.sinceTick >= t.timeoutTicks) this.transfer = null; // it did not take over: resume writing
      else this.completeTransfer();
      return;
    }
    this.maybeFailBack();
  }

  /**
   * Fail-back (DCF priority election): when an electable replica of higher
   * priority answers us and has every decided entry, hand leadership to it.
   */
  private maybeFailBack(): void {
    const target = this.failBackTarget();
    if (target !== null) this.startTransfer(target, false, this.opts.electionTimeoutTicks);
  }

  /** The reachable, caught-up, electable replica of highest priority above ours, if fail-back is on. */
  private failBackTarget(): ReplicaId | null {
    if (!this.priority.enabled || !this.priority.failback || this.failbackSuppressed) return null;
    let best: Member | null = null;
    for (const m of this.membership.members) {
      if (m.id === this.id || !isElectable(m) || m.priority <= (this.self?.priority ?? 0)) continue;
      if (!this.reachableAndCaughtUp(m.id)) continue;
      if (!best || m.priority > best.priority) best = m;
    }
    return best?.id ?? null;
  }

  private reachableAndCaughtUp(id: ReplicaId): boolean {
    const pr = this.progress.get(id);
    if (!pr || this.nowTicks - pr.lastReplyTick >= this.opts.electionTimeoutTicks) return false;
    return Math.max(pr.decidedIndex, pr.ackedThrough) >= this.log.decidedIndex;
  }

  /**
   * Hand leadership to `target`: stop taking new writes, wait until nothing is
   * in flight and it holds everything we proposed, then tell it to campaign at
   * once. Abandoned (writes resume) after `timeoutTicks`.
   */
  private startTransfer(target: ReplicaId, manual: boolean, timeoutTicks: number): void {
    this.transfer = { target, sinceTick: this.nowTicks, sent: false, manual, timeoutTicks };
    this.completeTransfer();
  }

  private completeTransfer(): void {
    const t = this.transfer;
    if (!t || t.sent) return;
    const pr = this.progress.get(t.target);
    const last = this.nextSlot - 1;
    if (this.pending.size > 0 || !pr || Math.max(pr.decidedIndex, pr.ackedThrough) < last) {
      if (pr) this.catchUp(t.target, pr);
      return;
    }
    t.sent = true;
    this.send({ type: 'timeout-now', from: this.id, to: t.target, ballot: this.ownBallot, manual: t.manual });
  }

  private progressOf(id: ReplicaId): Progress | undefined {
    return this.progress.get(id);
  }

  // ---------------------------------------------------------------- configuration

  private get membership(): Membership {
    return this.configs.membership;
  }

  /** What makes a proposed configuration unsafe or unable to decide now, or null. */
  private refuseChange(next: CompiledConfiguration): { code: 'invalid-change' | 'would-block'; message: string } | null {
    if (configurationKey(next.configuration) === configurationKey(this.configs.active.config.configuration)) {
      return { code: 'invalid-change', message: 'the configuration would not change' };
    }
    const me = next.membership.get(this.id);
    if (!me || !isElectable(me)) {
      return { code: 'invalid-change', message: `replica ${this.id} leads and would no longer be an electable voter: hand leadership over first (switchover or step-down)` };
    }
    for (const m of next.membership.members) {
      const old = this.membership.get(m.id);
      if (!old) {
        if (this.opts.configuration.members.some((b) => b.id === m.id && b.role === 'logger')) {
          return { code: 'invalid-change', message: `replica ${m.id} was a logger (it keeps no state machine) and can only come back as one: add a new replica instead` };
        }
        if (m.role !== 'passive') {
          return { code: 'invalid-change', message: `replica ${m.id} is new: it joins as passive (a learner) and becomes a ${m.role} by a later change, once it has caught up` };
        }
        continue;
      }
      if ((m.incarnation ?? 1) !== (old.incarnation ?? 1)) {
        if ((m.incarnation ?? 1) < (old.incarnation ?? 1)) {
          return { code: 'invalid-change', message: `replica ${m.id} is in incarnation ${old.incarnation ?? 1}; a rebuild only moves to a later one` };
        }
        if (m.role !== 'passive') {
          return { code: 'invalid-change', message: `replica ${m.id} starts a new incarnation (a rebuild): it joins as passive and becomes a ${m.role} once it has caught up` };
        }
      }
      if ((old.role === 'logger') !== (m.role === 'logger')) {
        return { code: 'invalid-change', message: `replica ${m.id} cannot change between logger and ${old.role === 'logger' ? m.role : old.role}: a logger keeps no state machine; remove it and add a new replica instead` };
      }
      if (isVoter(m) && !isVoter(old) && this.configs.override) {
        return { code: 'invalid-change', message: `in minority mode only the survivors vote: make replica ${m.id} a ${m.role} after returning to normal mode` };
      }
      if (isVoter(m) && !isVoter(old) && !this.reachableAndCaughtUp(m.id)) {
        return { code: 'would-block', message: `replica ${m.id} has not caught up with the decided log (or is not answering); it becomes a voter once it has` };
      }
    }
    const live = new Set<ReplicaId>([this.id]);
    for (const [id, pr] of this.progress) if (this.nowTicks - pr.lastReplyTick < this.opts.electionTimeoutTicks) live.add(id);
    // In minority mode the survivors decide (typically to rebuild or remove the lost replicas): that is what must work now.
    if (this.configs.override) {
      const blocked = this.configs.explainBlocked(live);
      return blocked === null ? null : { code: 'would-block', message: blocked };
    }
    const missing = next.quorum.explainPhase2(live);
    if (missing !== null) return { code: 'would-block', message: `the replicas answering now could not decide under the new configuration: ${missing}` };
    if (!next.quorum.isPhase1Quorum(live)) return { code: 'would-block', message: 'the replicas answering now could not elect a leader under the new configuration' };
    return null;
  }

  /** The decided index moved: true if the configuration in effect or the chain changed. */
  private refreshActive(): boolean {
    const changed = this.configs.refresh();
    if (changed === 'active') this.onNewConfiguration();
    else if (changed === 'chain') this.configurationChanged();
    return changed !== null;
  }

  /** A new configuration took effect. */
  private onNewConfiguration(): void {
    // An operator's newer instruction (priorities, roles) supersedes an earlier choice of leader.
    this.failbackSuppressed = false;
    this.self = this.ownRecord();
    this.configurationChanged();
    if ((this.role === 'leader' || this.role === 'candidate' || this.role === 'pre-candidate') && !this.electable()) {
      this.becomeFollower(null, 'the configuration in effect no longer lets this replica lead');
    }
  }

  /** The chain of configurations changed: recompute who we talk to. */
  private configurationChanged(): void {
    const { members, voters } = this.configs.peers(this.id);
    this.peers = members;
    this.electionPeers = voters;
    if (this.role !== 'leader') return;
    const ids = new Set(members);
    for (const id of this.progress.keys()) if (!ids.has(id)) this.progress.delete(id);
    for (const id of this.peers) {
      const pr = this.progress.get(id);
      if (!pr || pr.incarnation !== this.configs.incarnationOf(id)) this.progress.set(id, this.freshProgress(id));
    }
  }

  /** Store an entry in our log, tracking `config` commands above the decided index. */
  private writeEntry(e: Entry): void {
    this.log.set(e);
    if (this.configs.noteWrite(e)) this.configurationChanged();
  }

  private isDecisionQuorum(slot: number, acks: ReadonlySet<ReplicaId>): boolean {
    return this.configs.isDecisionQuorum(slot, acks);
  }

  private isElectionQuorum(voters: ReadonlySet<ReplicaId>): boolean {
    return this.configs.isElectionQuorum(voters);
  }

  private isConfirmationQuorum(acceptors: ReadonlySet<ReplicaId>): boolean {
    return this.configs.isConfirmationQuorum(acceptors);
  }

  /** A later epoch exists: stop everything, durably, until an operator rebuilds this replica. */
  private fence(): void {
    if (this.role !== 'follower') this.becomeFollower(null, 'fenced by a later epoch');
    this.leaderId = null;
    this.fenced = true;
    this.epochDirty = true;
    this.electionTimeout.stop();
  }

  /** Nothing promised, accepted, decided or compacted, ever: this replica holds no history. */
  private isBlank(): boolean {
    return ballotEquals(this.promisedBallot, ZERO_BALLOT) && this.log.lastSlot === 0 && this.log.compactedThrough === 0;
  }

  /** May this replica lead: an electable voter in the configuration in effect. */
  private electable(): boolean {
    return this.self !== undefined && isElectable(this.self);
  }

  private memberInChain(id: ReplicaId): Member | undefined {
    return this.configs.memberInChain(id);
  }

  /**
   * Our member record in the configuration in effect, if it names this
   * incarnation of us: a rebuilt replica is not the member an older
   * configuration lists under its id (it must not lead or vote as that one).
   */
  private ownRecord(): Member | undefined {
    const m = this.configs.membership.get(this.id);
    return m && (m.incarnation ?? 1) === this.incarnation ? m : undefined;
  }

  private freshProgress(id: ReplicaId): Progress {
    return {
      incarnation: this.configs.incarnationOf(id),
      decidedIndex: 0,
      ackedThrough: 0,
      recentActive: false,
      readSeqAcked: 0,
      catchupThrough: 0,
      catchupTick: 0,
      lastReplyTick: this.nowTicks,
      snapshotTick: -1,
    };
  }

  // ---------------------------------------------------------------- helpers

  private promise(ballot: Ballot): void {
    this.promisedBallot = ballot;
    this.promisedDirty = true;
  }

  private observeRound(round: number): void {
    if (round > this.maxRoundSeen) this.maxRoundSeen = round;
  }

  private nack(to: ReplicaId, ballot: Ballot): void {
    this.send({ type: 'nack', from: this.id, to, ballot, promised: this.promisedBallot });
  }

  private notLeader(): NotLeader {
    return { ok: false, reason: 'not-leader', leaderHint: this.leaderId === this.id ? null : this.leaderId };
  }

  private send(m: Message): void {
    // An answer goes to the life of the replica that asked (we may not know its incarnation from our configuration).
    const incarnation = this.answering?.to === m.to ? this.answering.incarnation : this.configs.incarnationOf(m.to);
    let out = m;
    if (this.epoch > 0) out = { ...out, epoch: this.epoch };
    if (incarnation !== 1) out = { ...out, toIncarnation: incarnation };
    if (this.incarnation !== 1) out = { ...out, fromIncarnation: this.incarnation };
    this.outbox.push(out);
  }
}

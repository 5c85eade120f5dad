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
import { ConfigurationChain } from './configuration-chain.ts';
import type { Configuration } from './configuration.ts';
import { type FlowLimits, type FlowState, checkFlowLimits } from './flow-control.ts';
import { priorityElectionTicks } from './election-timing.ts';
import { AcceptorLog, type DurableState, EMPTY_DURABLE_STATE, type Entry, type QuietRecord, type Snapshot } from './log.ts';
import { type Member, type Membership, aRole, isElectable, isVoter } from './membership.ts';
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
import { type Progress, ProgressTracker, knownThrough } from './progress.ts';
import { Quiet, mayGoQuiet, quietRestore } from './quiet.ts';
import { ReadIndex } from './read-index.ts';
import type { PersistDelta, Ready } from './ready.ts';
import { changeInProgress, compileChange, refuseConfigurationChange } from './reconfiguration.ts';
import { Replication, provenDecidedThrough, storeAcceptedRun } from './replication.ts';
import { randomBelow } from './rng.ts';
import {
  DEFAULT_PRIORITY,
  type NotLeader,
  type OperatorResult,
  type PriorityOptions,
  type ProposeResult,
  type QuorumOverride,
  type ReadIndexResult,
  type Refusal,
  type ReplicaOptions,
  type ReplicaStatus,
  type Role,
  type Transition,
  checkQuorumOverride,
  validateOptions,
} from './replica-options.ts';
import { DEFAULT_SNAPSHOT_CHUNK_CHARS, SnapshotAssembly, SnapshotShipper } from './snapshot-shipping.ts';
import { type NearestQuorum, Thrifty } from './thrifty.ts';
import { Timeout } from './timeout.ts';
import { LeadershipTransfer, failBackTarget, stepDownTarget, transferRefusal } from './transfer.ts';

/** `n ticks`, or `1 tick`. */
function ticks(n: number): string {
  return n === 1 ? '1 tick' : `${n} ticks`;
}

/** An acceptor's answers to a proposer: they count only from the incarnation the configuration names. */
const ANSWERS: ReadonlySet<Message['type']> = new Set(['promise', 'accepted', 'heartbeat-reply', 'pre-vote-reply', 'nack']);

/**
 * One replica of one stream: proposer, acceptor and learner of Multi-Paxos as a
 * pure state machine in the shape of etcd-raft's RawNode. The host feeds it
 * `tick`, `step`, `propose` and `readIndex`, then takes a `Ready`, does what it
 * says (persist, send, apply) and calls `advance`. It does no I/O and reads no
 * clock; its only randomness is the injected `rng`.
 *
 * This class keeps dispatch (`step` and the handlers, named after the
 * message), the role transitions (`becomeX`, each saying why) and
 * `ready`/`advance`. The concepts it coordinates have modules of their own:
 * progress tracking (progress.ts), read-index (read-index.ts), replication
 * (replication.ts), leadership transfer and fail-back (transfer.ts), snapshot
 * shipping (snapshot-shipping.ts), going quiet and quiet restore
 * (quiet.ts), and configuration-change refusals (reconfiguration.ts).
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
  private appliedThrough: number;
  /** The Ready handed out and not yet advanced past. */
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
  /**
   * Our host was not run for a while (a late wake-up forgiven: `resume`) and
   * nothing from the leader has arrived since: the restarted election timer
   * says when we may campaign, not that we heard from the leader. So we vouch
   * for the leader (refuse a pre-vote on its behalf) only for two heartbeat
   * intervals after the resume, in which a live leader is heard from, and not
   * for a whole election timeout.
   */
  private leaderUnheardSinceResume = false;
  /** Electable voters heard campaigning recently: who outranks a pre-candidate. */
  private heardCampaigning = new Map<ReplicaId, { tick: number; decidedThrough: number }>();

  private readonly electionTimeout: Timeout;
  private readonly heartbeatTimeout: Timeout;
  private readonly checkQuorumTimeout: Timeout;

  private outbox: Message[] = [];
  /** A snapshot to persist with the next Ready (from compaction or installation). */
  private snapshotToPersist: Snapshot | null = null;
  /** A snapshot the host must load into its state machine with the next Ready. */
  private snapshotToInstall: Snapshot | null = null;
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
  /** What the leader knows of every other acceptor (progress.ts). */
  private readonly progress: ProgressTracker;
  /** Phase 2: accept batches, acknowledgements, retransmission, catch-up (replication.ts). */
  private readonly replication: Replication;
  /** Linearizable reads waiting for a quorum's confirmation (read-index.ts). */
  private readonly reads: ReadIndex;
  /** Thrifty replication (thrifty.ts): the round trips a leader measures and its nearest quorum; null when off. */
  private readonly thrifty: Thrifty | null;
  /** Reads wait until the leader has decided a slot of its own ballot (its opening no-op). */
  private openingSlot = 0;
  /** Leadership hand-over in progress, and whether fail-back is held off (transfer.ts). */
  private readonly transfer = new LeadershipTransfer();
  /** We are campaigning because an operator (or a leader's hand-over ordered by one) asked. */
  private campaignIsManual = false;
  /** Run mode (DCF RUN_MODE): with automatic elections off, nobody campaigns by itself. */
  private autoElection: boolean;
  /** Whether this replica is quiet, and what it stores when it goes quiet (quiet.ts). */
  private readonly quiet = new Quiet();
  /** Our snapshot, sent to acceptors that need compacted slots (snapshot-shipping.ts). */
  private readonly shipper: SnapshotShipper;
  /** Pieces of a snapshot being received. */
  private readonly incoming = new SnapshotAssembly();
  /** Which epoch we belong to (a minority force-start begins a new one); durable. */
  private epoch: number;
  private epochDirty = false;
  /** We heard from a later epoch: our history was forked off; we do nothing until rebuilt. Durable. */
  private fenced: boolean;
  /** Which life of this replica this is: messages meant for another are ignored. Set by a rebuild. */
  private readonly incarnation: number;
  /** While a message is stepped: its sender and the incarnation it came from (answers go back to that one). */
  private answering: { readonly to: ReplicaId; readonly incarnation: number } | null = null;
  /** The latest role change and the latest refusal, with their reasons (status). */
  private lastTransition: Transition | null = null;
  private lastRefusal: Refusal | null = null;

  constructor(opts: ReplicaOptions, durable: DurableState = EMPTY_DURABLE_STATE, appliedThrough = 0) {
    validateOptions(opts);
    this.opts = opts;
    this.id = opts.id;
    this.priority = opts.priority ?? DEFAULT_PRIORITY;
    this.autoElection = opts.autoElection ?? true;
    this.log = new AcceptorLog(durable);
    this.isLogger = opts.configuration.members.find((m) => m.id === this.id)?.role === 'logger';
    this.epoch = durable.epoch ?? 0;
    this.reads = new ReadIndex(durable.readSeqReserved ?? 0);
    this.fenced = durable.fenced ?? false;
    this.incarnation = durable.incarnation ?? 1;
    this.progress = new ProgressTracker(opts.electionTimeoutTicks);
    this.thrifty = opts.thrifty ? new Thrifty(opts.thrifty) : null;
    this.replication = new Replication(
      {
        id: this.id,
        log: this.log,
        timing: opts,
        now: () => this.nowTicks,
        ballot: () => this.ownBallot,
        peers: () => this.peers,
        isDecisionQuorum: (slot, acks) => this.configs.isDecisionQuorum(slot, acks),
        isPassive: (id) => this.membership.get(id)?.role === 'passive',
        writeEntry: (e) => this.writeEntry(e),
        send: (m) => this.send(m),
        sendSnapshot: (to, pr) => this.shipper.send(to, pr, this.ownBallot),
        snapshotAfter: (after) => this.shipper.hasSnapshotAfter(after),
        nearestQuorum: () => this.nearestQuorum(),
      },
      { inflightMax: opts.inflightMax, batchMax: opts.batchMax, batchMin: 1 },
    );
    this.shipper = new SnapshotShipper({
      id: this.id,
      snapshots: opts.snapshots,
      chunkChars: opts.snapshotChunkChars ?? DEFAULT_SNAPSHOT_CHUNK_CHARS,
      electionTimeoutTicks: opts.electionTimeoutTicks,
      now: () => this.nowTicks,
      firstSlot: () => this.log.firstSlot,
      configurationAt: (slot) => this.configs.configurationAt(slot),
      send: (m) => this.send(m),
    });
    this.configs = new ConfigurationChain(this.log, durable.baseConfig ?? { slot: 0, configuration: opts.configuration });
    this.self = this.ownRecord();
    this.configurationChanged();
    this.promisedBallot = durable.promised;
    this.maxRoundSeen = this.promisedBallot.round;
    if (appliedThrough > this.log.decidedThrough) {
      throw new Error(`replica ${opts.id}: appliedThrough ${appliedThrough} is beyond decidedThrough ${this.log.decidedThrough}`);
    }
    if (appliedThrough < this.log.compactedThrough && !this.isLogger) {
      throw new Error(`replica ${opts.id}: entries through ${this.log.compactedThrough} were compacted, but its state machine starts at ${appliedThrough}`);
    }
    if (appliedThrough < this.log.compactedThrough) appliedThrough = this.log.compactedThrough; // a logger: nothing to apply there
    this.appliedThrough = appliedThrough;
    this.electionTimeout = new Timeout('election', this.randomizedElectionTicks());
    this.heartbeatTimeout = new Timeout('heartbeat', opts.heartbeatIntervalTicks);
    this.checkQuorumTimeout = new Timeout('check-quorum', opts.electionTimeoutTicks);
    this.electionTimeout.start();
    if (durable.quiet) this.restoreQuiet(durable.quiet);
  }

  /** Come back as this replica went quiet, if that is still safe (quiet.ts `quietRestore` says when and why). */
  private restoreQuiet(q: QuietRecord): void {
    const restore = quietRestore(q, {
      id: this.id,
      fenced: this.fenced,
      member: this.self !== undefined,
      electable: this.electable(),
      epoch: this.epoch,
      promised: this.promisedBallot,
      decidedThrough: this.log.decidedThrough,
      lastSlot: this.log.lastSlot,
    });
    if (restore.kind === 'refused') {
      this.refuse('quiet restore', restore.why);
      return;
    }
    if (restore.kind === 'lead') {
      this.transition('leader', this.id, `quiet restore: led at ${formatBallot(restore.ballot)} before going quiet, and nothing answered since`);
      this.role = 'leader';
      this.leaderId = this.id;
      this.ownBallot = restore.ballot;
      this.replication.begin();
      this.replication.reserveThrough(this.log.lastSlot);
      this.openingSlot = this.log.decidedThrough; // decided long ago: reads need only their quorum confirmation
      this.progress.reset(this.peers, (id) => this.configs.incarnationOf(id), this.nowTicks);
      this.thrifty?.reset();
    } else {
      this.transition('follower', restore.leaderId, `quiet restore: followed ${restore.leaderId} at ${formatBallot(q.ballot)} before going quiet`);
      this.leaderId = restore.leaderId;
    }
    this.leaderSinceTick = this.nowTicks;
    this.quiet.isQuiet = true;
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
   * wake-up was late, and how often to forgive one (src/host/host-clock.ts).
   *
   * A follower that resumes does not campaign for another election timeout,
   * but it vouches for its leader (refuses pre-votes on its behalf) only for
   * two heartbeat intervals unless it hears from it: a peer that asks for a
   * pre-vote after that has seen the leader silent for longer than the
   * stalled follower could. (It used to refuse for a whole timeout from the
   * resume, holding a real failover up by one election timeout; not vouching
   * at all let a peer that was stalled too depose a live leader.)
   */
  resume(): void {
    if (this.fenced || this.quiet.isQuiet) return;
    if (this.role === 'leader') {
      this.checkQuorumTimeout.reset();
      this.heartbeatTimeout.reset();
      this.broadcastHeartbeat();
    } else {
      this.electionTimeout.reset();
      this.leaderUnheardSinceResume = this.leaderId !== null;
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
        if (!this.preVotes.has(to)) this.send({ type: 'pre-vote', from: this.id, to, ballot: this.preVoteBallot, decidedThrough: this.log.decidedThrough });
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
        // A later epoch exists: our history was forked off (or, a voter, we would vote by the old quorums).
        this.fence(`${m.type} from ${m.from} of epoch ${theirs}`);
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
   * together as one accept batch at the next `ready()`.
   */
  propose(command: ClientCommand): ProposeResult {
    if (this.fenced) return this.notLeader('proposal');
    this.wakeUp();
    if (this.role !== 'leader') return this.notLeader('proposal');
    this.replication.queue(command);
    return { ok: true };
  }

  /**
   * Ask to serve a linearizable read. When leadership is confirmed by a quorum
   * after this call, a `ReadState` with this id appears in a Ready.
   */
  readIndex(readId: string): ReadIndexResult {
    if (this.fenced) return this.notLeader('read');
    this.wakeUp();
    if (this.role !== 'leader') return this.notLeader('read');
    if (this.reads.request(readId, this.log.decidedThrough, this.openingSlot)) this.confirmReads();
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
    if (this.role !== 'leader') return this.refuseOperator('switchover', { ok: false, code: 'not-leader', message: 'only the leader can hand over leadership', leaderHint: this.leaderId });
    const refusal = transferRefusal(target, this.membership.get(target), this.id);
    if (refusal) return this.refuseOperator('switchover', { ok: false, code: 'invalid-target', message: refusal });
    this.startTransfer(target, true, timeoutTicks);
    return { ok: true, target };
  }

  /** The leader steps down in favour of the best other replica (highest priority, caught up, reachable). */
  stepDown(timeoutTicks = 2 * this.opts.electionTimeoutTicks): OperatorResult {
    if (this.role !== 'leader') return this.refuseOperator('step-down', { ok: false, code: 'not-leader', message: 'only the leader can step down', leaderHint: this.leaderId });
    const best = stepDownTarget(this.membership.members, this.id, (id) => {
      const pr = this.progress.get(id);
      return pr !== undefined && this.progress.isLive(pr, this.nowTicks);
    });
    if (best === null) return this.refuseOperator('step-down', { ok: false, code: 'no-target', message: 'no other replica that can lead is reachable' });
    return this.transferLeadership(best, timeoutTicks);
  }

  /** Start an election now, skipping pre-vote (an operator promoting this replica, e.g. in manual run mode). */
  campaignNow(): OperatorResult {
    if (this.fenced) return this.refuseOperator('promote', { ok: false, code: 'invalid-target', message: `replica ${this.id} is fenced by a later epoch and does nothing until rebuilt` });
    if (!this.electable()) return this.refuseOperator('promote', { ok: false, code: 'invalid-target', message: `replica ${this.id} is ${this.self ? aRole(this.self.role) : 'not a member'} and cannot lead` });
    if (this.role === 'leader') return this.refuseOperator('promote', { ok: false, code: 'invalid-target', message: `replica ${this.id} already leads` });
    this.campaignIsManual = true;
    this.electNow('an operator promoted this replica');
    return { ok: true, target: this.id };
  }

  /** Run mode: with automatic elections off, no replica starts an election by itself. */
  setAutoElection(on: boolean): void {
    // Back to automatic: an operator's earlier choice of leader no longer holds off fail-back.
    if (on && !this.autoElection) this.transfer.failbackSuppressed = false;
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
   * configuration. One change at a time; the refusals are in reconfiguration.ts.
   * The change takes effect for the slots after its own once decided; the host
   * learns that the way it learns any proposal's outcome.
   */
  changeConfiguration(command: ConfigCommand): OperatorResult {
    this.wakeUp();
    if (this.role !== 'leader') return this.refuseOperator('configuration change', { ok: false, code: 'not-leader', message: 'only the leader can change the configuration', leaderHint: this.leaderId });
    const busy = changeInProgress(this.configs.pending() !== null || this.replication.hasQueued('config'), this.transfer.inProgress !== null);
    if (busy) return this.refuseOperator('configuration change', { ok: false, ...busy });
    const next = compileChange(command.configuration);
    if ('code' in next) return this.refuseOperator('configuration change', { ok: false, ...next });
    const refusal = refuseConfigurationChange(next, {
      self: this.id,
      active: this.configs.active.config.configuration,
      membership: this.membership,
      bootstrap: this.opts.configuration,
      minorityMode: this.configs.override !== null,
      live: this.progress.liveSet(this.id, this.nowTicks),
      caughtUp: (id) => this.progress.caughtUp(id, this.log.decidedThrough, this.nowTicks),
      explainBlocked: (live) => this.configs.explainBlocked(live),
    });
    if (refusal) return this.refuseOperator('configuration change', { ok: false, ...refusal });
    this.replication.queue(command);
    return { ok: true, target: this.id };
  }

  /** Change how the leader batches proposals from now on (a flow controller's decision). */
  setFlowLimits(limits: FlowLimits): void {
    this.replication.flow = checkFlowLimits(limits);
  }

  flowLimits(): FlowLimits {
    return this.replication.flow;
  }

  /** What a flow controller samples: batches in flight, commands queued behind them, the end of the decided prefix. */
  flowState(): FlowState {
    const leading = this.role === 'leader';
    return {
      inflight: leading ? this.replication.inflight : 0,
      queued: this.replication.queued,
      decidedThrough: this.log.decidedThrough,
      lastProposedSlot: leading ? this.replication.nextSlot - 1 : 0,
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
      this.reads.hasReady ||
      this.snapshotToPersist !== null ||
      this.quiet.hasRecordToPersist ||
      this.snapshotToInstall !== null ||
      this.log.hasDirty() ||
      this.outbox.length > 0 ||
      this.log.decidedThrough > this.appliedThrough ||
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
    const quiet = this.quiet.takeRecordToPersist();
    const readSeqReserved = this.reads.takeReservation();
    if (this.promisedDirty || baseConfig || this.epochDirty || readSeqReserved !== undefined || dirty.entries.length > 0 || dirty.decidedThrough !== undefined || dirty.compactThrough !== undefined || this.snapshotToPersist || quiet) {
      persist = {
        ...(this.promisedDirty ? { promised: this.promisedBallot } : {}),
        ...(dirty.decidedThrough !== undefined ? { decidedThrough: dirty.decidedThrough } : {}),
        entries: dirty.entries,
        ...(dirty.compactThrough !== undefined ? { compactThrough: dirty.compactThrough } : {}),
        ...(this.snapshotToPersist ? { snapshot: this.snapshotToPersist } : {}),
        ...(baseConfig ? { baseConfig } : {}),
        ...(this.epochDirty ? { epoch: this.epoch, fenced: this.fenced } : {}),
        ...(quiet ? { quiet } : {}),
        ...(readSeqReserved !== undefined ? { readSeqReserved } : {}),
      };
    }
    this.promisedDirty = false;
    this.epochDirty = false;
    this.snapshotToPersist = null;
    const install = this.snapshotToInstall;
    this.snapshotToInstall = null;
    const applyFrom = Math.max(this.appliedThrough, install?.slot ?? 0) + 1;
    const ready: Ready = {
      persist,
      messages: this.outbox,
      installSnapshot: install,
      decided: this.log.range(applyFrom, this.log.decidedThrough),
      readStates: this.reads.takeConfirmed(),
      dropped: { proposals: this.droppedProposals, reads: this.droppedReads },
    };
    this.outbox = [];
    this.droppedProposals = [];
    this.droppedReads = [];
    this.outstanding = ready;
    return ready;
  }

  /** The host has done everything `ready` asked. */
  advance(ready: Ready): void {
    if (ready !== this.outstanding) throw new Error(`replica ${this.id}: advance() with a Ready that is not the outstanding one`);
    this.outstanding = null;
    if (ready.installSnapshot) this.appliedThrough = Math.max(this.appliedThrough, ready.installSnapshot.slot);
    const last = ready.decided.at(-1);
    if (last) this.appliedThrough = last.slot;
    const persisted = ready.persist;
    if (!persisted) return;
    // Our own promise and accepts count only now that they are durable.
    if (this.role === 'candidate' && persisted.promised && ballotEquals(persisted.promised, this.ownBallot)) {
      this.recordPromise(this.selfPromise());
    }
    if (this.role === 'leader') {
      for (const e of persisted.entries) {
        if (ballotEquals(e.ballot, this.ownBallot)) this.replication.ack(e.slot, this.id);
      }
      this.advanceLeaderDecided();
    }
  }

  /** The role this replica has now (a cheaper `status().role`). */
  get currentRole(): Role {
    return this.role;
  }

  /** The configuration in effect (a cheaper `status().configuration`: a leader's status also works out which quorums are live). */
  get activeConfiguration(): Configuration {
    return this.configs.active.config.configuration;
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
      transferringTo: this.transfer.inProgress?.target ?? null,
      autoElection: this.autoElection,
      quiet: this.quiet.isQuiet,
      leaderId: this.leaderId,
      ballot: this.role === 'leader' || this.role === 'candidate' ? this.ownBallot : this.promisedBallot,
      promised: this.promisedBallot,
      decidedThrough: this.log.decidedThrough,
      appliedThrough: this.appliedThrough,
      lastSlot: this.log.lastSlot,
      firstSlot: this.log.firstSlot,
      lastTransition: this.lastTransition,
      lastRefusal: this.lastRefusal,
      nearestQuorum: this.role === 'leader' ? (this.thrifty?.nearest ?? null) : null,
    };
  }

  /**
   * Ticks until the earliest running timer fires (heartbeat, check-quorum or
   * election): a host with nothing else to do may sleep that long; null when no
   * timer runs (a quiet replica sleeps until a message or request arrives).
   */
  ticksUntilNextTimer(): number | null {
    if (this.fenced) return null;
    let min = Number.POSITIVE_INFINITY;
    for (const t of [this.electionTimeout, this.heartbeatTimeout, this.checkQuorumTimeout]) {
      const r = t.remainingTicks;
      if (r !== null && r < min) min = r;
    }
    const hedge = this.role === 'leader' ? this.replication.ticksUntilHedge() : null;
    if (hedge !== null && hedge < min) min = hedge;
    return min === Number.POSITIVE_INFINITY ? null : Math.max(1, min); // null: quiet, nothing to wake for
  }

  /** The decided command at `slot`, if this replica knows it. */
  decidedEntry(slot: number): Entry | undefined {
    return slot <= this.log.decidedThrough ? this.log.get(slot) : undefined;
  }

  // ---------------------------------------------------------------- role transitions

  /** Record a role change and its reason (status, and the observer: the simulator's trace). */
  private transition(to: Role, leaderId: ReplicaId | null, why: string): void {
    const t: Transition = { tick: this.nowTicks, from: this.role, to, leaderId, why };
    this.lastTransition = t;
    this.opts.observe?.({ kind: 'transition', ...t });
  }

  /** Record something this replica declined to do, and why. */
  private refuse(what: string, why: string): void {
    const r: Refusal = { tick: this.nowTicks, what, why };
    this.lastRefusal = r;
    this.opts.observe?.({ kind: 'refusal', ...r });
  }

  private refuseOperator(what: string, result: Extract<OperatorResult, { ok: false }>): OperatorResult {
    this.refuse(what, `${result.code}: ${result.message}`);
    return result;
  }

  private becomeFollower(leaderId: ReplicaId | null, why: string): void {
    this.transition('follower', leaderId, why);
    if (this.role === 'leader') this.abandonLeadership();
    this.quiet.isQuiet = false;
    this.role = 'follower';
    if (leaderId === null && this.leaderId !== null) this.leaderlessSinceTick = this.nowTicks;
    if (leaderId !== null && leaderId !== this.leaderId) this.leaderSinceTick = this.nowTicks;
    this.leaderId = leaderId;
    this.leaderUnheardSinceResume = false;
    this.promises = new Map();
    this.preVotes = new Set();
    this.heartbeatTimeout.stop();
    this.checkQuorumTimeout.stop();
    this.resetElectionTimeout();
  }

  private becomePreCandidate(why: string): void {
    if (this.role === 'leader') throw new Error(`replica ${this.id}: a leader cannot become pre-candidate`);
    if (!this.electable()) throw new Error(`replica ${this.id}: ${this.self ? aRole(this.self.role) : 'a non-member'} never campaigns`);
    this.transition('pre-candidate', null, why);
    if (this.leaderId !== null) this.leaderlessSinceTick = this.nowTicks;
    this.role = 'pre-candidate';
    this.leaderId = null;
    this.preVoteBallot = { round: Math.max(this.promisedBallot.round, this.maxRoundSeen) + 1, replicaId: this.id };
    this.preVotes = new Set([this.id]);
    this.configs.resetPromised();
    this.resetElectionTimeout();
    for (const to of this.electionPeers) {
      this.send({ type: 'pre-vote', from: this.id, to, ballot: this.preVoteBallot, decidedThrough: this.log.decidedThrough });
    }
    if (this.isElectionQuorum(this.preVotes)) this.becomeCandidate('its own pre-vote is a quorum');
  }

  private becomeCandidate(why: string): void {
    if (this.role !== 'pre-candidate') throw new Error(`replica ${this.id}: only a pre-candidate becomes candidate (was ${this.role})`);
    this.transition('candidate', null, why);
    const round = Math.max(this.promisedBallot.round, this.maxRoundSeen, this.preVoteBallot.round - 1) + 1;
    this.ownBallot = { round, replicaId: this.id };
    this.maxRoundSeen = round;
    this.role = 'candidate';
    this.promise(this.ownBallot);
    this.prepareFromSlot = this.log.decidedThrough + 1;
    this.promises = new Map();
    this.configs.resetPromised();
    this.preparedTo = new Set(this.electionPeers);
    this.resetElectionTimeout();
    for (const to of this.electionPeers) {
      this.send({ type: 'prepare', from: this.id, to, ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
    }
    // Our own promise is counted in advance(), once it is durable.
  }

  private becomeLeader(why: string): void {
    if (this.role !== 'candidate') throw new Error(`replica ${this.id}: only a candidate becomes leader (was ${this.role})`);
    this.transition('leader', this.id, why);
    this.role = 'leader';
    this.leaderId = this.id;
    this.electionTimeout.stop();
    this.heartbeatTimeout.start();
    this.checkQuorumTimeout.start();
    this.replication.begin();
    this.reads.abandon(); // a candidate has none; a new leadership starts with none
    this.transfer.clear();
    this.transfer.failbackSuppressed = this.campaignIsManual;
    this.campaignIsManual = false;
    this.quiet.isQuiet = false;
    this.quiet.noteActivity();
    this.progress.reset(this.peers, (id) => this.configs.incarnationOf(id), this.nowTicks);
    this.thrifty?.reset();

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
      if (s <= this.log.decidedThrough) continue;
      const chosen = best.get(s);
      const command: Command = chosen ? chosen.command : NOOP;
      this.writeEntry({ slot: s, ballot: this.ownBallot, command });
      if (chosen?.decided) {
        this.replication.markDecided(s);
      } else {
        this.replication.track(s);
      }
    }
    // The opening no-op: once it is decided, every slot before it is decided too,
    // and reads through this leader become safe.
    this.openingSlot = maxSlot + 1;
    this.writeEntry({ slot: this.openingSlot, ballot: this.ownBallot, command: NOOP });
    this.replication.track(this.openingSlot);
    this.replication.reserveThrough(this.openingSlot);
    this.advanceLeaderDecided();
    if ((this.role as Role) !== 'leader') return; // a decided configuration change we re-proposed removed us
    this.replication.openBatches(Math.max(runStart, this.log.decidedThrough + 1));
    this.promises = new Map();
    this.configs.resetPromised();
  }

  /** Leadership ends: callers of queued work learn it was never proposed. */
  private abandonLeadership(): void {
    for (const id of this.replication.abandon()) this.droppedProposals.push(id);
    for (const id of this.reads.abandon()) this.droppedReads.push(id);
    this.progress.clear();
    this.transfer.clear();
  }

  // ---------------------------------------------------------------- timers

  /** The election timeout fired. */
  private campaign(): void {
    const waited = this.electionTimeout.elapsedTicks;
    if (!this.self) {
      this.electionTimeout.stop(); // not a member (removed, or not yet told it joined): nothing to watch until a leader speaks
      this.refuse('campaign', 'not a member of the configuration it knows: it waits for a leader to speak');
      return;
    }
    if (!this.electable()) {
      // A logger or passive replica never leads, but stops vouching for a silent leader.
      this.forgetSilentLeader(waited, `${aRole(this.self.role)} never campaigns`);
      this.resetElectionTimeout();
      this.refuse('campaign', `${aRole(this.self.role)} never leads`);
      return;
    }
    if (!this.tenureServed()) {
      this.resetElectionTimeout(); // the leader has not led long enough to be replaced
      this.refuse('campaign', `leader ${this.leaderId} has led for ${ticks(this.nowTicks - this.leaderSinceTick)}, under its minimum tenure`);
      return;
    }
    if (!this.autoElection) {
      this.forgetSilentLeader(waited, 'manual run mode: an operator promotes a replica');
      this.resetElectionTimeout(); // manual run mode: an operator promotes a replica explicitly
      this.refuse('campaign', 'manual run mode: an operator promotes a replica');
      return;
    }
    this.becomePreCandidate(
      this.leaderId === null ? `election timeout: no leader for ${ticks(waited)}` : `election timeout: leader ${this.leaderId} silent for ${ticks(waited)}`,
    );
  }

  /**
   * The leader we watched went silent for a whole election timeout (`waited`
   * ticks): we no longer vouch for it (pre-votes are granted again), as a
   * replica that campaigns does when it becomes pre-candidate. A transition
   * to no leader, with why, so the status and the log say so.
   */
  private forgetSilentLeader(waited: number, why: string): void {
    if (this.leaderId === null) return;
    this.transition(this.role, null, `leader ${this.leaderId} silent for ${ticks(waited)}; ${why}`);
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
    this.replication.hedge();
    if (this.checkQuorumTimeout.fired()) {
      const active = this.progress.takeRecentlyActive(this.id);
      // A leader that can still gather promises or accepts keeps leading (writes
      // may be blocked by a policy, and the status says why); one that can do
      // neither would only block a better-connected replica from leading.
      if (!this.isConfirmationQuorum(active) && !this.isElectionQuorum(active)) {
        this.becomeFollower(null, `check-quorum: only ${[...active].join(', ')} answered within an election timeout`);
        return;
      }
      this.checkQuorumTimeout.reset();
    }
    if (this.heartbeatTimeout.fired()) {
      this.heartbeatTimeout.reset();
      this.quiet.noteHeartbeatWithoutRequest();
      if (this.mayGoQuiet()) {
        this.goQuiet();
        return;
      }
      this.broadcastHeartbeat();
      this.replication.retransmit();
      this.tickTransfer();
    }
  }

  /** A leader no client asked anything for a while, with nothing in flight, whose followers all hold everything (quiet.ts). */
  private mayGoQuiet(): boolean {
    return mayGoQuiet({
      quietAfterTicks: this.opts.quietAfterTicks ?? 0,
      ticksSinceRequest: this.quiet.ticksSinceRequest(this.opts.heartbeatIntervalTicks),
      busy: this.replication.undecided > 0 || this.replication.queued > 0 || this.reads.inFlight || this.transfer.inProgress !== null,
      allDecided: this.log.decidedThrough === this.replication.nextSlot - 1,
      failBackDue: () => this.failBackTarget() !== null,
      everyoneCaughtUp: () => {
        for (const [id, pr] of this.progress) {
          if (!this.progress.caughtUp(id, this.log.decidedThrough, this.nowTicks) || pr.decidedThrough < this.log.decidedThrough) return false;
        }
        return true;
      },
    });
  }

  /** Tell the followers we go quiet, then stop our timers: a quiet stream costs nothing. */
  private goQuiet(): void {
    for (const to of this.peers) {
      this.send({ type: 'heartbeat', from: this.id, to, ballot: this.ownBallot, decidedThrough: this.log.decidedThrough, readSeq: this.reads.seq, quiet: true });
    }
    this.quiet.goQuiet({ leaderId: this.id, ballot: this.ownBallot, epoch: this.epoch });
    this.heartbeatTimeout.stop();
    this.checkQuorumTimeout.stop();
  }

  /** A client request (or any sign of life) ends a quiet period: timers run again. */
  private wakeUp(): void {
    this.quiet.noteActivity();
    if (!this.quiet.isQuiet) return;
    this.quiet.isQuiet = false;
    if (this.role === 'leader') {
      // A fresh check-quorum window, as if everyone had just answered.
      this.progress.markAllActive(this.nowTicks);
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
    if (this.membership.has(m.from)) this.heardCampaigning.set(m.from, { tick: this.nowTicks, decidedThrough: m.decidedThrough });
    if (this.role === 'leader' && this.memberInChain(m.from) === undefined) this.replication.informOutsider(m.from, m.decidedThrough, this.configs.incarnationOf(m.from));
    const refusal = this.preVoteRefusal(m);
    if (refusal !== null) this.refuse(`pre-vote for ${m.from} at ${formatBallot(m.ballot)}`, refusal);
    this.send({ type: 'pre-vote-reply', from: this.id, to: m.from, ballot: m.ballot, granted: refusal === null, promised: this.promisedBallot });
  }

  /** Why this replica does not grant `m`'s pre-vote, or null if it does. */
  private preVoteRefusal(m: PreVoteMessage): string | null {
    // A live leader, or a follower that heard from one within the base timeout,
    // refuses: a replica cut off from the leader cannot depose it.
    // (A replica outside the configuration watches no leader - its timer is stopped - so it cannot vouch for one.)
    if (this.role === 'leader') return 'it leads';
    // After a resume, only for two heartbeat intervals of listening: a live leader is heard within them.
    const vouchTicks = this.leaderUnheardSinceResume ? Math.min(2 * this.opts.heartbeatIntervalTicks, this.opts.electionTimeoutTicks) : this.opts.electionTimeoutTicks;
    if (this.self !== undefined && this.leaderId !== null && this.electionTimeout.elapsedTicks < vouchTicks) {
      return `it heard from leader ${this.leaderId} ${ticks(this.electionTimeout.elapsedTicks)} ago`;
    }
    if (!ballotGreater(m.ballot, this.promisedBallot)) return `it promised ${formatBallot(this.promisedBallot)}`;
    // Electable by the configuration in effect here (a candidate at least as up to date as we are knows at
    // least as much; changes still undecided in our log may never be decided).
    const candidate = this.membership.get(m.from) ?? this.memberInChain(m.from) ?? { id: m.from, role: 'passive', priority: 0, weight: 0, group: 0 };
    if (!isElectable(candidate)) return `replica ${m.from} is ${aRole(candidate.role)} here and cannot lead`;
    if (!this.tenureServed()) return `leader ${this.leaderId} is within its minimum tenure`;
    // Among equals, the more up-to-date wins: never help a replica that knows less than we do,
    // unless we cannot lead ourselves (a logger, a passive or a removed replica would block it forever).
    if (m.decidedThrough < this.log.decidedThrough && this.electable()) return `it decided through ${this.log.decidedThrough}, the candidate only through ${m.decidedThrough}`;
    const deferTo = this.defersToHigherPriority(m.from, m.decidedThrough);
    if (deferTo !== null) return deferTo === this.id ? 'it has a higher priority itself and can lead' : `replica ${deferTo} has a higher priority and can lead`;
    return null;
  }

  /**
   * The live, caught-up, electable replica of higher priority than
   * `candidate` (ourselves included) that is campaigning, so `candidate`
   * should not win now; null if none. Bounded: after three election timeouts
   * without a leader we stop deferring, so a higher-priority replica that
   * cannot win cannot block everybody else forever.
   */
  private defersToHigherPriority(candidate: ReplicaId, candidateDecided: number): ReplicaId | null {
    if (!this.priority.enabled) return null;
    const base = this.opts.electionTimeoutTicks;
    if (this.leaderId === null && this.nowTicks - this.leaderlessSinceTick >= 3 * base) return null;
    const theirs = this.membership.priorityOf(candidate);
    // Only to one that knows at least as much as the candidate: one that knows less could never win
    // against it (the candidate would refuse it), and deferring to it would leave nobody to lead.
    if (this.self && this.electable() && this.self.priority > theirs && this.log.decidedThrough >= candidateDecided) return this.id;
    for (const [id, heard] of this.heardCampaigning) {
      if (id === candidate || this.nowTicks - heard.tick >= base) continue;
      const m = this.membership.get(id);
      if (m && isElectable(m) && m.priority > theirs && heard.decidedThrough >= this.log.decidedThrough && heard.decidedThrough >= candidateDecided) return id;
    }
    return null;
  }

  private onPreVoteReply(m: PreVoteReplyMessage): void {
    this.observeRound(m.promised.round);
    if (this.role !== 'pre-candidate' || !ballotEquals(m.ballot, this.preVoteBallot)) return; // stale
    if (!m.granted) return;
    this.preVotes.add(m.from);
    if (this.isElectionQuorum(this.preVotes)) this.becomeCandidate(`pre-votes of ${[...this.preVotes].join(', ')} are a quorum`);
  }

  private onPrepare(m: PrepareMessage): void {
    // Any acceptor asked promises (a removed one too: a candidate that has not yet
    // learned of the removal needs it); a candidate counts only its voters.
    this.observeRound(m.ballot.round);
    if (ballotGreater(this.promisedBallot, m.ballot)) {
      this.refuse(`prepare from ${m.from} at ${formatBallot(m.ballot)}`, `it promised ${formatBallot(this.promisedBallot)}`);
      this.nack(m.from, m.ballot);
      return;
    }
    if (ballotGreater(m.ballot, this.promisedBallot)) {
      if (this.role !== 'follower') this.becomeFollower(null, `prepare ${formatBallot(m.ballot)} from ${m.from} outranks our ${this.role} ballot`);
      this.promise(m.ballot);
      this.leaderId = null; // we no longer accept the old leader's proposals
    }
    this.electionTimeout.reset(); // give the candidate its chance
    const entries: PromisedEntry[] = this.log
      .range(m.fromSlot, this.log.lastSlot)
      .map((e) => ({ slot: e.slot, ballot: e.ballot, command: e.command, decided: e.slot <= this.log.decidedThrough }));
    this.send({
      type: 'promise',
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      fromSlot: m.fromSlot,
      decidedThrough: this.log.decidedThrough,
      entries,
      compactedThrough: this.log.compactedThrough,
    });
    // The candidate asks for slots we compacted: it will step back; send it our snapshot (snapshot-shipping.ts).
    if (m.fromSlot <= this.log.compactedThrough) this.shipper.offerToCandidate(m.from, m.ballot);
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
    // Configuration changes above our decided prefix: phase 1 needs a quorum of each of them too, so ask their voters.
    for (const id of this.configs.learnFromPromise(m.entries)) {
      if (id === this.id || this.preparedTo.has(id)) continue;
      this.preparedTo.add(id);
      this.send({ type: 'prepare', from: this.id, to: id, ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
    }
    if (this.isElectionQuorum(new Set(this.promises.keys()))) this.becomeLeader(`promises of ${[...this.promises.keys()].join(', ')} at ${formatBallot(this.ownBallot)} are a quorum`);
  }

  private selfPromise(): PromiseMessage {
    return {
      type: 'promise',
      from: this.id,
      to: this.id,
      ballot: this.ownBallot,
      fromSlot: this.prepareFromSlot,
      decidedThrough: this.log.decidedThrough,
      compactedThrough: this.log.compactedThrough,
      entries: this.log
        .range(this.prepareFromSlot, this.log.lastSlot)
        .map((e) => ({ slot: e.slot, ballot: e.ballot, command: e.command, decided: e.slot <= this.log.decidedThrough })),
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
    this.electNow(`leader ${m.from} hands over leadership${m.manual ? ' (switchover)' : ' (fail-back)'}`);
  }

  /** Campaign at once, skipping pre-vote. */
  private electNow(why: string): void {
    this.becomePreCandidate(why);
    if ((this.role as Role) === 'pre-candidate') this.becomeCandidate(`${why}: no pre-vote needed`); // unless it already won alone
  }

  // ---------------------------------------------------------------- phase 2 handlers

  /**
   * A message from a leader at `ballot`: true if we follow it (promising it if it
   * is new to us), false if it is stale and was refused.
   */
  private followLeader(from: ReplicaId, ballot: Ballot, what: Message['type']): boolean {
    this.observeRound(ballot.round);
    if (ballotGreater(this.promisedBallot, ballot)) {
      this.refuse(`${what} from ${from} at ${formatBallot(ballot)}`, `it promised ${formatBallot(this.promisedBallot)}`);
      this.nack(from, ballot);
      return false;
    }
    if (ballotGreater(ballot, this.promisedBallot)) this.promise(ballot);
    this.leaderUnheardSinceResume = false;
    if (this.role !== 'follower' || this.leaderId !== from) {
      this.becomeFollower(from, `${what} from leader ${from} at ${formatBallot(ballot)}`);
    } else {
      this.electionTimeout.start(); // restarts from zero, and resumes a quiet follower's timer
    }
    this.quiet.isQuiet = false;
    return true;
  }

  private onAccept(m: AcceptMessage): void {
    if (!this.followLeader(m.from, m.ballot, m.type)) return;
    storeAcceptedRun(m, this.log.decidedThrough, (e) => this.writeEntry(e));
    this.followLeaderDecided(m.ballot, m.decidedThrough);
    this.send({
      type: 'accepted',
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      firstSlot: m.firstSlot,
      lastSlot: m.firstSlot + m.commands.length - 1,
      decidedThrough: this.log.decidedThrough,
      ...(m.tick !== undefined ? { tick: m.tick } : {}),
    });
  }

  private onHeartbeat(m: HeartbeatMessage): void {
    if (!this.followLeader(m.from, m.ballot, m.type)) return;
    this.followLeaderDecided(m.ballot, m.decidedThrough);
    if (m.quiet && this.log.decidedThrough >= m.decidedThrough) {
      // The leader went quiet and we hold everything: stop watching it until someone speaks.
      this.quiet.goQuiet(this.quiet.isQuiet ? null : { leaderId: m.from, ballot: m.ballot, epoch: this.epoch });
      this.electionTimeout.stop();
    }
    this.send({
      type: 'heartbeat-reply',
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      decidedThrough: this.log.decidedThrough,
      readSeq: m.readSeq,
      ...(m.tick !== undefined ? { tick: m.tick } : {}),
    });
  }

  /** The leader at `ballot` says everything through `leaderDecided` is decided (replication.ts `provenDecidedThrough`). */
  private followLeaderDecided(ballot: Ballot, leaderDecided: number): void {
    this.log.markDecidedThrough(provenDecidedThrough(this.log, ballot, leaderDecided));
    this.refreshActive();
  }

  private onAccepted(m: AcceptedMessage): void {
    if (this.role !== 'leader' || !ballotEquals(m.ballot, this.ownBallot)) return; // stale
    const pr = this.progress.get(m.from);
    if (!pr) return;
    this.progress.recordReply(pr, m.decidedThrough, this.nowTicks);
    this.thrifty?.answered(m.from, m.tick, this.nowTicks, this.opts.electionTimeoutTicks);
    if (m.firstSlot <= pr.ackedThrough + 1) pr.ackedThrough = Math.max(pr.ackedThrough, m.lastSlot);
    for (let s = m.firstSlot; s <= m.lastSlot; s++) this.replication.ack(s, m.from);
    this.advanceLeaderDecided();
    if (this.role !== 'leader') return; // the decided configuration removed us
    if (!this.trailing(m.from, pr)) this.replication.catchUp(m.from, pr); // a trailing follower is caught up with the next heartbeat
    if (this.transfer.inProgress?.target === m.from) this.completeTransfer();
  }

  private onHeartbeatReply(m: HeartbeatReplyMessage): void {
    if (this.role !== 'leader' || !ballotEquals(m.ballot, this.ownBallot)) return; // stale
    const pr = this.progress.get(m.from);
    if (!pr) return;
    this.progress.recordReply(pr, m.decidedThrough, this.nowTicks);
    this.thrifty?.answered(m.from, m.tick, this.nowTicks, this.opts.electionTimeoutTicks);
    pr.readSeqAcked = Math.max(pr.readSeqAcked, m.readSeq);
    this.confirmReads();
    if (!this.trailing(m.from, pr)) this.replication.catchUp(m.from, pr); // a trailing follower is caught up with the next heartbeat
  }

  // ---------------------------------------------------------------- leader machinery

  /** Grow the decided prefix over the contiguous decided slots; reads and configurations follow it. */
  private advanceLeaderDecided(): void {
    for (;;) {
      const through = this.replication.takeDecidedPrefix(this.log.decidedThrough);
      if (through === this.log.decidedThrough) return;
      this.log.markDecidedThrough(through);
      if (through >= this.openingSlot && this.reads.openingDecided(through)) this.confirmReads();
      const changed = this.refreshActive();
      if (this.role !== 'leader' || !changed) return;
      // A configuration change was decided: later slots may now need fewer quorums.
      this.replication.recountPending();
    }
  }

  /** Queued proposals go out as accept batches (a leader's, unless a hand-over pauses writes). */
  private flushProposals(): void {
    if (this.role !== 'leader') return;
    this.replication.flush(this.transfer.inProgress !== null);
  }

  private broadcastHeartbeat(): void {
    for (const to of this.peers) {
      // A trailing follower's catch-up rides in the heartbeat's RPC (thrifty replication: its lag is one heartbeat interval).
      const pr = this.progress.get(to);
      if (pr && this.trailing(to, pr)) this.replication.catchUp(to, pr);
      this.send({ type: 'heartbeat', from: this.id, to, ballot: this.ownBallot, decidedThrough: this.log.decidedThrough, readSeq: this.reads.seq });
    }
  }

  /**
   * Thrifty replication: the followers a new accept batch goes to first, or
   * null to send it to every peer. Off while a configuration change is under
   * way (the quorums of two configurations are in play). A hand-over target
   * and any live replica fail-back may hand over to get every batch too: they
   * must hold everything to take over.
   */
  private nearestQuorum(): NearestQuorum | null {
    const t = this.thrifty;
    if (!t) return null;
    if (this.configs.pending() !== null || this.replication.hasQueued('config')) {
      t.sentToAll();
      return null;
    }
    const extra = new Set<ReplicaId>();
    const target = this.transfer.inProgress?.target;
    if (target !== undefined) extra.add(target);
    if (this.priority.enabled && this.priority.failback) {
      const mine = this.self?.priority ?? 0;
      for (const m of this.membership.members) {
        const pr = this.progress.get(m.id);
        if (m.id !== this.id && isElectable(m) && m.priority > mine && pr && this.progress.isLive(pr, this.nowTicks)) extra.add(m.id);
      }
    }
    const slot = this.replication.nextSlot;
    return t.pick(this.peers, extra, (followers) => this.configs.isDecisionQuorum(slot, new Set([this.id, ...followers])), this.nowTicks, this.opts.retransmitTicks);
  }

  /**
   * A follower thrifty replication leaves out of the nearest quorum and
   * catches up with each heartbeat instead of on each answer; one that fell
   * further behind than a catch-up window is caught up as any lagging one.
   */
  private trailing(id: ReplicaId, pr: Progress): boolean {
    const nearest = this.thrifty?.nearest;
    if (!nearest || this.role !== 'leader' || nearest.includes(id)) return false;
    return knownThrough(pr) >= this.log.decidedThrough - this.opts.inflightMax * this.opts.catchupBatchMax;
  }

  /** A piece of a snapshot; once all have arrived, it replaces our prefix and state machine. */
  private onInstallSnapshot(m: InstallSnapshotMessage): void {
    if (m.fromAcceptor) {
      if (this.role === 'leader') return; // a leader is never behind what an acceptor compacted
    } else if (!this.followLeader(m.from, m.ballot, m.type)) return;
    if (m.slot > this.log.decidedThrough) {
      const snap = this.incoming.receive(m);
      if (!snap) return; // more pieces to come
      this.log.installSnapshot(m.slot);
      this.snapshotToPersist = snap;
      if (!this.isLogger) this.snapshotToInstall = snap;
      else this.appliedThrough = Math.max(this.appliedThrough, m.slot); // a logger has no state machine to load
      // The snapshot replaces the log that held the configuration in effect after it.
      this.configs.installSnapshot(m.slot, m.config);
      this.onNewConfiguration();
      // A campaign from before the snapshot asked for slots that are now decided here: start over from it.
      if (m.fromAcceptor && this.role !== 'follower') this.becomeFollower(null, `installed a snapshot through ${m.slot} from acceptor ${m.from}`);
    }
    if (m.fromAcceptor) return;
    // Tell the leader where we are now (after the snapshot is durable: this rides in the same Ready).
    this.send({ type: 'accepted', from: this.id, to: m.from, ballot: m.ballot, firstSlot: m.slot, lastSlot: m.slot, decidedThrough: this.log.decidedThrough });
  }

  /**
   * The host saved `snapshot` (its state machine through `snapshot.slot`, or
   * null for a logger, which has none): drop entries through `through`. A
   * leader keeps what live acceptors still need unless they are so far behind
   * that sending the snapshot is cheaper.
   */
  compact(through: number, snapshot: Snapshot | null): void {
    if (snapshot && snapshot.slot > this.appliedThrough) throw new Error(`replica ${this.id}: snapshot at ${snapshot.slot} is beyond applied ${this.appliedThrough}`);
    let limit = Math.min(through, this.appliedThrough, this.log.decidedThrough, snapshot?.slot ?? Number.POSITIVE_INFINITY);
    if (this.role === 'leader') {
      // An acceptor within a few catch-up messages' reach of `limit` gets entries, not a snapshot.
      const catchable = 4 * this.opts.inflightMax * this.opts.catchupBatchMax;
      for (const pr of this.progress.values()) {
        const known = knownThrough(pr);
        if (this.progress.isLive(pr, this.nowTicks) && known < limit && limit - known <= catchable) limit = known;
      }
    }
    if (snapshot) this.snapshotToPersist = snapshot;
    if (limit > this.log.compactedThrough) {
      this.configs.compactTo(limit);
      this.log.compact(limit);
    }
  }

  /** Reads requested since the last broadcast get a heartbeat broadcast of their own (read-index.ts). */
  private flushReads(): void {
    if (this.role !== 'leader') return;
    if (this.reads.takeBroadcast()) this.broadcastHeartbeat();
  }

  private confirmReads(): void {
    this.reads.confirm(
      (seq) => this.progress.echoed(this.id, seq),
      (acks) => this.isConfirmationQuorum(acks),
    );
  }

  /** For a leader: what its quorum policy lacks among the acceptors heard from recently, or null. */
  private writesBlocked(): string | null {
    if (this.role !== 'leader') return null;
    return this.configs.explainBlocked(this.progress.liveSet(this.id, this.nowTicks));
  }

  /** A hand-over in progress goes on or times out; otherwise fail-back may start one. */
  private tickTransfer(): void {
    const t = this.transfer.inProgress;
    if (t) {
      // It did not take over in time: resume writing.
      if (this.transfer.expire(this.nowTicks)) this.refuse(`hand-over to ${t.target}`, `it did not take over within ${ticks(t.timeoutTicks)}: writes resume`);
      else this.completeTransfer();
      return;
    }
    // Fail-back (DCF priority election): a reachable, caught-up replica of higher priority leads instead.
    const target = this.failBackTarget();
    if (target !== null) this.startTransfer(target, false, this.opts.electionTimeoutTicks);
  }

  /** The replica fail-back would hand leadership to now, or null (transfer.ts). */
  private failBackTarget(): ReplicaId | null {
    return failBackTarget(
      { enabled: this.priority.enabled && this.priority.failback, suppressed: this.transfer.failbackSuppressed },
      this.membership.members,
      this.id,
      this.self?.priority ?? 0,
      (id) => this.progress.caughtUp(id, this.log.decidedThrough, this.nowTicks),
    );
  }

  /** Hand leadership to `target`: writes pause until it takes over or `timeoutTicks` pass (transfer.ts). */
  private startTransfer(target: ReplicaId, manual: boolean, timeoutTicks: number): void {
    this.transfer.start(target, manual, timeoutTicks, this.nowTicks);
    this.completeTransfer();
  }

  /** Once nothing is in flight and the target holds everything we proposed, tell it to campaign at once. */
  private completeTransfer(): void {
    const t = this.transfer.inProgress;
    if (!t || t.sent) return;
    const pr = this.progress.get(t.target);
    const last = this.replication.nextSlot - 1;
    if (this.replication.undecided > 0 || !pr || knownThrough(pr) < last) {
      if (pr) this.replication.catchUp(t.target, pr);
      return;
    }
    t.sent = true;
    this.send({ type: 'timeout-now', from: this.id, to: t.target, ballot: this.ownBallot, manual: t.manual });
  }

  // ---------------------------------------------------------------- configuration

  private get membership(): Membership {
    return this.configs.membership;
  }

  /** The decided prefix grew: true if the configuration in effect or the chain changed. */
  private refreshActive(): boolean {
    const changed = this.configs.refresh();
    if (changed === 'active') this.onNewConfiguration();
    else if (changed === 'chain') this.configurationChanged();
    return changed !== null;
  }

  /** A new configuration took effect. */
  private onNewConfiguration(): void {
    // An operator's newer instruction (priorities, roles) supersedes an earlier choice of leader.
    this.transfer.failbackSuppressed = false;
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
    this.progress.sync(members, (id) => this.configs.incarnationOf(id), this.nowTicks);
  }

  /** Store an entry in our log, tracking `config` commands above the decided prefix. */
  private writeEntry(e: Entry): void {
    this.log.set(e);
    if (this.configs.noteWrite(e)) this.configurationChanged();
  }

  private isElectionQuorum(voters: ReadonlySet<ReplicaId>): boolean {
    return this.configs.isElectionQuorum(voters);
  }

  private isConfirmationQuorum(acceptors: ReadonlySet<ReplicaId>): boolean {
    return this.configs.isConfirmationQuorum(acceptors);
  }

  /** A later epoch exists: stop everything, durably, until an operator rebuilds this replica. */
  private fence(cause: string): void {
    const why = `fenced by a later epoch (${cause}): it does nothing until rebuilt`;
    if (this.role !== 'follower') this.becomeFollower(null, why);
    else this.transition('follower', null, why);
    this.leaderId = null;
    this.fenced = true;
    this.epochDirty = true;
    this.electionTimeout.stop();
  }

  /** May this replica lead: an electable voter in the configuration in effect. */
  /** Nothing promised, accepted, decided or compacted, ever: this replica holds no history. */
  private isBlank(): boolean {
    return ballotEquals(this.promisedBallot, ZERO_BALLOT) && this.log.lastSlot === 0 && this.log.compactedThrough === 0;
  }

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

  /** A client's request (`what`) refused: this replica does not lead; the answer names the leader it knows, if any. */
  private notLeader(what: 'proposal' | 'read'): NotLeader {
    const leaderHint = this.fenced || this.leaderId === this.id ? null : this.leaderId;
    this.refuse(what, this.fenced ? 'fenced: it does nothing until rebuilt' : leaderHint === null ? 'not the leader, and it knows none' : `not the leader: ${leaderHint} leads`);
    return { ok: false, reason: 'not-leader', leaderHint };
  }

  private send(m: Message): void {
    // An answer goes to the life of the replica that asked (we may not know its incarnation from our configuration).
    const incarnation = this.answering?.to === m.to ? this.answering.incarnation : this.configs.incarnationOf(m.to);
    let out = m;
    if (this.thrifty && this.role === 'leader' && (out.type === 'accept' || out.type === 'heartbeat')) {
      // Thrifty replication times its followers: the answer echoes the tick this left at.
      this.thrifty.sent(out.to, this.nowTicks);
      out = { ...out, tick: this.nowTicks };
    }
    if (this.epoch > 0) out = { ...out, epoch: this.epoch };
    if (incarnation !== 1) out = { ...out, toIncarnation: incarnation };
    if (this.incarnation !== 1) out = { ...out, fromIncarnation: this.incarnation };
    this.outbox.push(out);
  }
}

import {
  type Ballot,
  type ClientCommand,
  type Configuration,
  type Message,
  type OperatorResult,
  type QuorumOverride,
  type ReplicaEvent,
  type ReplicaId,
  type ReplicaStatus,
  AdaptiveFlowController,
  DEFAULT_THRIFTY,
  DEFAULT_TIMING,
  SeededRng,
} from '../core/index.ts';
import { type StreamConfig, bootstrapConfiguration, streamPriority, streamTiming } from './config.ts';
import { type DcfConfiguration, dcfRole, fromDcfConfiguration, toDcfConfiguration, toDcfRole } from './dcf.ts';
import { ChaosTransport, type Transport, type Unreliability } from './chaos-transport.ts';
import { SkippedRecords } from './skipped-records.ts';
import { Deadlines } from './deadlines.ts';
import { HostClock } from './host-clock.ts';
import { DeferredDecidedStorage } from './deferred-decided-storage.ts';
import { REGIONS, type Region, regionRttMs } from './regions.ts';
import { type ProposalOutcome, ReadyRunner, allDuties } from './ready-runner.ts';
import type { ReplicaStorage } from './storage.ts';
import { validMessages } from './wire.ts';
import { DEFAULT_FOLLOW, type FollowView, type KvItem, type KvLease, type KvResult, KvStateMachine, LeaseKeeper, type LockView, type ShardRead, TrafficFollower } from '../kv/index.ts';
import { WatchHub, type WatchFilter } from './watch-hub.ts';
import { type WatchStreamOpen, type WatchStreamOptions, openWatchStream } from './watch-stream.ts';

/** What a host needs from its runtime. The Durable Object supplies the real ones. */
export interface HostDeps {
  readonly stream: StreamConfig;
  readonly replicaId: ReplicaId;
  readonly storage: ReplicaStorage;
  readonly transport: Transport;
  /** Wall-clock milliseconds. */
  now(): number;
  readonly seed: number;
  /** Arrange for `wake()` to be called at or after `atMs` (the Durable Object alarm). */
  scheduleWake(atMs: number): void;
  /** Keep `p` running after the current call returns. */
  background(p: Promise<unknown>): void;
  /**
   * Run `fn` once the calls already waiting for this replica have been taken
   * (in the Durable Object, a zero-delay timer): the writes they bring are
   * proposed together (write gathering, `ClockedHost.write`). Without it,
   * every write is proposed in an input of its own.
   */
  readonly defer?: (fn: () => void) => void;
  /** Delay every message by half the round trip between the two replicas' regions (the WAN model for local runs). */
  readonly simulateLatency?: boolean;
  /** Where notable events go, one structured record each (the Durable Object prints them as JSON lines). */
  readonly log?: (event: LogEvent) => void;
}

/**
 * A notable event of a replica, for the structured log: an election won or
 * lost, a step-down, fencing, a new leader, a configuration change, a
 * snapshot, minority mode, overload, an operator's request refused. The
 * reasons are the core's own (its recorded transitions and refusals). Never
 * one per successful write.
 */
export interface LogEvent {
  readonly event: string;
  readonly stream: string;
  readonly replica: ReplicaId;
  /** The ballot round the replica is at (null while it starts). */
  readonly term: number | null;
  /** The Worker request that caused it, when it happened while serving one. */
  readonly request_id?: string;
  readonly [field: string]: unknown;
}

/** Overload refusals are logged at most this often (with how many were not). */
const OVERLOAD_LOG_EVERY_MS = 1000;

/** `overloaded`: too many requests wait at this replica already (the stream's `queue_max`); nothing was proposed. */
export type WriteOutcome = ProposalOutcome<KvResult> | { readonly kind: 'not-leader'; readonly leaderHint: ReplicaId | null } | { readonly kind: 'overloaded' };

/** A write held to be proposed with the others of its turn (write gathering, `ClockedHost.write`). */
interface GatheredWrite {
  readonly command: ClientCommand;
  readonly timeoutMs: number;
  /** The Worker request it serves, for the log. */
  readonly requestId: string | undefined;
  readonly done: (o: WriteOutcome) => void;
  readonly fail: (e: unknown) => void;
}

/** A proposal made, waiting for its outcome (`settle` is what the runner calls). */
interface PendingProposal {
  readonly outcome: Promise<ProposalOutcome<KvResult>>;
  readonly settle: (o: ProposalOutcome<KvResult>) => void;
}

function newPendingProposal(): PendingProposal {
  let settle!: (o: ProposalOutcome<KvResult>) => void;
  const outcome = new Promise<ProposalOutcome<KvResult>>((resolve) => (settle = resolve));
  return { outcome, settle };
}

/** A configuration change: refused here (with the core's reason), or proposed and then as any proposal. */
export type ReconfigureOutcome = ProposalOutcome<KvResult> | { readonly kind: 'refused'; readonly result: Extract<OperatorResult, { ok: false }> };

export type ReadOutcome<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'not-leader'; readonly leaderHint: ReplicaId | null }
  /** Leadership could not be confirmed in time, or was lost meanwhile. */
  | { readonly kind: 'unavailable' }
  /** Too many requests wait at this replica already (the stream's `queue_max`). */
  | { readonly kind: 'overloaded' };

/** One replica's own view, for the status endpoint. */
export interface ReplicaView {
  readonly node_id: ReplicaId;
  /** leader, candidate or pre-candidate while campaigning or leading; otherwise the configured role (follower, logger, passive). */
  readonly role: string;
  readonly member_role: string;
  /** For a leader that cannot decide: what its policy is missing. */
  readonly writes_blocked: string | null;
  readonly transferring_to: ReplicaId | null;
  readonly run_mode: 'automatic' | 'manual';
  /** Quiet (DCF-facing name: quiescent): no heartbeats (leader) or no election timer (follower) until the next request or message. */
  readonly quiescent: boolean;
  readonly leader_id: ReplicaId | null;
  readonly term: number;
  readonly ballot: Ballot;
  readonly promised: Ballot;
  readonly commit_index: number;
  /** Null for a logger, which keeps no state machine. */
  readonly applied_index: number | null;
  readonly first_index: number;
  readonly last_index: number;
  readonly partitioned_from: readonly ReplicaId[];
  readonly unreliable: Unreliability | null;
  /** The configuration in effect after `configuration_index` (0: the bootstrap one from EDGEPAXOS_CONFIG). */
  readonly configuration: DcfConfiguration;
  readonly configuration_index: number;
  /** A change proposed and not yet decided, as far as this replica knows. */
  readonly pending_configuration: DcfConfiguration | null;
  /** `minority` while an operator forced minority work mode here (with its survivors and vote_num). */
  readonly work_mode: 'normal' | 'minority';
  readonly vote_num: number | null;
  readonly minority_replicas: readonly ReplicaId[] | null;
  readonly epoch: number;
  /** It heard from a later epoch: its history was forked off by a minority force-start; it waits to be rebuilt. */
  readonly fenced: boolean;
  /** Which life of this replica this is (a rebuild in place starts a new one). */
  readonly incarnation: number;
  /** Writes and linearizable reads waiting here for their outcome (back-pressure refuses more than the stream's `queue_max`). */
  readonly pending_requests: number;
  /** Its latest role change and why (`leader -> follower: check-quorum: ...`), null if none since it started. */
  readonly last_transition: string | null;
  /** The latest thing it declined to do and why (`refused pre-vote for 3 at 4.3: ...`), null if none since it started. */
  readonly last_refusal: string | null;
  /** A shard of a keyspace with `leaders: follow`: the preferred region and, on the leader, this window's counted writes per origin region. */
  readonly follow?: ReplicaFollowView;
}

/** The traffic follower's state as the status endpoint shows it (traffic-follower.ts). */
export interface ReplicaFollowView {
  readonly preferred_region: string | null;
  readonly window_writes: Readonly<Record<string, number>>;
  readonly candidate_region: string | null;
  readonly candidate_windows: number;
  readonly moves: number;
}

function followView(v: FollowView): ReplicaFollowView {
  return { preferred_region: v.preferred, window_writes: v.counts, candidate_region: v.candidate, candidate_windows: v.candidateWindows, moves: v.moves };
}

/**
 * Cost counters (requests and transactions are what Durable Objects bill).
 * They live in memory and are stored each time the replica goes quiet, so
 * they survive a quiet replica being evicted and started again; a replica
 * that restarts while busy loses what it counted since it last went quiet.
 */
export interface ReplicaMetrics {
  /** Outgoing RPCs to peers (one per batch). */
  readonly rpcs_sent: number;
  /** Incoming RPCs from peers. */
  readonly rpcs_received: number;
  readonly messages_sent: number;
  /** Storage transactions (one per Ready that had something to persist). */
  readonly storage_transactions: number;
  /** Alarm and other wake-ups. */
  readonly wakeups: number;
  /** Inputs that came long after the wake-up asked for was due, forgiven (the failure detectors started over). */
  readonly late_wakeups: number;
  /** Client commands proposed here as leader. */
  readonly proposals: number;
  /** Inputs that proposed client commands: one per write, or one per group of writes gathered together (proposals ÷ this: writes per input). */
  readonly proposal_inputs: number;
  /** Client commands not proposed (not the leader; overloaded) or proposed without a known outcome (dropped by a lost leadership; outcome unknown at the deadline). */
  readonly proposals_failed_not_leader: number;
  readonly proposals_failed_overloaded: number;
  readonly proposals_failed_dropped: number;
  readonly proposals_failed_outcome_unknown: number;
  /** Times this replica saw the leader change (it followed, or became, a new one). */
  readonly leader_changes: number;
  readonly elections_won: number;
  /** The pipeline depth the leader uses now (adaptive flow control changes it; see flow-control.ts). */
  readonly flow_inflight_max: number;
  /** Not a counter: a leader with thrifty replication, the followers its last batch went to first (null otherwise). */
  readonly nearest_quorum: readonly ReplicaId[] | null;
}

/** A lease as the leader sees it: the replicated lease and the leader's estimate of its remaining time. */
export interface LeaseView {
  readonly lease: KvLease;
  readonly remainingMs: number;
}

/**
 * A watch opened here: the SSE byte stream, or `compacted` (the revisions
 * asked for are not in this replica's history), `behind` (this follower does
 * not know it is current: it follows no leader; another replica is asked), or
 * `unavailable` (a logger keeps no data).
 */
export type WatchOutcome = WatchStreamOpen | { readonly kind: 'behind' } | { readonly kind: 'unavailable' };

export interface LogRecord {
  readonly index: number;
  readonly data: string;
}

/** A log read: the records, or `compacted` when the slot asked for was truncated (the log starts at `firstIndex`). */
export type LogRead = { readonly kind: 'records'; readonly records: LogRecord[] } | { readonly kind: 'compacted'; readonly firstIndex: number };

/**
 * How many hops of sends replies may cause within one invocation before the
 * rest waits for a fresh one (an alarm set for now). Each hop is at most
 * one RPC per peer (plus snapshot pieces), so an invocation makes at most
 * about this many times the number of peers calls.
 *
 * 1: replies never send by themselves (every send comes from a fresh
 * invocation). With 16, the bench measured no throughput gain beyond its
 * noise, but a leader change or two at the start of most load runs in
 * workerd (about two failed writes per writer at c=16 and c=64), gone with 1.
 * Why is not understood yet; until it is, chaining stays off.
 */
export const MAX_REPLY_CHAIN = 1;

const PARTITION_META = 'chaos:partition';
/** The chaos transport draws from its own stream of the host's seed, apart from the core's. */
const CHAOS_SEED_SALT = 0x5bd1e995;
const METRICS_META = 'metrics';

type StoredCounters = Omit<ReplicaMetrics, 'flow_inflight_max' | 'nearest_quorum'>;

const NO_COUNTERS: StoredCounters = {
  rpcs_sent: 0,
  rpcs_received: 0,
  messages_sent: 0,
  wakeups: 0,
  late_wakeups: 0,
  storage_transactions: 0,
  proposals: 0,
  proposal_inputs: 0,
  proposals_failed_not_leader: 0,
  proposals_failed_overloaded: 0,
  proposals_failed_dropped: 0,
  proposals_failed_outcome_unknown: 0,
  leader_changes: 0,
  elections_won: 0,
};
const COUNTER_NAMES = Object.keys(NO_COUNTERS) as (keyof StoredCounters)[];

/** Stored counters, or zeros when there are none (or they do not parse: counters are not worth failing over). */
function parseCounters(raw: string | undefined): StoredCounters {
  if (raw === undefined) return NO_COUNTERS;
  try {
    const o = JSON.parse(raw) as Partial<Record<keyof StoredCounters, unknown>>;
    const n = (k: keyof StoredCounters): number => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : 0);
    return Object.fromEntries(COUNTER_NAMES.map((k) => [k, n(k)])) as unknown as StoredCounters;
  } catch {
    return NO_COUNTERS;
  }
}
/** The leader stored with the counters (null when none, or unreadable). */
function storedLastLeader(raw: string | undefined): ReplicaId | null {
  try {
    const v = raw === undefined ? null : (JSON.parse(raw) as { last_leader?: unknown }).last_leader;
    return typeof v === 'number' ? v : null;
  } catch {
    return null;
  }
}
const RUN_MODE_META = 'run-mode';

/** An operator control, as the API asks a replica to carry it out. */
export type OperatorAction =
  | { readonly kind: 'switchover'; readonly target: ReplicaId; readonly timeoutMs: number }
  | { readonly kind: 'step-down'; readonly timeoutMs: number }
  | { readonly kind: 'campaign' }
  | { readonly kind: 'run-mode'; readonly automatic: boolean }
  | { readonly kind: 'snapshot' }
  /** Minority work mode on (the survivors and vote_num, starting `epoch`) or off (null). */
  | { readonly kind: 'work-mode'; readonly override: QuorumOverride | null; readonly epoch?: number };
const UNRELIABLE_META = 'chaos:unreliable';

/**
 * A replica under a wall clock (the middle of the host's three layers:
 * `ReplicaObject`, the Durable Object, wires it to its runtime; `ReadyRunner`
 * does each Ready; `Replica` is the protocol): turns elapsed time into ticks
 * (host-clock.ts), moves messages over a transport (with injected faults:
 * chaos-transport.ts), and lets callers wait for their proposals and reads.
 * It knows nothing of Durable Objects.
 *
 * Replies to our own sends are stepped where they arrive, and whatever they
 * cause to be sent (the next accept batch, once one is decided) goes out at
 * once only while the chain of sends caused by replies that started with
 * the fresh call (an incoming RPC or a wake-up) is shorter than
 * `MAX_REPLY_CHAIN` (1 for now: never); otherwise it waits for the next
 * wake-up, scheduled at once. No single invocation can chain sends without end (Durable Objects
 * limit the calls one invocation may make).
 */
export class ClockedHost {
  private readonly runner: ReadyRunner<KvResult, KvStateMachine>;
  /** The leader's lease deadlines (lease-keeper.ts): the runner runs it as its leader duties. */
  private readonly leases: LeaseKeeper;
  /** A shard of a keyspace with `leaders: follow`: the leader's per-region write counts and moves (traffic-follower.ts). */
  private follower: TrafficFollower | null = null;
  /** This replica's watches and the history of changes they replay (watch-hub.ts). */
  private readonly watches: WatchHub;
  private readonly deps: HostDeps;
  private readonly tickMs: number;
  /** Elapsed time into ticks, and the late-wake rule (host-clock.ts, shared with the simulator). */
  private readonly clock: HostClock;
  private outbox = new Map<ReplicaId, Message[]>();
  private replyTo: ReplicaId | null = null;
  private replyBuffer: Message[] = [];
  /** The transport to peers, with the injected faults and the latency model around it (chaos-transport.ts). */
  private readonly transport: ChaosTransport;
  private sequence = 0;
  private counters: { -readonly [K in Exclude<keyof StoredCounters, 'storage_transactions'>]: number } = { ...NO_COUNTERS };
  /** The Worker request being served right now (set by `serving`), for the log. */
  private requestId: string | undefined;
  /** Writes held to be proposed together in the next input (write gathering; see `write`). */
  private gathered: GatheredWrite[] = [];
  /** How many writes the last input that proposed any proposed: more than one, and the next write waits for company even on an idle replica. */
  private lastGathered = 0;
  /** An operator control is being carried out: the core's refusals now are answers to it, worth a log line. */
  private operating = false;
  /** The leader this replica last followed or was, to count leader changes. */
  private lastLeader: ReplicaId | null = null;
  private overloadLoggedAt = Number.NEGATIVE_INFINITY;
  private overloadsUnlogged = 0;
  /** What earlier lives of this replica counted, as last stored (see ReplicaMetrics). */
  private readonly countedBefore: StoredCounters;
  /** The counters as last stored by this life, to skip a write when nothing changed. */
  private lastStoredCounters = '';
  /** The replica's storage, holding a decidedThrough alone until the next transaction (deferred-decided-storage.ts). */
  private readonly storage: DeferredDecidedStorage;
  /** Record slots the log read skips (a retry's duplicate, a refused record). */
  private readonly skipped: SkippedRecords;
  private readonly heartbeatIntervalMs: number;
  /** The adaptive flow controller, when the stream's flow control is adaptive. */
  private flow: AdaptiveFlowController | null = null;
  /** The timeouts of writes and reads waiting here, on one timer. */
  private readonly deadlines: Deadlines;

  constructor(deps: HostDeps) {
    this.deps = deps;
    this.tickMs = deps.stream.tick_ms;
    const timing = streamTiming(deps.stream);
    this.heartbeatIntervalMs = timing.heartbeatIntervalTicks * deps.stream.tick_ms;
    this.clock = new HostClock({ tickMs: this.tickMs, ...timing }, deps.now());
    this.storage = new DeferredDecidedStorage(deps.storage);
    this.skipped = new SkippedRecords(this.storage);
    this.deadlines = new Deadlines(() => deps.now());
    const kv = new KvStateMachine();
    this.watches = new WatchHub(0);
    kv.listen(this.watches);
    // Before the runner: recovery may already report the leader (a quiet restore), which is no change if it was the last one seen.
    this.lastLeader = storedLastLeader(deps.storage.readMeta(METRICS_META));
    this.runner = new ReadyRunner(
      {
        id: deps.replicaId,
        configuration: bootstrapConfiguration(deps.stream),
        priority: streamPriority(deps.stream),
        autoElection: deps.storage.readMeta(RUN_MODE_META) !== 'manual',
        quietAfterTicks: Math.ceil(deps.stream.quiesce_after_ms / deps.stream.tick_ms),
        ...(deps.stream.replication === 'thrifty' ? { thrifty: DEFAULT_THRIFTY } : {}),
        rng: new SeededRng(deps.seed),
        ...DEFAULT_TIMING,
        ...timing,
        observe: (e) => this.onReplicaEvent(e),
      },
      this.storage,
      kv,
      {
        afterApply: (e, result) => {
          this.skipped.noteApplied(e, result);
          if (e.command.kind === 'config') this.log('configuration_change', { slot: e.slot, members: toDcfConfiguration(e.command.configuration).members });
        },
        afterCompact: (first, snapshotSlot) => {
          this.skipped.compacted(first, snapshotSlot);
          this.log('snapshot_taken', { through_slot: snapshotSlot, first_slot: first });
        },
        afterInstall: (snapshot) => this.log('snapshot_installed', { through_slot: snapshot.slot }),
      },
      { snapshotEverySlots: deps.stream.log.snapshot_every_slots, retainSlots: deps.stream.log.retain_slots, scaleWithState: deps.stream.log.scale_with_state },
    );
    this.runner.pendingMax = deps.stream.queue_max;
    this.leases = new LeaseKeeper(kv, this.tickMs, timing.electionTimeoutTicks, `${deps.replicaId}.${deps.seed.toString(36)}`);
    if (deps.stream.leaders === 'follow') {
      // leaders: follow (traffic-follower.ts): the cool-down is five election timeouts of this leader's ticks.
      this.follower = new TrafficFollower({ ...DEFAULT_FOLLOW, cooldownTicks: 5 * timing.electionTimeoutTicks }, () => this.runner.configuration(), `${deps.replicaId}.${deps.seed.toString(36)}`);
      this.runner.setLeaderDuties(allDuties<KvResult>([this.leases, this.follower]));
    } else {
      this.runner.setLeaderDuties(this.leases);
    }
    const flow = deps.stream.flow_control;
    if (flow.mode === 'fixed') {
      this.runner.setFlowLimits({ inflightMax: flow.inflight_max, batchMax: DEFAULT_TIMING.batchMax, batchMin: flow.batch_min });
    } else {
      this.flow = new AdaptiveFlowController({ batchMax: DEFAULT_TIMING.batchMax });
      this.runner.setFlowLimits(this.flow.limits());
    }
    this.countedBefore = parseCounters(deps.storage.readMeta(METRICS_META));
    const partition = deps.storage.readMeta(PARTITION_META);
    const unreliable = deps.storage.readMeta(UNRELIABLE_META);
    this.transport = new ChaosTransport(
      deps.transport,
      deps.replicaId,
      new SeededRng(deps.seed ^ CHAOS_SEED_SALT),
      {
        partition: partition ? (JSON.parse(partition) as ReplicaId[][] | null) : null,
        unreliable: unreliable ? (JSON.parse(unreliable) as Unreliability | null) : null,
      },
      (peer) => this.oneWayMs(peer),
    );
    this.runInput(() => {}); // replays the decided log into the state machine and arms the first wake-up
  }

  get id(): ReplicaId {
    return this.deps.replicaId;
  }

  // ---------------------------------------------------------------- entry points

  /** Messages from a peer; returns our replies to it (they ride on the RPC's return value). */
  deliver(from: ReplicaId, raw: unknown): Message[] {
    this.counters.rpcs_received += 1;
    if (this.transport.isCut(from)) return [];
    const messages = validMessages(raw, from, this.id);
    this.replyTo = from;
    this.replyBuffer = [];
    try {
      this.runInput(() => {
        for (const m of messages) this.runner.step(m);
      });
      this.counters.messages_sent += this.replyBuffer.length;
      return this.replyBuffer;
    } finally {
      this.replyTo = null;
      this.replyBuffer = [];
    }
  }

  /** The alarm fired (or any other wake-up): time passed. */
  wake(): void {
    if (this.retired) return;
    this.counters.wakeups += 1;
    this.storage.flush();
    this.runInput(() => {});
  }

  /**
   * Propose a client command here and wait until its outcome is known, or
   * `timeoutMs` passes.
   *
   * Write gathering: a write that comes while others wait for their outcome
   * is held until the calls already queued for this replica have been taken
   * (`HostDeps.defer`), and every write held meanwhile is proposed in one
   * input: one persist, one accept batch, one wake-up to arm, where each
   * would have had its own (group commit). A write that finds this replica
   * with nothing waiting, after an input that proposed a lone write, is
   * proposed at once: one write at a time waits for nothing (the deferral
   * is an event of its own, which costs more than it saves when nothing
   * joins). After a group, an idle replica waits for company too: writers
   * released together by one decided batch come back together, and the
   * first of them alone would cost the followers an accept batch of its
   * own. Each write keeps its own outcome and timeout, exactly as if
   * proposed alone.
   */
  async write(command: ClientCommand, timeoutMs: number): Promise<WriteOutcome> {
    const defer = this.deps.defer;
    if (defer === undefined || (this.gathered.length === 0 && this.runner.pending() === 0 && this.lastGathered <= 1)) {
      const outcome = await this.proposeAndWait(command.id, timeoutMs, (settle): WriteOutcome | null => {
        const res = this.startWrite(command, settle);
        if (res !== 'proposed') return res;
        this.counters.proposal_inputs += 1;
        this.lastGathered = 1;
        return null;
      });
      return this.countOutcome(outcome);
    }
    return new Promise<WriteOutcome>((done, fail) => {
      this.gathered.push({ command, timeoutMs, requestId: this.requestId, done, fail });
      if (this.gathered.length === 1) defer(() => this.proposeGathered());
    });
  }

  /** Propose every write gathered since the last time in one input (see `write`); a bug fails them all, which crashes the replica. */
  private proposeGathered(): void {
    const batch = this.gathered;
    this.gathered = [];
    try {
      const started: (WriteOutcome | PendingProposal | null)[] = batch.map(() => null);
      this.runInput(() => {
        let proposed = 0;
        batch.forEach((g, i) => {
          const pending = newPendingProposal();
          const res = this.serving(g.requestId, () => this.startWrite(g.command, pending.settle));
          started[i] = res === 'proposed' ? pending : res;
          if (res === 'proposed') proposed += 1;
        });
        if (proposed > 0) {
          this.counters.proposal_inputs += 1;
          this.lastGathered = proposed;
        }
      });
      batch.forEach((g, i) => {
        const s = started[i]!;
        if (s === null) g.done(this.countOutcome({ kind: 'dropped' })); // retired before it could be proposed: it never had a slot
        else if ('outcome' in s) this.awaitProposal(g.command.id, s, g.timeoutMs).then((o) => g.done(this.countOutcome(o)), g.fail);
        else g.done(s);
      });
    } catch (e) {
      for (const g of batch) g.fail(e);
    }
  }

  /** Propose `command` (inside an input), its outcome to `settle`: `proposed`, or why it was refused. */
  private startWrite(command: ClientCommand, settle: (o: ProposalOutcome<KvResult>) => void): 'proposed' | WriteOutcome {
    const res = this.runner.propose(command, settle);
    if (res.ok) {
      this.counters.proposals += 1;
      return 'proposed';
    }
    if (res.reason === 'overloaded') {
      this.counters.proposals_failed_overloaded += 1;
      this.logOverload('write');
      return { kind: 'overloaded' };
    }
    this.counters.proposals_failed_not_leader += 1;
    return { kind: 'not-leader', leaderHint: res.leaderHint };
  }

  private countOutcome(outcome: WriteOutcome): WriteOutcome {
    if (outcome.kind === 'dropped') this.counters.proposals_failed_dropped += 1;
    if (outcome.kind === 'outcome-unknown') this.counters.proposals_failed_outcome_unknown += 1;
    return outcome;
  }

  /** Propose a configuration change here (the leader) and wait until its outcome is known, or `timeoutMs` passes. */
  async reconfigure(configuration: DcfConfiguration | Configuration, timeoutMs: number): Promise<ReconfigureOutcome> {
    const command = { kind: 'config' as const, id: `config-${crypto.randomUUID()}`, configuration: fromDcfConfiguration(configuration) };
    return this.proposeAndWait(command.id, timeoutMs, (settle) => {
      const res = this.runner.changeConfiguration(command, settle);
      return res.ok ? null : { kind: 'refused', result: res };
    });
  }

  /**
   * Run `propose` as a fresh input (it registers `settle` for command `id`, or
   * returns why it was refused), then wait for the outcome; `outcome-unknown`
   * after `timeoutMs`.
   */
  private async proposeAndWait<R>(id: string, timeoutMs: number, propose: (settle: (o: ProposalOutcome<KvResult>) => void) => R | null): Promise<ProposalOutcome<KvResult> | R> {
    const pending = newPendingProposal();
    let refused: R | null = null;
    this.runInput(() => {
      refused = propose(pending.settle);
    });
    if (refused !== null) return refused;
    return this.awaitProposal(id, pending, timeoutMs);
  }

  /** Wait for a proposal's outcome; after `timeoutMs`, forget it and say `outcome-unknown`. */
  private async awaitProposal(id: string, pending: PendingProposal, timeoutMs: number): Promise<ProposalOutcome<KvResult>> {
    const cancel = this.deadlines.add(timeoutMs, () => {
      this.runner.forgetProposal(id);
      pending.settle({ kind: 'outcome-unknown' });
    });
    const o = await pending.outcome;
    cancel();
    return o;
  }

  /** A linearizable read: confirm leadership (read-index), wait until applied, then run `read`. */
  async readLinearizable<T>(read: () => T, timeoutMs: number): Promise<ReadOutcome<T>> {
    const readId = `read-${++this.sequence}`;
    let settle!: (o: ReadOutcome<T>) => void;
    const outcome = new Promise<ReadOutcome<T>>((resolve) => (settle = resolve));
    let refused: ReadOutcome<T> | null = null;
    this.runInput(() => {
      const res = this.runner.readIndex(readId, (r) => settle(r === 'ready' ? { kind: 'ok', value: read() } : { kind: 'unavailable' }));
      if (!res.ok) refused = res.reason === 'overloaded' ? { kind: 'overloaded' } : { kind: 'not-leader', leaderHint: res.leaderHint };
    });
    if (refused !== null && (refused as ReadOutcome<T>).kind === 'overloaded') this.logOverload('read');
    if (refused) return refused;
    const cancel = this.deadlines.add(timeoutMs, () => {
      this.runner.forgetRead(readId);
      settle({ kind: 'unavailable' });
    });
    const o = await outcome;
    cancel();
    return o;
  }

  /** The item at `key` as applied here (no leadership check: a stale read, unless read-index confirmed it); null for a logger, which keeps no data. */
  getLocal(key: string): KvItem | null | undefined {
    return this.runner.query((kv) => kv.get(key));
  }

  /** The state machine's snapshot and the slot it was applied through, as here (null for a logger). */
  stateSnapshot(): { slot: number; data: string } | null {
    return this.runner.query((kv) => ({ slot: kv.appliedThrough, data: kv.snapshot() }));
  }

  /** Keys starting with `prefix` (and after `after`, when given), in key order, at most `limit`, as applied here (see getLocal); null for a logger. */
  listLocal(prefix: string, limit: number, after?: string): KvItem[] | null {
    return this.runner.query((kv) => kv.list(prefix, limit, after));
  }

  /** A keyspace read of `key` at this shard as applied here (see getLocal): the item, wrong_shard, or an intent to resolve first; null for a logger. */
  shardGetLocal(key: string, mapVersion: number): ShardRead<KvItem | null> | null {
    return this.runner.query((kv) => kv.shardGet(key, mapVersion));
  }

  /** A keyspace list page at this shard as applied here (see KvStateMachine.shardList); null for a logger. */
  shardListLocal(prefix: string, limit: number, after: string | undefined, mapVersion: number): ShardRead<KvItem[]> | null {
    return this.runner.query((kv) => kv.shardList(prefix, limit, after, mapVersion));
  }

  /** A lease as applied here, with the leader's estimate of its remaining time (meaningful only on the leader, after a read-index). */
  leaseLocal(id: string): LeaseView | null {
    return this.runner.query((kv) => {
      const lease = kv.lease(id);
      if (!lease) return null;
      return { lease, remainingMs: this.leases.remainingMs(id, this.runner.tickCount) ?? lease.ttlMs };
    });
  }

  /** The queue under a lock's or election's prefix as applied here (see KvStateMachine.lockView); null for a logger. */
  lockViewLocal(prefix: string, key: string | null): LockView | null {
    return this.runner.query((kv) => kv.lockView(prefix, key));
  }

  /**
   * Open a watch on this replica (watch-hub.ts). Unless `force`, only a
   * replica that knows it is current takes it: the leader, or a follower
   * that follows one (else `behind`, and the Worker asks another).
   */
  watch(filter: WatchFilter, fromRevision: number | undefined, options: WatchStreamOptions & { readonly force: boolean }): WatchOutcome {
    if (!this.runner.keepsData) return { kind: 'unavailable' };
    this.runInput(() => {});
    const st = this.runner.status();
    const current = st.role === 'leader' || (st.role === 'follower' && st.leaderId !== null && !st.fenced);
    if (!current && !options.force) return { kind: 'behind' };
    return openWatchStream(this.watches, filter, fromRevision, this.runner.query((kv) => kv.revision) ?? 0, options);
  }

  /** Open watches here (status, tests). */
  get watchCount(): number {
    return this.watches.watcherCount;
  }

  /**
   * Appended log records from slot `from` on, at most `limit`: only records
   * that were applied (a retry's duplicate and a refused record are skipped).
   * A `from` below the log's first slot was truncated: `compacted`.
   */
  logLocal(from: number, limit: number): LogRead {
    const st = this.runner.status();
    if (from < st.firstSlot) return { kind: 'compacted', firstIndex: st.firstSlot };
    const records: LogRecord[] = [];
    for (let slot = Math.max(1, from); slot <= st.decidedThrough && records.length < limit; slot++) {
      const e = this.runner.decidedEntry(slot);
      if (e?.command.kind === 'opaque' && !this.skipped.has(slot)) records.push({ index: slot, data: e.command.data });
    }
    return { kind: 'records', records };
  }

  view(): ReplicaView {
    this.runInput(() => {});
    const st = this.runner.status();
    return {
      node_id: st.id,
      role: dcfRole(st),
      member_role: st.memberRole === 'none' ? 'none' : toDcfRole(st.memberRole),
      writes_blocked: st.writesBlocked,
      transferring_to: st.transferringTo,
      run_mode: st.autoElection ? 'automatic' : 'manual',
      quiescent: st.quiet,
      leader_id: st.leaderId,
      term: st.ballot.round,
      ballot: st.ballot,
      promised: st.promised,
      commit_index: st.decidedThrough,
      applied_index: this.runner.query((kv) => kv.appliedThrough),
      first_index: st.lastSlot >= st.firstSlot ? st.firstSlot : 0,
      last_index: st.lastSlot,
      partitioned_from: st.configuration.members.map((m) => m.id).filter((id) => id !== this.id && this.transport.isCut(id)),
      unreliable: this.transport.unreliable,
      configuration: toDcfConfiguration(st.configuration),
      configuration_index: st.configurationSlot,
      pending_configuration: st.pendingConfiguration ? toDcfConfiguration(st.pendingConfiguration) : null,
      work_mode: st.quorumOverride ? 'minority' : 'normal',
      vote_num: st.quorumOverride?.voteNum ?? null,
      minority_replicas: st.quorumOverride?.voters ?? null,
      epoch: st.epoch,
      fenced: st.fenced,
      incarnation: st.incarnation,
      pending_requests: this.runner.pending(),
      last_transition: st.lastTransition ? `${st.lastTransition.from} -> ${st.lastTransition.to} at tick ${st.lastTransition.tick}: ${st.lastTransition.why}` : null,
      last_refusal: st.lastRefusal ? `refused ${st.lastRefusal.what} at tick ${st.lastRefusal.tick}: ${st.lastRefusal.why}` : null,
      ...(this.follower ? { follow: followView(this.follower.view()) } : {}),
    };
  }

  /** Carry out an operator control here; the answer says whether it was accepted, and why not. */
  operate(action: OperatorAction): OperatorResult {
    let result: OperatorResult = { ok: true, target: this.id };
    this.operating = true;
    try {
      this.runInput(() => this.carryOut(action, (r) => (result = r)));
    } finally {
      this.operating = false;
    }
    if (action.kind === 'work-mode' && result.ok) {
      const o = action.override;
      this.log(o ? 'minority_mode' : 'normal_mode', o ? { voters: o.voters, vote_num: o.voteNum, epoch: this.runner.status().epoch } : {});
    }
    if (action.kind === 'run-mode') this.log('run_mode', { mode: action.automatic ? 'automatic' : 'manual' });
    return result;
  }

  /** One operator control, inside an input; `answer` gets the core's result. */
  private carryOut(action: OperatorAction, answer: (r: OperatorResult) => void): void {
    let result: OperatorResult = { ok: true, target: this.id };
    const runner = this.runner;
    const ticks = (ms: number): number => Math.max(1, Math.ceil(ms / this.tickMs));
    switch (action.kind) {
      case 'switchover':
        result = runner.transferLeadership(action.target, ticks(action.timeoutMs));
        break;
      case 'step-down':
        result = runner.stepDown(ticks(action.timeoutMs));
        break;
      case 'campaign':
        result = runner.campaignNow();
        break;
      case 'snapshot':
        this.runner.compactNow((m) => this.route(m));
        break;
      case 'work-mode':
        try {
          this.runner.setWorkMode(action.override, action.epoch);
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          result = { ok: false, code: 'invalid-target', message: e.message.replace(/^work mode: /, '') };
        }
        break;
      case 'run-mode':
        // Durable, so a replica that restarts keeps the mode the operator chose.
        this.deps.storage.writeMeta(RUN_MODE_META, action.automatic ? 'automatic' : 'manual');
        runner.setAutoElection(action.automatic);
        break;
    }
    answer(result);
  }

  /**
   * Serve one call of the Worker's request `requestId`: what happens while
   * it runs (synchronously) is logged with that id. Events that come later
   * (a decision, an election) carry none.
   */
  serving<T>(requestId: string | undefined, fn: () => T): T {
    const outer = this.requestId;
    this.requestId = requestId;
    try {
      return fn();
    } finally {
      this.requestId = outer;
    }
  }

  /** What the core reports (transitions and refusals, with their reasons): counted, and logged when notable. */
  private onReplicaEvent(e: ReplicaEvent): void {
    if (e.kind === 'refusal') {
      // Refusals of votes and stale messages are routine; those that answer an operator, or end a hand-over, are news.
      if (this.operating || e.what.startsWith('hand-over')) this.log('refused', { what: e.what, why: e.why });
      return;
    }
    // As etcd's leader_changes_seen: every new leader this replica follows or becomes, the first one too.
    if (e.leaderId !== null && e.leaderId !== this.lastLeader) {
      this.counters.leader_changes += 1;
      this.lastLeader = e.leaderId;
    }
    const fields = { from: e.from, to: e.to, leader_id: e.leaderId, why: e.why };
    if (e.to === 'leader') {
      this.counters.elections_won += 1;
      this.log('election_won', fields);
    } else if (e.why.startsWith('fenced by')) this.log('fenced', fields);
    else if (e.from === 'leader') this.log('step_down', fields);
    else if (e.from === 'candidate' || e.from === 'pre-candidate') this.log(e.to === 'candidate' ? 'election_started' : 'election_lost', fields);
    else if (e.from === 'follower' && e.to === 'follower') this.log(e.leaderId !== null ? 'new_leader' : 'leader_lost', fields);
  }

  /** At most one line per OVERLOAD_LOG_EVERY_MS, saying how many refusals it stands for. */
  private logOverload(what: 'write' | 'read'): void {
    this.overloadsUnlogged += 1;
    const now = this.deps.now();
    if (now - this.overloadLoggedAt < OVERLOAD_LOG_EVERY_MS) return;
    this.log('overloaded', { refused: what, refusals: this.overloadsUnlogged, queue_max: this.deps.stream.queue_max });
    this.overloadLoggedAt = now;
    this.overloadsUnlogged = 0;
  }

  private log(event: string, fields: Record<string, unknown>): void {
    if (!this.deps.log) return;
    // Called from the core while it starts too, before the runner exists.
    const term = (this.runner as ReadyRunner<KvResult, KvStateMachine> | undefined)?.status().ballot.round ?? null;
    this.deps.log({ event, stream: this.deps.stream.name, replica: this.deps.replicaId, term, ...(this.requestId ? { request_id: this.requestId } : {}), ...fields });
  }

  metrics(): ReplicaMetrics {
    return { ...this.totalCounters(), flow_inflight_max: this.runner.flowLimits().inflightMax, nearest_quorum: this.runner.status().nearestQuorum };
  }

  private totalCounters(): StoredCounters {
    const b = this.countedBefore;
    const c: StoredCounters = { ...this.counters, storage_transactions: this.deps.storage.transactions };
    return Object.fromEntries(COUNTER_NAMES.map((k) => [k, b[k] + c[k]])) as unknown as StoredCounters;
  }

  /** Going quiet: store the counters (one small write per quiet period), since a quiet replica may be evicted. */
  private storeCounters(): void {
    // The leader last seen is kept with them, so that a restart does not count finding it again as a change.
    const json = JSON.stringify({ ...this.totalCounters(), last_leader: this.lastLeader });
    if (json === this.lastStoredCounters) return;
    this.lastStoredCounters = json;
    this.deps.storage.writeMeta(METRICS_META, json);
  }

  /** Fault injection: drop every message between replicas of different groups (null heals). */
  setPartition(groups: ReplicaId[][] | null): void {
    this.transport.setPartition(groups);
    this.deps.storage.writeMeta(PARTITION_META, JSON.stringify(groups));
  }

  /** Fault injection: duplicate and reorder outgoing batches (null heals). */
  setUnreliable(u: Unreliability | null): void {
    this.transport.setUnreliable(u);
    this.deps.storage.writeMeta(UNRELIABLE_META, JSON.stringify(u));
  }

  // ---------------------------------------------------------------- machinery

  /**
   * This replica's storage is about to be replaced (a rebuild): from now on
   * this host writes nothing and sends nothing, whatever is still in flight.
   */
  retire(): void {
    this.retired = true;
    this.runner.crashed = true;
    this.watches.closeAll();
  }

  /** This replica's own status as the core reports it (role, ballot, epoch, incarnation, ...). */
  status(): ReplicaStatus {
    return this.runner.status();
  }

  /** False for a logger: it stores and votes on the log but keeps no state machine (no data to read). */
  get keepsData(): boolean {
    return this.runner.keepsData;
  }

  private retired = false;

  /** Every fresh input: catch the clock up, run `input`, do what the core asks, send, re-arm the wake-up. */
  private runInput(input: () => void): void {
    if (this.retired) return;
    this.advanceClock();
    input();
    this.runner.drain((m) => this.route(m));
    this.watches.advance(this.runner.query((kv) => kv.revision) ?? 0);
    this.adjustFlow();
    this.sendOutbox();
    this.rearm();
  }

  /** Let the adaptive flow controller see what the last input did; new limits take effect with the next flush. */
  private adjustFlow(): void {
    if (!this.flow) return;
    const limits = this.flow.observe(this.deps.now(), this.runner.flowState());
    if (limits) this.runner.setFlowLimits(limits);
  }

  /** Turn the time passed since the last input into ticks, or forgive a late wake-up (host-clock.ts says when and why). */
  private advanceClock(): void {
    if (this.clock.drive(this.deps.now(), this.runner)) this.counters.late_wakeups += 1;
  }

  private route(m: Message): void {
    if (m.to === this.replyTo) {
      this.replyBuffer.push(m);
      return;
    }
    const queue = this.outbox.get(m.to);
    if (queue) queue.push(m);
    else this.outbox.set(m.to, [m]);
  }

  /** One RPC per destination carrying everything queued for it; `chain`: how many reply-caused hops led here. */
  private sendOutbox(chain = 0): void {
    if (this.outbox.size === 0) return;
    const batches = this.outbox;
    this.outbox = new Map();
    for (const [to, all] of batches) {
      if (this.transport.isCut(to)) continue; // a partition: nothing leaves for it (and no RPC is counted)
      // A snapshot piece can be large: each goes in an RPC of its own, the rest share one.
      const pieces = all.filter((m) => m.type === 'install-snapshot');
      const rest = all.filter((m) => m.type !== 'install-snapshot');
      for (const messages of [rest, ...pieces.map((p) => [p])]) {
        if (messages.length > 0) this.sendBatch(to, messages, chain);
      }
    }
  }

  /** One RPC; the transport adds the injected faults and the latency model, if any. */
  private sendBatch(to: ReplicaId, messages: Message[], chain: number): void {
    this.counters.rpcs_sent += 1;
    this.counters.messages_sent += messages.length;
    this.deps.background(this.transport.send(to, messages).then((replies) => this.onReplies(to, replies, chain)));
  }


  /**
   * Replies to our send arrived: step them here. What they cause goes out at
   * once while the chain is short, else with the next wake-up.
   */
  private onReplies(from: ReplicaId, raw: Message[], chain: number): void {
    if (this.retired || raw.length === 0 || this.transport.isCut(from)) return;
    const replies = validMessages(raw, from, this.id);
    this.advanceClock();
    for (const m of replies) this.runner.step(m);
    this.runner.drain((m) => this.route(m));
    this.watches.advance(this.runner.query((kv) => kv.revision) ?? 0);
    this.adjustFlow();
    if (this.outbox.size > 0 && chain + 1 < MAX_REPLY_CHAIN) this.sendOutbox(chain + 1);
    this.rearm();
  }

  private rearm(): void {
    if (this.outbox.size > 0) return this.wakeAt(this.deps.now());
    const ticks = this.runner.ticksUntilNextTimer();
    // A held decidedThrough is written by the next wake-up: within a heartbeat interval at the latest.
    const flushBy = this.storage.holding ? this.deps.now() + this.heartbeatIntervalMs : null;
    if (ticks === null) {
      this.clock.expectWake(null);
      if (flushBy !== null) return this.wakeAt(flushBy);
      this.storeCounters();
      return; // quiet: no alarm; the next message or request wakes us
    }
    const at = this.clock.timerDueAt(ticks);
    this.wakeAt(flushBy !== null ? Math.min(at, flushBy) : at);
  }

  private wakeAt(at: number): void {
    this.clock.expectWake(at);
    this.deps.scheduleWake(at);
  }

  /** With the latency model on: half the round trip between our region and `peer`'s. */
  private oneWayMs(peer: ReplicaId): number {
    if (!this.deps.simulateLatency) return 0;
    const mine = this.regionOf(this.id);
    const theirs = this.regionOf(peer);
    return mine && theirs ? Math.round(regionRttMs(mine, theirs) / 2) : 0;
  }

  /** Where a replica runs, by the configuration in effect (or the bootstrap one, for a replica it no longer lists). */
  regionOf(id: ReplicaId): Region | undefined {
    const m = this.runner.configuration().members.find((x) => x.id === id);
    const region = m?.region ?? this.deps.stream.replicas.find((r) => r.id === id)?.region;
    return region !== undefined && (REGIONS as readonly string[]).includes(region) ? (region as Region) : undefined;
  }
}

export type { KvResult };

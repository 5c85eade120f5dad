import type { Ballot, ReplicaId } from './ballot.ts';
import type { Snapshot } from './log.ts';
import type { Configuration } from './configuration.ts';
import type { MemberRole } from './membership.ts';
import type { Rng } from './rng.ts';
import type { ThriftyOptions } from './thrifty.ts';

// What a Replica is configured with and what it answers: the contract between
// the core and its hosts. The protocol itself is in replica.ts.

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** A role change (`becomeX`), and why it happened. `from` equals `to` when a follower starts following another leader (or none). */
export interface Transition {
  readonly tick: number;
  readonly from: Role;
  readonly to: Role;
  /** The leader followed after the change (null: none known). */
  readonly leaderId: ReplicaId | null;
  readonly why: string;
}

/** Something a replica declined to do (grant a pre-vote, accept a stale ballot, campaign, an operator's request), and why. */
export interface Refusal {
  readonly tick: number;
  /** What was declined, in a few words: `pre-vote for 3`, `accept from 2 at 4.2`, `campaign`, `switchover`. */
  readonly what: string;
  readonly why: string;
}

/** What a replica reports as it happens, for the simulator's trace and other observers (`ReplicaOptions.observe`). */
export type ReplicaEvent = ({ readonly kind: 'transition' } & Transition) | ({ readonly kind: 'refusal' } & Refusal);

/** A replica's timers and flow-control limits, all in ticks or counts. */
export interface ReplicaTiming {
  /** Ticks between a leader's heartbeats. */
  readonly heartbeatIntervalTicks: number;
  /** Base election timeout; each follower draws its own from `[base, 2*base)`. Also the check-quorum window. At least two heartbeat intervals (`timingProblem`). */
  readonly electionTimeoutTicks: number;
  /** Accept batches a leader keeps in flight before it queues proposals. */
  readonly inflightMax: number;
  /** Commands per accept batch at most. */
  readonly batchMax: number;
  /** Ticks after which an unacknowledged accept or catch-up is sent again. */
  readonly retransmitTicks: number;
  /** Decided entries sent to a lagging acceptor per catch-up message. */
  readonly catchupBatchMax: number;
}

/** The host's latest snapshot, read when a lagging acceptor needs it. */
export interface SnapshotSource {
  latest(): Snapshot | null;
}

/** DCF priority election (AUTO_ELC_PRIORITY_EN) and its companions. */
export interface PriorityOptions {
  /**
   * Prefer higher-priority leaders: election timeouts are staggered by priority
   * rank, a voter defers to a live, caught-up higher-priority replica when it
   * answers pre-votes, and among equals the more up-to-date one wins.
   */
  readonly enabled: boolean;
  /** A leader hands over to a reachable, caught-up replica of higher priority (fail-back). */
  readonly failback: boolean;
  /** A follower neither starts nor supports an election until its leader has led this long (DCF ELECTION_SWITCH_THRESHOLD); 0 = off. */
  readonly minLeaderTenureTicks: number;
}

export const DEFAULT_PRIORITY: PriorityOptions = Object.freeze({ enabled: true, failback: true, minLeaderTenureTicks: 0 });

export interface ReplicaOptions extends ReplicaTiming {
  readonly id: ReplicaId;
  /**
   * The bootstrap configuration: the replicas, their roles, priorities, weights,
   * groups and regions, and the quorum policy, until `config` commands in the
   * log (or a stored base configuration) say otherwise.
   */
  readonly configuration: Configuration;
  readonly priority?: PriorityOptions;
  /** Run mode: false stops replicas from starting elections by themselves (default true). */
  readonly autoElection?: boolean;
  /** Where a leader finds its latest snapshot to send to an acceptor that needs compacted slots. */
  readonly snapshots?: SnapshotSource;
  /** Characters per install-snapshot message (default 1 000 000). */
  readonly snapshotChunkChars?: number;
  /**
   * Going quiet: a leader with nothing in flight, every replica caught up and no
   * client request for this many ticks stops heartbeating, and its followers
   * stop their election timers; the next request wakes the stream (0 = never).
   */
  readonly quietAfterTicks?: number;
  readonly rng: Rng;
  /** Told of every transition and refusal as it happens (the simulator's trace); the latest of each is in the status anyway. */
  readonly observe?: (event: ReplicaEvent) => void;
  /**
   * Thrifty replication (thrifty.ts): a leader sends each accept batch to its
   * nearest quorum only, hedging to the rest when it is late, and catches the
   * others up with its heartbeats. Absent: every batch goes to every follower.
   */
  readonly thrifty?: ThriftyOptions;
}

export const DEFAULT_TIMING: ReplicaTiming = Object.freeze({
  heartbeatIntervalTicks: 2,
  electionTimeoutTicks: 10,
  inflightMax: 8,
  batchMax: 256,
  retransmitTicks: 4,
  catchupBatchMax: 256,
});

export type ProposeResult = { readonly ok: true } | NotLeader;

/**
 * Minority work mode (DCF work_mode minority with vote_num): elections and
 * decisions need `voteNum` of `voters` and nothing else, so that survivors of a
 * lost majority can go on. Unsafe by design: see docs/operations.md (minority force-start).
 */
export interface QuorumOverride {
  readonly voters: readonly ReplicaId[];
  readonly voteNum: number;
}

/**
 * The override as the core keeps it: each survivor named once (in ascending
 * order), and `voteNum` a strict majority of them. Any two sets of `voteNum`
 * survivors then share one, so a phase-1 quorum meets every phase-2 quorum and
 * two survivors can never each elect themselves and decide different values
 * for one slot (with 3 survivors and vote_num 1, message loss alone would do
 * it). Throws a RangeError that says why otherwise.
 */
export function checkQuorumOverride(o: QuorumOverride): QuorumOverride {
  const voters = [...new Set(o.voters)].sort((a, b) => a - b);
  if (voters.length === 0) throw new RangeError('work mode: name at least one surviving replica');
  if (!Number.isInteger(o.voteNum) || o.voteNum < 1 || o.voteNum > voters.length) {
    throw new RangeError(`work mode: vote_num ${o.voteNum} must be between 1 and the ${voters.length} replicas named`);
  }
  if (2 * o.voteNum <= voters.length) {
    throw new RangeError(
      `work mode: vote_num ${o.voteNum} is not a majority of the ${voters.length} survivors named: two groups of ${o.voteNum} could each elect a leader and decide different values; use at least ${Math.floor(voters.length / 2) + 1}`,
    );
  }
  return { voters, voteNum: o.voteNum };
}

/** The answer to an operator control: accepted (and what it will act on), or refused with a reason. */
export type OperatorResult =
  | { readonly ok: true; readonly target: ReplicaId }
  | {
      readonly ok: false;
      readonly code: 'not-leader' | 'invalid-target' | 'no-target' | 'invalid-change' | 'change-in-progress' | 'would-block';
      readonly message: string;
      readonly leaderHint?: ReplicaId | null;
    };
export type ReadIndexResult = { readonly ok: true } | NotLeader;
export interface NotLeader {
  readonly ok: false;
  readonly reason: 'not-leader';
  /** The leader this replica last heard from, if any. */
  readonly leaderHint: ReplicaId | null;
}

/** A replica's view of itself, for status pages and tests. */
export interface ReplicaStatus {
  readonly id: ReplicaId;
  readonly role: Role;
  /** The configured role: what this replica may do (`none`: not a member of the configuration it knows). */
  readonly memberRole: MemberRole | 'none';
  /** The configuration in effect after the decided prefix, and the slot of the command that set it (0: bootstrap). */
  readonly configuration: Configuration;
  readonly configurationSlot: number;
  /** A configuration change proposed and not yet decided, if this replica knows of one. */
  readonly pendingConfiguration: Configuration | null;
  /** Minority work mode, if an operator forced it on this replica. */
  readonly quorumOverride: QuorumOverride | null;
  readonly epoch: number;
  /** It heard from a later epoch and does nothing until rebuilt. */
  readonly fenced: boolean;
  /** Which life of this replica this is (a rebuild starts a new one). */
  readonly incarnation: number;
  /** For a leader that cannot decide: what its quorum policy is missing among the acceptors it hears from. */
  readonly writesBlocked: string | null;
  /** A leader handing over to this replica, if any. */
  readonly transferringTo: ReplicaId | null;
  /** Run mode: whether this replica starts elections by itself. */
  readonly autoElection: boolean;
  /** Quiet: a leader that stopped heartbeating, or a follower that stopped its election timer. */
  readonly quiet: boolean;
  readonly leaderId: ReplicaId | null;
  /** The ballot this replica leads or campaigns with; for a follower, the ballot it promised. */
  readonly ballot: Ballot;
  readonly promised: Ballot;
  readonly decidedThrough: number;
  readonly appliedThrough: number;
  readonly lastSlot: number;
  /** The first slot still held as an entry; earlier ones were compacted into a snapshot. */
  readonly firstSlot: number;
  /** The latest role change and why (null: none since this replica started). */
  readonly lastTransition: Transition | null;
  /** The latest thing it declined to do and why (null: nothing since it started). */
  readonly lastRefusal: Refusal | null;
  /** A leader with thrifty replication: the followers its last accept batch went to first (null: every follower, or not leading). */
  readonly nearestQuorum: readonly ReplicaId[] | null;
}

/** Refuse options that cannot work, naming the option. */
export function validateOptions(o: ReplicaOptions): void {
  const positive: (keyof ReplicaOptions)[] = [
    'heartbeatIntervalTicks',
    'electionTimeoutTicks',
    'inflightMax',
    'batchMax',
    'retransmitTicks',
    'catchupBatchMax',
  ];
  for (const k of positive) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`replica options: ${k} must be a positive integer, got ${String(v)}`);
  }
  const problem = timingProblem(o);
  if (problem) throw new RangeError(`replica options: ${problem}`);
}

/**
 * The one rule tying a replica's timeouts together, checked here for the core
 * and, on the ticks a stream's milliseconds round to, by the host's
 * configuration (src/host/config.ts): the election timeout is at least two
 * heartbeat intervals, so a follower hears from a live leader within it even
 * when a heartbeat is lost. Null when the timing is fine, else what is wrong.
 */
export function timingProblem(t: Pick<ReplicaTiming, 'heartbeatIntervalTicks' | 'electionTimeoutTicks'>): string | null {
  if (t.electionTimeoutTicks >= 2 * t.heartbeatIntervalTicks) return null;
  return `electionTimeoutTicks (${t.electionTimeoutTicks}) must be at least twice heartbeatIntervalTicks (${t.heartbeatIntervalTicks}), or followers time out between heartbeats`;
}

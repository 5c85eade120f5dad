import type { ConfigurationAt } from './configuration.ts';
import type { Ballot, ReplicaId } from './ballot.ts';
import type { Command } from './command.ts';

/**
 * Every message between replicas of one stream. Shapes allow batching (an
 * accept carries a run of slots) and pipelining (accepts are acknowledged by
 * the slots they name, so many may be in flight). Every message names its
 * ballot so that a receiver can tell stale traffic from current.
 */
export type Message =
  | PreVoteMessage
  | PreVoteReplyMessage
  | PrepareMessage
  | PromiseMessage
  | AcceptMessage
  | AcceptedMessage
  | HeartbeatMessage
  | HeartbeatReplyMessage
  | NackMessage
  | TimeoutNowMessage
  | InstallSnapshotMessage
  | FencedMessage;

interface Envelope {
  readonly from: ReplicaId;
  readonly to: ReplicaId;
  /**
   * The sender's epoch (absent: 0). A minority force-start begins a new epoch;
   * replicas of different epochs never act on each other's messages.
   */
  readonly epoch?: number;
  /** The receiver's incarnation the sender means (absent: 1); any other incarnation ignores the message. */
  readonly toIncarnation?: number;
  /** The sender's incarnation (absent: 1): an acceptor's answer counts only from the incarnation the configuration names. */
  readonly fromIncarnation?: number;
}

/** The sender is at a later epoch than the receiver: the receiver's history was forked off and it must be rebuilt. */
export interface FencedMessage extends Envelope {
  readonly type: 'fenced';
}

/**
 * A pre-candidate asks whether it could win with `ballot` (not yet promised by
 * anyone, not persisted by anyone): it is granted only by replicas that have not
 * heard from a live leader for an election timeout.
 */
export interface PreVoteMessage extends Envelope {
  readonly type: 'pre-vote';
  readonly ballot: Ballot;
  readonly decidedThrough: number;
}

export interface PreVoteReplyMessage extends Envelope {
  readonly type: 'pre-vote-reply';
  readonly ballot: Ballot;
  readonly granted: boolean;
  /** The replier's promise, so a pre-candidate with a stale round learns a higher one. */
  readonly promised: Ballot;
}

/** Phase 1a: for every slot from `fromSlot` on. */
export interface PrepareMessage extends Envelope {
  readonly type: 'prepare';
  readonly ballot: Ballot;
  readonly fromSlot: number;
}

/** An acceptor's stored entry as reported in a promise. */
export interface PromisedEntry {
  readonly slot: number;
  /** The ballot at which the acceptor accepted it. */
  readonly ballot: Ballot;
  readonly command: Command;
  /** True when the acceptor knows this slot is decided (its value is final). */
  readonly decided: boolean;
}

/** Phase 1b: the acceptor promised `ballot` and reports what it holds from `fromSlot` on. */
export interface PromiseMessage extends Envelope {
  readonly type: 'promise';
  readonly ballot: Ballot;
  readonly fromSlot: number;
  readonly decidedThrough: number;
  readonly entries: readonly PromisedEntry[];
  /** Entries through this slot were compacted away (all decided): a candidate that needs them cannot lead. */
  readonly compactedThrough: number;
}

/**
 * Phase 2a for the run of slots `firstSlot .. firstSlot + commands.length - 1`,
 * also used to catch a lagging acceptor up. `decidedThrough` is the leader's: every
 * slot up to it is decided.
 */
export interface AcceptMessage extends Envelope {
  readonly type: 'accept';
  readonly ballot: Ballot;
  readonly firstSlot: number;
  readonly commands: readonly Command[];
  readonly decidedThrough: number;
  /** Thrifty replication: the leader's tick when it sent this; the answer echoes it (a round-trip sample). */
  readonly tick?: number;
}

/** Phase 2b: the acceptor accepted (and persisted) `firstSlot .. lastSlot` at `ballot`. */
export interface AcceptedMessage extends Envelope {
  readonly type: 'accepted';
  readonly ballot: Ballot;
  readonly firstSlot: number;
  readonly lastSlot: number;
  readonly decidedThrough: number;
  /** The `tick` of the accept this answers, echoed. */
  readonly tick?: number;
}

/**
 * The leader's liveness signal, carrier of its decided prefix, and the
 * broadcast that confirms leadership for read-index reads (`readSeq`).
 */
export interface HeartbeatMessage extends Envelope {
  readonly type: 'heartbeat';
  readonly ballot: Ballot;
  readonly decidedThrough: number;
  readonly readSeq: number;
  /** The leader goes quiet: a caught-up follower may stop its election timer until it hears from anyone again. */
  readonly quiet?: boolean;
  /** Thrifty replication: the leader's tick when it sent this; the answer echoes it (a round-trip sample). */
  readonly tick?: number;
}

export interface HeartbeatReplyMessage extends Envelope {
  readonly type: 'heartbeat-reply';
  readonly ballot: Ballot;
  readonly decidedThrough: number;
  readonly readSeq: number;
  /** The `tick` of the heartbeat this answers, echoed. */
  readonly tick?: number;
}

/** "I have promised `promised`, which is above your `ballot`": the sender is stale. */
export interface NackMessage extends Envelope {
  readonly type: 'nack';
  readonly ballot: Ballot;
  readonly promised: Ballot;
}

/** Leadership hand-over: the leader at `ballot` tells a caught-up replica to campaign now, skipping pre-vote. */
export interface TimeoutNowMessage extends Envelope {
  readonly type: 'timeout-now';
  readonly ballot: Ballot;
  /** Ordered by an operator (switchover): the new leader does not fail back automatically. */
  readonly manual: boolean;
}

/**
 * A lagging acceptor needs slots the leader has compacted: the leader sends its
 * latest snapshot instead, in `chunks` pieces (Durable Object RPC messages are
 * bounded in size); the acceptor installs it once every piece has arrived.
 */
export interface InstallSnapshotMessage extends Envelope {
  readonly type: 'install-snapshot';
  readonly ballot: Ballot;
  /** The snapshot covers every slot through this one. */
  readonly slot: number;
  readonly chunk: number;
  readonly chunks: number;
  readonly data: string;
  /** The configuration in effect after `slot` (the snapshot replaces the log that held it). */
  readonly config: ConfigurationAt;
  /**
   * Sent by an acceptor (not a leader) to a candidate that asked for slots it
   * compacted: install it, then campaign again from it; it makes nobody a leader.
   */
  readonly fromAcceptor?: boolean;
}

export type MessageType = Message['type'];

import { type Ballot, type ReplicaId, ballotEquals, formatBallot } from './ballot.ts';
import type { QuietRecord } from './log.ts';

// Going quiet: a stream that no client asked anything for a while goes quiet
// (the leader stops heartbeating, the followers stop their election timers)
// so that it costs nothing; the next request or message wakes it. A replica
// restarted after going quiet (a quiet Durable Object evicted, then called
// again) comes back quiet when that is still safe (quiet restore), so the
// first request after a quiet period needs no election.

/**
 * Whether a replica is quiet, and what it must store when it goes quiet.
 * `heartbeatsSinceRequest` counts a leader's heartbeat intervals since the last
 * client request.
 */
export class Quiet {
  /** A leader that stopped heartbeating, or a follower that stopped its election timer. */
  isQuiet = false;
  private heartbeatsSinceRequest = 0;
  /** We just went quiet: whom we follow at which ballot, to store with the next Ready. */
  private toPersist: QuietRecord | null = null;

  /** A client request (or any sign of life): the count of heartbeats without one starts over. */
  noteActivity(): void {
    this.heartbeatsSinceRequest = 0;
  }

  /** A leader's heartbeat interval passed without a client request. */
  noteHeartbeatWithoutRequest(): void {
    this.heartbeatsSinceRequest += 1;
  }

  /** Ticks without a client request, counted in whole heartbeat intervals. */
  ticksSinceRequest(heartbeatIntervalTicks: number): number {
    return this.heartbeatsSinceRequest * heartbeatIntervalTicks;
  }

  /** Go quiet; `record` (if any) is stored with the next Ready so a restart can come back quiet. */
  goQuiet(record: QuietRecord | null): void {
    if (record) this.toPersist = record;
    this.isQuiet = true;
  }

  get hasRecordToPersist(): boolean {
    return this.toPersist !== null;
  }

  takeRecordToPersist(): QuietRecord | null {
    const r = this.toPersist;
    this.toPersist = null;
    return r;
  }
}

/** What decides whether a leader that no client asked anything for a while may go quiet. */
export interface QuietCheck {
  /** Go quiet after this many ticks without a client request (0: never). */
  readonly quietAfterTicks: number;
  readonly ticksSinceRequest: number;
  /** Anything proposed, queued or read and not finished, or a hand-over in progress. */
  readonly busy: boolean;
  /** Every slot the leader proposed is decided. */
  readonly allDecided: boolean;
  /** A higher-priority replica should lead instead (it should be the quiet one): asked only if the rest allows. */
  readonly failBackDue: () => boolean;
  /** Every other replica answered recently and holds every decided slot: asked last. */
  readonly everyoneCaughtUp: () => boolean;
}

/**
 * A leader may go quiet when no client asked anything for the quiet
 * period, nothing is in flight or queued, and every other replica answered
 * recently and holds every decided slot (so none of them needs it).
 */
export function mayGoQuiet(c: QuietCheck): boolean {
  if (c.quietAfterTicks === 0 || c.ticksSinceRequest < c.quietAfterTicks) return false;
  if (c.busy || !c.allDecided) return false;
  if (c.failBackDue()) return false; // hand over first: the better leader should be the quiet one
  return c.everyoneCaughtUp();
}

/** A restarted replica's state, as far as quiet restore looks at it. */
export interface RestoreState {
  readonly id: ReplicaId;
  readonly fenced: boolean;
  /** It is a member of the configuration in effect (in this incarnation). */
  readonly member: boolean;
  /** It may lead (an electable voter). */
  readonly electable: boolean;
  readonly epoch: number;
  readonly promised: Ballot;
  readonly decidedThrough: number;
  readonly lastSlot: number;
}

export type QuietRestore =
  | { readonly kind: 'lead'; readonly ballot: Ballot }
  | { readonly kind: 'follow'; readonly leaderId: ReplicaId }
  | { readonly kind: 'refused'; readonly why: string };

/**
 * A replica that restarts comes back as it went quiet (`q`), instead of
 * starting an election that would make the first request after a quiet
 * period wait an election timeout: a leader leads again at its ballot, a
 * follower follows its leader, both quiet. Only if nothing happened since
 * that could make it wrong: its promise is still that ballot (no later ballot
 * was answered), it is still in the epoch it went quiet in (a minority
 * force-start since changed the quorums that ballot's phase 1 was won under),
 * and every slot in its log is decided (nothing in flight, so a leader has no
 * batch to resume).
 *
 * Why a leader may: its ballot's phase 1 is a fact about the acceptors, not
 * about its memory. Everything chosen below the ballot was learned then and is
 * in its (durable, fully decided) log, and it persisted every slot before
 * proposing it, so the next slot is free. If another replica was elected
 * meanwhile, the acceptors promised a higher ballot: the first accept or read
 * confirmation is refused and it steps down, as any deposed leader.
 */
export function quietRestore(q: QuietRecord, s: RestoreState): QuietRestore {
  if (s.fenced) return { kind: 'refused', why: 'fenced by a later epoch' };
  if (!s.member) return { kind: 'refused', why: 'not a member of the configuration in effect' };
  if (q.epoch !== s.epoch) return { kind: 'refused', why: `went quiet in epoch ${q.epoch}, now in ${s.epoch}` };
  if (!ballotEquals(q.ballot, s.promised)) return { kind: 'refused', why: `went quiet at ${formatBallot(q.ballot)}, has promised ${formatBallot(s.promised)} since` };
  if (s.decidedThrough !== s.lastSlot) return { kind: 'refused', why: `slots ${s.decidedThrough + 1}..${s.lastSlot} are not decided` };
  if (q.leaderId !== s.id) return { kind: 'follow', leaderId: q.leaderId };
  if (!s.electable) return { kind: 'refused', why: 'led before, but may no longer lead' };
  if (q.ballot.replicaId !== s.id) return { kind: 'refused', why: `led at ${formatBallot(q.ballot)}, a ballot of another replica` };
  return { kind: 'lead', ballot: q.ballot };
}

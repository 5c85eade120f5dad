import { type Ballot, type CompiledConfiguration, type Message, type ReplicaId, type ReplicaStatus, compileConfiguration, formatBallot } from '../src/core/index.ts';
import { SafetyViolation } from './safety.ts';

/**
 * What thrifty replication relies on, checked from outside the core on every
 * Ready a replica processes (whether thrifty replication is on or not):
 * every new accept batch a leader sends goes to followers that make a phase-2
 * quorum with the leader. A batch sent to fewer could only be decided once
 * its hedge or a retransmission reached more, which is a bug (the mutant
 * `thrifty-picks-too-few` is one).
 *
 * A batch is new when its first slot is above the last slot of the leader's
 * log before the Ready that sends it: retransmissions, hedges and catch-ups
 * resend slots it already had (a leader restored from quiet catches up
 * lagging followers with slots of an earlier life). While a configuration
 * change is pending the check is skipped: two configurations' quorums are in
 * play and the leader sends to every peer anyway.
 */
export class NearestQuorumCheck {
  private readonly id: ReplicaId;
  /** The last slot of the replica's log before the Ready being processed. */
  private logThrough = 0;
  private ballot: Ballot | null = null;
  private batch: { firstSlot: number; to: Set<ReplicaId> }[] = [];
  private compiled: { slot: number; config: CompiledConfiguration } | null = null;

  constructor(id: ReplicaId) {
    this.id = id;
  }

  /** A new life of the replica starts, its log holding slots through `lastSlot`. */
  begin(lastSlot: number): void {
    this.logThrough = lastSlot;
  }

  /** A message of the Ready being processed is about to leave. */
  beforeSend(m: Message): void {
    if (m.type !== 'accept' || m.from !== this.id || m.firstSlot <= this.logThrough) return;
    this.ballot = m.ballot;
    const fresh = this.batch.find((b) => b.firstSlot === m.firstSlot);
    if (fresh) fresh.to.add(m.to);
    else this.batch.push({ firstSlot: m.firstSlot, to: new Set([m.to]) });
  }

  /** The Ready is done: each new batch in it must have gone to a quorum (with the leader). */
  afterReady(statusOf: () => ReplicaStatus | null): void {
    const batches = this.batch;
    this.batch = [];
    const status = statusOf();
    if (status) this.logThrough = status.lastSlot;
    if (batches.length === 0) return;
    if (!status || status.role !== 'leader' || status.pendingConfiguration !== null) return;
    for (const b of batches) {
      const acks = new Set([this.id, ...b.to]);
      if (this.isQuorum(status, acks)) continue;
      throw new SafetyViolation(
        'nearest quorum',
        `thrifty replication: replica ${this.id} leading at ${formatBallot(this.ballot!)} sent the new accept batch at slot ${b.firstSlot} only to ${[...b.to].join(', ')}: with it, not a phase-2 quorum`,
      );
    }
  }

  private isQuorum(status: ReplicaStatus, acks: ReadonlySet<ReplicaId>): boolean {
    const o = status.quorumOverride;
    if (o) return o.voters.filter((v) => acks.has(v)).length >= o.voteNum;
    if (this.compiled?.slot !== status.configurationSlot) this.compiled = { slot: status.configurationSlot, config: compileConfiguration(status.configuration) };
    return this.compiled.config.quorum.isPhase2Quorum(acks);
  }
}

/**
 * Thrifty replication's stated lag, checked once faults are healed: a voter
 * (a trailing follower included) knows decided every slot its leader had
 * decided `boundTicks` ago (one heartbeat interval and one round trip, and
 * a tick for the order of a tick's events), provided the stream decides no
 * more than a catch-up window per round trip.
 */
export class TrailingLagCheck {
  private readonly boundTicks: number;
  private leader: ReplicaId | null = null;
  private since = 0;
  /** The leader's decided prefix at each tick since it leads. */
  private readonly history: number[] = [];

  constructor(boundTicks: number) {
    this.boundTicks = boundTicks;
  }

  /** One tick: the leader, its decided prefix, and every other voter's; what is wrong, or null. */
  observe(now: number, leader: ReplicaId | null, leaderDecided: number, voters: ReadonlyMap<ReplicaId, number>): string | null {
    if (leader !== this.leader) {
      // A new leader (or none): the bound holds from a bound's length after it took over.
      this.leader = leader;
      this.since = now;
      this.history.length = 0;
    }
    if (leader === null) return null;
    this.history.push(leaderDecided);
    const back = this.history.length - 1 - this.boundTicks;
    if (now - this.since < 2 * this.boundTicks || back < 0) return null;
    const owed = this.history[back]!;
    for (const [id, decided] of voters) {
      if (decided < owed) {
        return `thrifty replication: replica ${id} has decided through ${decided} at tick ${now}, but leader ${leader} had decided through ${owed} ${this.boundTicks} ticks earlier: beyond the stated lag of a trailing follower`;
      }
    }
    return null;
  }
}

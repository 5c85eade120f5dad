import type { ReplicaId } from './ballot.ts';

// Thrifty replication: a leader sends each accept batch only to its nearest
// quorum (the fewest, fastest followers that make a phase-2 quorum with it),
// chosen by the round trips it measures, and hedges: a batch not decided
// within a small multiple of the nearest quorum's usual round trip goes to
// every other follower at once. The others, the trailing followers, are
// caught up with the next heartbeat (the catch-up rides in the heartbeat's
// RPC), so each costs about one request per heartbeat interval instead of
// one per batch. Safety does not depend on any of it: who gets an accept
// only decides how soon a quorum answers.

/** How thrifty replication hedges. */
export interface ThriftyOptions {
  /** A batch not decided within this many times the nearest quorum's smoothed round trip goes to every follower. */
  readonly hedgeFactor: number;
  /**
   * ...but never sooner than this many ticks after it was sent. Two: a tick
   * boundary can fall between a batch and its answer however fast the answer
   * is, and the host counts the tick before it steps the answer.
   */
  readonly hedgeMinTicks: number;
}

export const DEFAULT_THRIFTY: ThriftyOptions = Object.freeze({ hedgeFactor: 2, hedgeMinTicks: 2 });

/** Weight of a new round-trip sample in the smoothed round trip (TCP's SRTT uses 1/8; thrifty wants to notice a slow follower sooner). */
const SAMPLE_WEIGHT = 0.25;
/** The nearest quorum changes only for followers this much faster (in smoothed round trips): no flapping between two about as fast. */
const STICKINESS = 0.75;

/** The followers a batch goes to first, and when to send it to the rest if it is not decided by then. */
export interface NearestQuorum {
  /** Sorted ascending. */
  readonly to: readonly ReplicaId[];
  /** Ticks after sending at which a batch still undecided goes to every other follower. */
  readonly hedgeAfterTicks: number;
}

/**
 * A leader's measurements of its followers and its current nearest quorum.
 * Round trips are in ticks, from the tick a message left to the tick its
 * answer arrived (the answer echoes it): whole ticks, but averaged over many
 * samples taken at every phase of a tick they converge on the true ordering.
 */
export class Thrifty {
  readonly options: ThriftyOptions;
  /** Smoothed round trip per follower, in (fractional) ticks. */
  private readonly srtt = new Map<ReplicaId, number>();
  /** Since when we have been waiting for any answer from a follower (none while it has answered everything we sent). */
  private readonly waitingSince = new Map<ReplicaId, number>();
  /** The last nearest quorum picked, while leading. */
  private current: readonly ReplicaId[] | null = null;

  constructor(options: ThriftyOptions = DEFAULT_THRIFTY) {
    if (!(options.hedgeFactor >= 1) || !Number.isInteger(options.hedgeMinTicks) || options.hedgeMinTicks < 1) {
      throw new RangeError(`thrifty: invalid options ${JSON.stringify(options)}`);
    }
    this.options = options;
  }

  /** A new leadership: nothing is outstanding and nobody is picked yet (measured round trips stay valid). */
  reset(): void {
    this.waitingSince.clear();
    this.current = null;
  }

  /** The nearest quorum of the last batch, or null (none picked yet, or the last batch went to everyone). */
  get nearest(): readonly ReplicaId[] | null {
    return this.current;
  }

  /** A message that asks for an answer left for `peer` at `nowTicks`. */
  sent(peer: ReplicaId, nowTicks: number): void {
    if (!this.waitingSince.has(peer)) this.waitingSince.set(peer, nowTicks);
  }

  /**
   * `peer` answered a message that left at `sentTick` (its echo; undefined
   * when it did not echo one). Samples beyond `maxTicks` (an echo from an
   * earlier life of this leader) are ignored.
   */
  answered(peer: ReplicaId, sentTick: number | undefined, nowTicks: number, maxTicks: number): void {
    this.waitingSince.delete(peer);
    if (sentTick === undefined) return;
    const sample = nowTicks - sentTick;
    if (sample < 0 || sample > maxTicks) return;
    const old = this.srtt.get(peer);
    this.srtt.set(peer, old === undefined ? sample : old + SAMPLE_WEIGHT * (sample - old));
  }

  /** The smoothed round trip to `peer` in ticks, if measured. */
  roundTrip(peer: ReplicaId): number | undefined {
    return this.srtt.get(peer);
  }

  /**
   * How long an answer from `peer` should take now: its smoothed round trip,
   * or longer while it has not answered for longer than that (a follower that
   * crashed or was cut off stops being nearest after one hedge delay).
   */
  private expected(peer: ReplicaId, nowTicks: number): number {
    const since = this.waitingSince.get(peer);
    const silent = since === undefined ? 0 : nowTicks - since;
    return Math.max(this.srtt.get(peer) ?? Number.POSITIVE_INFINITY, silent);
  }

  /**
   * The nearest quorum among `candidates` (the followers that can count
   * towards a decision): the fastest first, adding the next fastest until
   * `isQuorum` holds for them with the leader, then dropping any the rest do
   * not need; the previous pick wins ties and near-ties. Followers never
   * measured come last, by id. `extra` followers are added on top (they
   * must hold everything: a hand-over target, a higher priority to fail
   * back to). Null when no set of candidates makes a quorum (send to all).
   * `fallbackTicks` is the hedge delay while a picked follower has no
   * measured round trip yet.
   */
  pick(
    candidates: readonly ReplicaId[],
    extra: ReadonlySet<ReplicaId>,
    isQuorum: (followers: ReadonlySet<ReplicaId>) => boolean,
    nowTicks: number,
    fallbackTicks: number,
  ): NearestQuorum | null {
    const previous = new Set(this.current ?? []);
    const key = (id: ReplicaId): number => this.expected(id, nowTicks) * (previous.has(id) ? STICKINESS : 1);
    const order = [...candidates].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka !== kb) return ka < kb ? -1 : 1; // Infinity sorts last; two Infinities are equal
      if (previous.has(a) !== previous.has(b)) return previous.has(a) ? -1 : 1;
      return a - b;
    });
    const chosen = new Set<ReplicaId>();
    for (const id of order) {
      if (isQuorum(chosen)) break;
      chosen.add(id);
    }
    if (!isQuorum(chosen)) {
      this.current = null;
      return null;
    }
    // Greedy may have taken a follower the later ones made unnecessary (a required group): drop it, slowest first.
    for (const id of [...chosen].reverse()) {
      chosen.delete(id);
      if (!isQuorum(chosen)) chosen.add(id);
    }
    let slowest = 0;
    for (const id of chosen) slowest = Math.max(slowest, this.srtt.get(id) ?? Number.POSITIVE_INFINITY);
    const hedgeAfterTicks = Number.isFinite(slowest) ? Math.max(this.options.hedgeMinTicks, Math.ceil(this.options.hedgeFactor * slowest)) : fallbackTicks;
    const to = [...new Set([...chosen, ...extra])].sort((a, b) => a - b);
    this.current = to;
    return { to, hedgeAfterTicks };
  }

  /** The last batch went to every follower (thrifty is off for it: a configuration change, a new leadership). */
  sentToAll(): void {
    this.current = null;
  }
}

import type { ClientCommand, Configuration, ConfigCommand, Entry, Member } from '../core/index.ts';

/**
 * `leaders: follow` (docs/scaling.md): a shard's leader preference moves to
 * the region whose Workers write to it most.
 *
 * The preference is the configuration's priorities, so it is durable,
 * replicated state that the priority election already honours: a move is a
 * configuration change, decided in the shard's log, that gives the electable
 * replicas of the followed region the top priorities (the other regions keep
 * their order below). Once it is decided, fail-back hands leadership to the
 * caught-up replica of that region, and fail-back keeps it there; a plain
 * switchover would be undone by fail-back.
 *
 * Counting is the leader's alone and in memory: every decided write that
 * carries an `origin` (the router's region of the shard nearest the writer)
 * is counted while this replica leads, in tumbling windows of
 * `windowWrites` counted writes. At the end of a window the region with the
 * most writes is a **candidate** if it is not the preferred region (the
 * region of the top-priority electable replica), has an electable replica,
 * wrote at least half the window, and at least `ratio` times as many as the
 * preferred region did. The preference moves when the same candidate wins
 * `confirmWindows` windows in a row, and not within `cooldownTicks` of this
 * leadership's start or of the last move proposed. A new leader starts with
 * empty counts. Under an even mix no region ever has half the window and
 * twice another's for two windows running (binomially, about 3e-5 per pair
 * of 64-write windows), so nothing flaps.
 *
 * Pure, in ticks and counts: the ReadyRunner drives it as leader duties (it
 * tells it of leadership, applied entries and ticks) and proposes the
 * configuration change it says is due, through the core's checked
 * `changeConfiguration`; a refused change is simply tried again after the
 * next window that calls for it.
 */
export interface FollowOptions {
  /** Counted writes per window. */
  readonly windowWrites: number;
  /** The candidate region must write at least this many times as many as the preferred region in a window. */
  readonly ratio: number;
  /** Windows in a row the same candidate must win before the preference moves. */
  readonly confirmWindows: number;
  /** No move within this many ticks of this leadership's start or of the last move. */
  readonly cooldownTicks: number;
}

/** The defaults: 64-write windows, twice the preferred region's count, two windows in a row. */
export const DEFAULT_FOLLOW: Omit<FollowOptions, 'cooldownTicks'> = Object.freeze({ windowWrites: 64, ratio: 2, confirmWindows: 2 });

/** What the follower says about itself (the status view of a shard under `leaders: follow`). */
export interface FollowView {
  /** The region of the top-priority electable replica (the one followed now); null when no replica names a region. */
  readonly preferred: string | null;
  /** Counted writes of the current window, per origin region (only on the leader). */
  readonly counts: Readonly<Record<string, number>>;
  /** The candidate region and how many windows in a row it has won. */
  readonly candidate: string | null;
  readonly candidateWindows: number;
  /** Moves proposed in this leadership. */
  readonly moves: number;
}

/** The commands whose `origin` is counted: the keyspace writes a router sends. */
function originOf(e: Entry): string | undefined {
  const c = e.command;
  switch (c.kind) {
    case 'put':
    case 'delete':
    case 'txn':
    case 'txn-prepare':
      return c.origin;
    default:
      return undefined;
  }
}

function electable(m: Member): boolean {
  return m.role === 'electable';
}

/** The region of the highest-priority electable member (lowest id on a tie), or null. */
export function preferredRegion(configuration: Configuration): string | null {
  let best: Member | null = null;
  for (const m of configuration.members) {
    if (!electable(m)) continue;
    if (!best || m.priority > best.priority || (m.priority === best.priority && m.id < best.id)) best = m;
  }
  return best?.region ?? null;
}

/**
 * `configuration` with the electable replicas of `region` first: electable
 * members ranked by region (`region` first, then the others in the order of
 * their best priority now), then by their priority now, then id, get
 * priorities 10 x (their rank from the last), as `leaders: spread` assigns
 * them; other members keep theirs. Null when no electable member is in `region`.
 */
export function preferRegion(configuration: Configuration, region: string): Configuration | null {
  const members = configuration.members;
  if (!members.some((m) => electable(m) && m.region === region)) return null;
  const best = new Map<string, number>();
  for (const m of members) {
    if (!electable(m) || m.region === undefined) continue;
    best.set(m.region, Math.max(best.get(m.region) ?? -1, m.priority));
  }
  const regionRank = (r: string | undefined): number => (r === region ? Number.POSITIVE_INFINITY : r === undefined ? -1 : best.get(r)!);
  const ordered = members.filter(electable).sort((a, b) => regionRank(b.region) - regionRank(a.region) || (a.region ?? '').localeCompare(b.region ?? '') || b.priority - a.priority || a.id - b.id);
  const priority = new Map(ordered.map((m, n) => [m.id, 10 * (ordered.length - n)]));
  return { ...configuration, members: members.map((m) => (priority.has(m.id) ? { ...m, priority: priority.get(m.id)! } : m)) };
}

export class TrafficFollower {
  private readonly opts: FollowOptions;
  /** The configuration in effect now (the host reads it from the core). */
  private readonly configuration: () => Configuration;
  private readonly idPrefix: string;
  private leading = false;
  private counts = new Map<string, number>();
  private counted = 0;
  private candidate: string | null = null;
  private candidateWindows = 0;
  /** No move before this tick (this leadership's start or the last move, plus the cool-down). */
  private quietUntil = 0;
  /** A move decided to be due at the end of a window, proposed at the next `due`. */
  private pending: Configuration | null = null;
  private moves = 0;
  private sequence = 0;
  private lastNow = 0;

  constructor(opts: FollowOptions, configuration: () => Configuration, idPrefix: string) {
    if (!(opts.windowWrites >= 2) || !(opts.ratio >= 1) || !(opts.confirmWindows >= 1) || !(opts.cooldownTicks >= 0)) {
      throw new RangeError(`traffic follower: invalid options ${JSON.stringify(opts)}`);
    }
    this.opts = opts;
    this.configuration = configuration;
    this.idPrefix = idPrefix;
  }

  /** Leadership began or ended: either way counting starts over, and a new leadership waits out the cool-down. */
  leadership(leading: boolean): void {
    this.leading = leading;
    this.startWindow();
    this.candidate = null;
    this.candidateWindows = 0;
    this.pending = null;
    this.moves = 0;
    this.quietUntil = this.lastNow + this.opts.cooldownTicks;
  }

  applied(e: Entry, _result: unknown, now: number): void {
    this.lastNow = now;
    if (!this.leading) return;
    if (e.command.kind === 'config') {
      // Any decided change (ours or an operator's) is a new preference: judge it afresh.
      this.candidate = null;
      this.candidateWindows = 0;
      return;
    }
    const origin = originOf(e);
    if (origin === undefined) return;
    this.counts.set(origin, (this.counts.get(origin) ?? 0) + 1);
    this.counted += 1;
    if (this.counted >= this.opts.windowWrites) this.endWindow(now);
  }

  due(now: number): ClientCommand[] {
    this.lastNow = now;
    if (!this.leading || this.pending === null) return [];
    if (now < this.quietUntil) return [];
    const command: ConfigCommand = { kind: 'config', id: `${this.idPrefix}.follow.${++this.sequence}`, configuration: this.pending };
    this.pending = null;
    this.candidate = null;
    this.candidateWindows = 0;
    this.moves += 1;
    this.quietUntil = now + this.opts.cooldownTicks;
    return [command];
  }

  ticksUntilDue(now: number): number | null {
    if (!this.leading || this.pending === null) return null;
    return Math.max(0, this.quietUntil - now);
  }

  view(): FollowView {
    return {
      preferred: preferredRegion(this.configuration()),
      counts: Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b))),
      candidate: this.candidate,
      candidateWindows: this.candidateWindows,
      moves: this.moves,
    };
  }

  private startWindow(): void {
    this.counts = new Map();
    this.counted = 0;
  }

  private endWindow(now: number): void {
    const configuration = this.configuration();
    const preferred = preferredRegion(configuration);
    let top: string | null = null;
    let topCount = 0;
    let tied = false;
    for (const [region, n] of this.counts) {
      if (n > topCount) {
        top = region;
        topCount = n;
        tied = false;
      } else if (n === topCount) tied = true;
    }
    const preferredCount = preferred === null ? 0 : (this.counts.get(preferred) ?? 0);
    const clear = top !== null && !tied && top !== preferred && 2 * topCount >= this.opts.windowWrites && topCount >= this.opts.ratio * preferredCount;
    const next = clear ? preferRegion(configuration, top!) : null;
    this.startWindow();
    if (next === null) {
      this.candidate = null;
      this.candidateWindows = 0;
      return;
    }
    this.candidateWindows = this.candidate === top ? this.candidateWindows + 1 : 1;
    this.candidate = top;
    if (this.candidateWindows >= this.opts.confirmWindows && now >= this.quietUntil) this.pending = next;
  }
}

import type { ReplicaId } from './ballot.ts';

/**
 * What a member is allowed to do (its configured role; DCF calls these
 * roles FOLLOWER, LOGGER and PASSIVE):
 * - `electable`: votes, stores the log, applies it, and may lead (DCF FOLLOWER;
 *   not to be confused with a replica's runtime role `follower`, what it is
 *   doing now: following a leader);
 * - `logger`: votes and stores the log, but keeps no state machine and never leads;
 * - `passive`: stores and applies the log, but never votes and never leads (a read replica).
 */
export type MemberRole = 'electable' | 'logger' | 'passive';

/** The role with its article, for messages: `an electable member`, `a logger`, `a passive replica`. */
export function aRole(role: MemberRole): string {
  return role === 'electable' ? 'an electable member' : role === 'logger' ? 'a logger' : 'a passive replica';
}

/** One replica of a stream as configured. */
export interface Member {
  readonly id: ReplicaId;
  readonly role: MemberRole;
  /** Election preference: higher wins. */
  readonly priority: number;
  /** Voting weight in weighted quorums (1 by default). */
  readonly weight: number;
  /** Policy-majority group (DCF MAJORITY_GROUPS). */
  readonly group: number;
  /** Where it runs (a label the core only compares, for required regions and location hints). */
  readonly region?: string;
  /**
   * Which life of this replica the configuration means (absent: 1). A rebuilt
   * replica starts a new incarnation with empty storage; messages addressed to
   * an earlier one are ignored, so nobody can rely on what it forgot.
   */
  readonly incarnation?: number;
}

export function isVoter(m: Member): boolean {
  return m.role !== 'passive';
}

export function isElectable(m: Member): boolean {
  return m.role === 'electable';
}

/** A member with defaults for everything but its id: an electable voter. */
export function electableMember(id: ReplicaId, priority = 0): Member {
  return { id, role: 'electable', priority, weight: 1, group: 0 };
}

/** The configured members of a stream, with the lookups the protocol needs. */
export class Membership {
  readonly members: readonly Member[];
  private readonly byId: ReadonlyMap<ReplicaId, Member>;

  constructor(members: readonly Member[]) {
    const byId = new Map<ReplicaId, Member>();
    for (const m of members) {
      if (byId.has(m.id)) throw new RangeError(`membership: replica ${m.id} appears twice`);
      if (!Number.isInteger(m.id) || m.id < 1) throw new RangeError(`membership: bad replica id ${m.id}`);
      byId.set(m.id, m);
    }
    if (![...byId.values()].some(isElectable)) throw new RangeError('membership: no member can lead (at least one electable member, DCF follower, is needed)');
    this.members = [...members];
    this.byId = byId;
  }

  get(id: ReplicaId): Member | undefined {
    return this.byId.get(id);
  }

  has(id: ReplicaId): boolean {
    return this.byId.has(id);
  }

  get ids(): ReplicaId[] {
    return this.members.map((m) => m.id);
  }

  get voterIds(): ReplicaId[] {
    return this.members.filter(isVoter).map((m) => m.id);
  }

  priorityOf(id: ReplicaId): number {
    return this.byId.get(id)?.priority ?? 0;
  }

  /** How many electable members outrank `id` by priority (0 for the highest). */
  rankOf(id: ReplicaId): number {
    const p = this.priorityOf(id);
    return this.members.filter((m) => isElectable(m) && m.priority > p).length;
  }
}

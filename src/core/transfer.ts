import type { ReplicaId } from './ballot.ts';
import { type Member, aRole, isElectable } from './membership.ts';

// Leadership transfer (switchover, step-down) and fail-back (DCF priority
// election): whom a leader hands over to, and the hand-over in progress.

/** A hand-over in progress: proposals wait until it completes or is abandoned. */
export interface Transfer {
  readonly target: ReplicaId;
  readonly sinceTick: number;
  /** Ordered by an operator (switchover, step-down): the new leader does not fail back automatically. */
  readonly manual: boolean;
  /** Abandoned (writes resume) this many ticks after it began. */
  readonly timeoutTicks: number;
  /** The target was told to campaign (timeout-now sent). */
  sent: boolean;
}

/** What fail-back depends on besides the members. */
export interface FailBackPolicy {
  /** Priority election on, with fail-back (PriorityOptions). */
  readonly enabled: boolean;
  /** An operator put this leader in place: fail-back waits for the next election (or configuration change). */
  readonly suppressed: boolean;
}

/**
 * Fail-back: the reachable, caught-up, electable replica of highest priority
 * above ours (`self`), or null. `caughtUp(id)`: live and holding every decided
 * slot (progress.ts).
 */
export function failBackTarget(policy: FailBackPolicy, members: readonly Member[], self: ReplicaId, selfPriority: number, caughtUp: (id: ReplicaId) => boolean): ReplicaId | null {
  if (!policy.enabled || policy.suppressed) return null;
  let best: Member | null = null;
  for (const m of members) {
    if (m.id === self || !isElectable(m) || m.priority <= selfPriority) continue;
    if (!caughtUp(m.id)) continue;
    if (!best || m.priority > best.priority) best = m;
  }
  return best?.id ?? null;
}

/** Step-down: the live, electable replica of highest priority other than `self`, or null (nobody could take over). */
export function stepDownTarget(members: readonly Member[], self: ReplicaId, isLive: (id: ReplicaId) => boolean): ReplicaId | null {
  let best: Member | null = null;
  for (const m of members) {
    if (m.id === self || !isElectable(m)) continue;
    if (!isLive(m.id)) continue;
    if (!best || m.priority > best.priority) best = m;
  }
  return best?.id ?? null;
}

/** Why `target` cannot be handed leadership by `self`, or null if it can. */
export function transferRefusal(target: ReplicaId, member: Member | undefined, self: ReplicaId): string | null {
  if (!member) return `replica ${target} is not a member of this stream`;
  if (target === self) return `replica ${target} already leads`;
  if (!isElectable(member)) return `replica ${target} is ${aRole(member.role)} and can never lead`;
  return null;
}

/**
 * A leader's hand-over: it stops taking new writes, waits until nothing is in
 * flight and the target holds everything it proposed, then tells the target to
 * campaign at once (timeout-now). Abandoned, and writes resume, after its
 * timeout.
 */
export class LeadershipTransfer {
  private current: Transfer | null = null;
  /** An operator put this leader in place: automatic fail-back waits for the next election (or configuration change). */
  failbackSuppressed = false;

  get inProgress(): Transfer | null {
    return this.current;
  }

  start(target: ReplicaId, manual: boolean, timeoutTicks: number, nowTicks: number): Transfer {
    this.current = { target, sinceTick: nowTicks, sent: false, manual, timeoutTicks };
    return this.current;
  }

  /** Writes resume: the hand-over completed, timed out, or leadership ended. */
  clear(): void {
    this.current = null;
  }

  /** The hand-over ran out of time without the target taking over: true if it was abandoned now. */
  expire(nowTicks: number): boolean {
    const t = this.current;
    if (!t || nowTicks - t.sinceTick < t.timeoutTicks) return false;
    this.current = null;
    return true;
  }
}

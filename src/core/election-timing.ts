import type { ReplicaId } from './ballot.ts';
import { type Member, isElectable } from './membership.ts';
import { type Rng, randomBelow } from './rng.ts';

/**
 * A follower's election timeout under priority election, in ticks:
 * `base`, plus half a base per electable replica of higher priority that may
 * still be alive, plus a random part.
 *
 * - The leader the follower watches does not count: when the timer fires, it
 *   is that leader that went silent, so the next replica in priority order
 *   campaigns first, one stagger step earlier than if it waited for the dead
 *   leader's turn. (If the leader is alive and only this follower lost it,
 *   pre-vote fails: the others still hear it.)
 * - The random part breaks ties between replicas that could time out
 *   together. With a priority no other candidate shares, the stagger already
 *   separates it from every other candidate, so an eighth of a base is enough
 *   (`[base + k*base/2, base + k*base/2 + base/8)` for rank k: the steps stay
 *   disjoint, and the next in line campaigns soon after `base`, which is what
 *   keeps failover within election timeout + 2 heartbeats); with a shared
 *   priority it is a whole base, as without priorities.
 */
export function priorityElectionTicks(base: number, members: readonly Member[], self: Member, silentLeader: ReplicaId | null, rng: Rng): number {
  const step = Math.ceil(base / 2);
  let rank = 0;
  let shared = false;
  for (const m of members) {
    if (m.id === self.id || m.id === silentLeader || !isElectable(m)) continue;
    if (m.priority > self.priority) rank += 1;
    else if (m.priority === self.priority) shared = true;
  }
  return base + rank * step + randomBelow(rng, shared ? base : Math.ceil(base / 8));
}

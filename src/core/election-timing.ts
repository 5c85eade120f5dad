import type { ReplicaId } from './ballot.ts';
import { type Member, isElectable } from './membership.ts';
import { type Rng, randomBelow } from './rng.ts';

/**
 * A follower's election timeout under priority election, in ticks: `base`,
 * plus half a base per electable replica whose turn comes before ours, plus a
 * random eighth of a base.
 *
 * - Turns follow priority, highest first. Among replicas of equal priority
 *   they go round by id, starting after the silent leader (the one this
 *   follower watches), so the replica after it campaigns first - a turn taken
 *   by a deterministic order rather than by a random draw over a whole base,
 *   which kept failover beyond election timeout + 2 heartbeats with equal
 *   priorities. With no leader known, the lowest id goes first.
 * - The leader the follower watches does not count: when the timer fires, it
 *   is that leader that went silent, so the next in turn campaigns one step
 *   earlier than if it waited for the dead leader's turn. (If the leader is
 *   alive and only this follower lost it, pre-vote fails: the others still
 *   hear it.)
 * - The steps `[base + k*base/2, base + k*base/2 + base/8)` for turn k are
 *   disjoint, so two replicas that agree on the silent leader never campaign
 *   together. Replicas that disagree on it may; their pre-votes and ballots
 *   sort it out, and the next timeouts (no leader known) follow id order.
 * - A replica whose turn comes first but which cannot win (it knows less than
 *   a voter) fails its pre-vote and waits its turn again; the next in turn
 *   campaigns half a base later.
 */
export function priorityElectionTicks(base: number, members: readonly Member[], self: Member, silentLeader: ReplicaId | null, rng: Rng): number {
  const step = Math.ceil(base / 2);
  let rank = 0;
  for (const m of members) {
    if (m.id === self.id || m.id === silentLeader || !isElectable(m)) continue;
    if (m.priority > self.priority || (m.priority === self.priority && turnOf(m.id, silentLeader) < turnOf(self.id, silentLeader))) rank += 1;
  }
  return base + rank * step + randomBelow(rng, Math.ceil(base / 8));
}

/** Position in the round of turns among equal priorities: ids after `after` first, in order, then the rest. */
function turnOf(id: ReplicaId, after: ReplicaId | null): number {
  if (after === null || id > after) return id;
  return id + Number.MAX_SAFE_INTEGER / 2;
}

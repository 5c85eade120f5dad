import { type PriorityOptions, type ReplicaId, SeededRng } from '../src/core/index.ts';
import { type ClusterOptions, SimCluster, type SimMember } from './cluster.ts';

/** Shared pieces of the hand-written cluster stories. */

/** DEFAULT_TIMING.electionTimeoutTicks: story bounds are stated in election timeouts. */
export const ELECTION = 10;

export const PRIORITY: PriorityOptions = { enabled: true, failback: true, minLeaderTenureTicks: 0 };

/** An electable voter with defaults, adjusted by `extra`. */
export function member(id: ReplicaId, extra: Partial<SimMember> = {}): SimMember {
  return { id, role: 'electable', priority: 0, weight: 1, group: 0, ...extra };
}

/** A cluster of `members` with priority election and fail-back on. */
export function storyCluster(members: SimMember[], seed: number, extra: Partial<ClusterOptions> = {}): SimCluster {
  return new SimCluster({ replicas: members, rng: new SeededRng(seed), priority: PRIORITY, ...extra });
}

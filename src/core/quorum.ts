import type { ReplicaId } from './ballot.ts';

/**
 * Which sets of acceptors are enough. Phase-1 quorums (promises, elections) and
 * phase-2 quorums (accepts, read confirmation, check-quorum) are asked about
 * separately: every phase-1 quorum must intersect every phase-2 quorum, and
 * that is all Paxos needs. Policy majorities and flexible quorums are further
 * implementations of this interface; the protocol code never counts heads itself.
 */
export interface QuorumPolicy {
  /** The acceptors whose answers count; others are ignored by both predicates. */
  readonly voters: readonly ReplicaId[];
  isPhase1Quorum(acceptors: ReadonlySet<ReplicaId>): boolean;
  isPhase2Quorum(acceptors: ReadonlySet<ReplicaId>): boolean;
}

/** Classic Paxos: more than half of the voters, for both phases. */
export function majorityQuorum(voters: readonly ReplicaId[]): QuorumPolicy {
  const unique = new Set(voters);
  if (unique.size !== voters.length) throw new RangeError(`majorityQuorum: duplicate voter in [${voters.join(', ')}]`);
  if (unique.size === 0) throw new RangeError('majorityQuorum: no voters');
  const needed = Math.floor(unique.size / 2) + 1;
  const count = (acceptors: ReadonlySet<ReplicaId>): number => {
    let n = 0;
    for (const id of acceptors) if (unique.has(id)) n += 1;
    return n;
  };
  return {
    voters: [...voters],
    isPhase1Quorum: (acceptors) => count(acceptors) >= needed,
    isPhase2Quorum: (acceptors) => count(acceptors) >= needed,
  };
}

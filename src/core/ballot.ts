/**
 * A ballot orders proposers: `(round, replicaId)`, compared by round first and
 * replica id second, so two replicas can never use the same ballot. Round 0 with
 * replica 0 is the zero ballot that nobody leads with.
 */
export interface Ballot {
  readonly round: number;
  readonly replicaId: number;
}

export type ReplicaId = number;

export const ZERO_BALLOT: Ballot = Object.freeze({ round: 0, replicaId: 0 });

/** Negative when `a` orders before `b`, zero when equal, positive after. */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.replicaId !== b.replicaId) return a.replicaId < b.replicaId ? -1 : 1;
  return 0;
}

export function ballotEquals(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.replicaId === b.replicaId;
}

export function ballotGreater(a: Ballot, b: Ballot): boolean {
  return compareBallots(a, b) > 0;
}

export function ballotAtLeast(a: Ballot, b: Ballot): boolean {
  return compareBallots(a, b) >= 0;
}

export function maxBallot(a: Ballot, b: Ballot): Ballot {
  return compareBallots(a, b) >= 0 ? a : b;
}

export function formatBallot(b: Ballot): string {
  return `${b.round}.${b.replicaId}`;
}

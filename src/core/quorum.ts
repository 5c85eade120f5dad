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
  if (new Set(voters).size !== voters.length) throw new RangeError(`majorityQuorum: duplicate voter in [${voters.join(', ')}]`);
  if (voters.length === 0) throw new RangeError('majorityQuorum: no voters');
  return weightedQuorum({ voters: voters.map((id) => ({ id, weight: 1 })) });
}

/**
 * Weighted quorums with required sets (DCF policy majority) and optional
 * flexible sizes:
 * - phase 2 needs acceptors whose weights add up to `phase2Weight` (default:
 *   more than half of the total) AND at least one acceptor of every set in
 *   `required` (a group, or the replicas of a region);
 * - phase 1 needs `phase1Weight` (default: more than half of the total).
 * Safety needs phase1Weight + phase2Weight > total weight, so that any two
 * quorums of different phases share an acceptor; the required sets only make
 * phase 2 stricter, which keeps that true.
 */
export interface WeightedQuorumSpec {
  readonly voters: readonly { readonly id: ReplicaId; readonly weight: number }[];
  readonly required?: readonly (readonly ReplicaId[])[];
  readonly phase1Weight?: number;
  readonly phase2Weight?: number;
  /** Names for the required sets, for explanations ("group 2", "region weur"). */
  readonly requiredNames?: readonly string[];
}

/** A quorum policy that can also say why a set of acceptors is not a phase-2 quorum. */
export interface ExplainingQuorumPolicy extends QuorumPolicy {
  readonly totalWeight: number;
  readonly phase1Weight: number;
  readonly phase2Weight: number;
  /** Null when `acceptors` is a phase-2 quorum; otherwise what is missing. */
  explainPhase2(acceptors: ReadonlySet<ReplicaId>): string | null;
}

export function weightedQuorum(spec: WeightedQuorumSpec): ExplainingQuorumPolicy {
  const weights = new Map<ReplicaId, number>();
  for (const v of spec.voters) {
    if (weights.has(v.id)) throw new RangeError(`quorum: duplicate voter ${v.id}`);
    if (!Number.isInteger(v.weight) || v.weight < 1) throw new RangeError(`quorum: voter ${v.id} has weight ${v.weight}; weights are integers of 1 or more`);
    weights.set(v.id, v.weight);
  }
  if (weights.size === 0) throw new RangeError('quorum: no voters');
  const total = [...weights.values()].reduce((a, b) => a + b, 0);
  const majority = Math.floor(total / 2) + 1;
  const q1 = spec.phase1Weight ?? majority;
  const q2 = spec.phase2Weight ?? majority;
  for (const [name, q] of [['phase1Weight', q1], ['phase2Weight', q2]] as const) {
    if (!Number.isInteger(q) || q < 1 || q > total) throw new RangeError(`quorum: ${name} is ${q}; it must be between 1 and the total weight ${total}`);
  }
  if (q1 + q2 <= total) {
    throw new RangeError(`quorum: phase1Weight ${q1} + phase2Weight ${q2} must exceed the total weight ${total}, or two quorums could miss each other`);
  }
  const required = (spec.required ?? []).map((set, i) => {
    const voters = set.filter((id) => weights.has(id));
    const name = spec.requiredNames?.[i] ?? `required set ${i + 1}`;
    if (voters.length === 0) throw new RangeError(`quorum: ${name} has no voter, so nothing could ever be decided`);
    return { name, voters: new Set(voters) };
  });
  const weightOf = (acceptors: ReadonlySet<ReplicaId>): number => {
    let w = 0;
    for (const id of acceptors) w += weights.get(id) ?? 0;
    return w;
  };
  const explainPhase2 = (acceptors: ReadonlySet<ReplicaId>): string | null => {
    const w = weightOf(acceptors);
    const missing = required.filter((r) => ![...r.voters].some((id) => acceptors.has(id)));
    const problems: string[] = [];
    if (w < q2) problems.push(`acceptors with weight ${w} of the ${q2} needed`);
    for (const r of missing) problems.push(`no acceptor of ${r.name} (replicas ${[...r.voters].join(', ')})`);
    return problems.length === 0 ? null : problems.join('; ');
  };
  return {
    voters: [...weights.keys()],
    totalWeight: total,
    phase1Weight: q1,
    phase2Weight: q2,
    isPhase1Quorum: (acceptors) => weightOf(acceptors) >= q1,
    isPhase2Quorum: (acceptors) => {
      if (weightOf(acceptors) < q2) return false;
      for (const r of required) {
        let hit = false;
        for (const id of r.voters) {
          if (acceptors.has(id)) {
            hit = true;
            break;
          }
        }
        if (!hit) return false;
      }
      return true;
    },
    explainPhase2,
  };
}

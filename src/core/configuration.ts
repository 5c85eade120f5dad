import type { ReplicaId } from './ballot.ts';
import { type Member, Membership, isElectable, isVoter } from './membership.ts';
import { type ExplainingQuorumPolicy, weightedQuorum } from './quorum.ts';

/** What a decision needs beyond weights (DCF policy majority), and flexible phase sizes. */
export interface PolicySpec {
  /** A decision needs an accepting voter of each of these groups... */
  readonly requireGroups?: readonly number[];
  /** ...and of each of these regions. */
  readonly requireRegions?: readonly string[];
  /** Weight a phase-1 quorum (elections) needs; default more than half the total. */
  readonly phase1Weight?: number;
  /** Weight a phase-2 quorum (decisions) needs; default more than half the total. */
  readonly phase2Weight?: number;
}

/**
 * A stream's configuration: who the replicas are (roles, priorities, weights,
 * groups, regions) and what a quorum needs. It starts from the host's
 * bootstrap configuration and changes only through `config` commands in the
 * log, so every replica agrees on it slot by slot.
 */
export interface Configuration {
  readonly members: readonly Member[];
  readonly policy: PolicySpec;
}

/** The configuration in effect after `slot` (0: the bootstrap configuration). */
export interface ConfigurationAt {
  readonly slot: number;
  readonly configuration: Configuration;
}

/** A configuration with its lookups and quorum policy built. */
export interface CompiledConfiguration {
  readonly configuration: Configuration;
  readonly membership: Membership;
  readonly quorum: ExplainingQuorumPolicy;
}

/** Build the membership and quorum policy; throws RangeError naming what makes the configuration unusable. */
export function compileConfiguration(configuration: Configuration): CompiledConfiguration {
  const membership = new Membership(configuration.members);
  const members = configuration.members;
  const required: ReplicaId[][] = [];
  const names: string[] = [];
  for (const g of configuration.policy.requireGroups ?? []) {
    required.push(members.filter((m) => m.group === g).map((m) => m.id));
    names.push(`group ${g}`);
  }
  for (const region of configuration.policy.requireRegions ?? []) {
    required.push(members.filter((m) => m.region === region).map((m) => m.id));
    names.push(`region ${region}`);
  }
  const voters = members.filter(isVoter);
  if (!voters.some(isElectable)) throw new RangeError('membership: no voting member can lead (at least one electable member, DCF follower, is needed)');
  const p = configuration.policy;
  const quorum = weightedQuorum({
    voters: voters.map((m) => ({ id: m.id, weight: m.weight })),
    required,
    requiredNames: names,
    ...(p.phase1Weight !== undefined ? { phase1Weight: p.phase1Weight } : {}),
    ...(p.phase2Weight !== undefined ? { phase2Weight: p.phase2Weight } : {}),
  });
  return { configuration, membership, quorum };
}

/** Equal electable voters deciding by plain majority. */
export function majorityConfiguration(ids: readonly ReplicaId[]): Configuration {
  return { members: ids.map((id) => ({ id, role: 'electable', priority: 0, weight: 1, group: 0 })), policy: {} };
}

/** A canonical string for a configuration: equal configurations give equal keys (whatever names its roles carry). */
export function configurationKey(c: { readonly members: readonly (Omit<Member, 'role'> & { readonly role: string })[]; readonly policy: PolicySpec }): string {
  const members = [...c.members]
    .sort((a, b) => a.id - b.id)
    .map((m) => [m.id, m.role, m.priority, m.weight, m.group, m.region ?? null, m.incarnation ?? 1]);
  const p = c.policy;
  return JSON.stringify([
    members,
    [...(p.requireGroups ?? [])].sort((a, b) => a - b),
    [...(p.requireRegions ?? [])].sort(),
    p.phase1Weight ?? null,
    p.phase2Weight ?? null,
  ]);
}

/** One line for operators: what changes from `a` to `b`. */
export function describeChange(a: Configuration, b: Configuration): string {
  const out: string[] = [];
  const before = new Map(a.members.map((m) => [m.id, m]));
  const after = new Map(b.members.map((m) => [m.id, m]));
  for (const m of b.members) {
    const old = before.get(m.id);
    if (!old) out.push(`add ${m.id} as ${m.role}`);
    else {
      const diffs: string[] = [];
      for (const k of ['role', 'priority', 'weight', 'group', 'region', 'incarnation'] as const) {
        if (old[k] !== m[k]) diffs.push(`${k} ${String(old[k])} -> ${String(m[k])}`);
      }
      if (diffs.length > 0) out.push(`${m.id}: ${diffs.join(', ')}`);
    }
  }
  for (const m of a.members) if (!after.has(m.id)) out.push(`remove ${m.id}`);
  if (JSON.stringify(a.policy) !== JSON.stringify(b.policy)) out.push('policy changes');
  return out.length === 0 ? 'no change' : out.join('; ');
}

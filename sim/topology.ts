import {
  type Member,
  type PriorityOptions,
  type ReplicaId,
  type Rng,
  chance,
  isElectable,
  isVoter,
  randomBelow,
  randomInt,
  compileConfiguration,
} from '../src/core/index.ts';
import { REGIONS, type Region, regionRttMs } from '../src/host/regions.ts';
import type { SimMember, SimPolicy } from './cluster.ts';

/** Who the replicas are and how they decide: roles, priorities, weights, groups, regions, policy. */
export interface Topology {
  readonly members: readonly SimMember[];
  readonly policy: SimPolicy;
  readonly priority: PriorityOptions;
  /** Milliseconds per tick; with `wan`, messages take half their regions' round trip. */
  readonly tickMs: number;
  readonly wan: boolean;
}

/** The longest one-way delay between two members, in ticks (0 without WAN latencies). */
export function maxBaseDelayTicks(t: Topology): number {
  if (!t.wan) return 0;
  let max = 0;
  for (const a of t.members) {
    for (const b of t.members) {
      if (a.region && b.region) max = Math.max(max, Math.round(regionRttMs(a.region, b.region) / 2 / t.tickMs));
    }
  }
  return max;
}

/**
 * Draw a topology from the seed. Half the runs are plain (equal followers,
 * majorities); the rest mix loggers and passives, priorities with and without
 * ties, weights, required groups, flexible quorum sizes, and real inter-region
 * latencies. Every drawn configuration is one the product would accept.
 */
export function drawTopology(rng: Rng, replicas: 3 | 5, plain: boolean, tenureTicksMax: number): Topology {
  const ids = Array.from({ length: replicas }, (_, i) => i + 1);
  const wan = !plain && chance(rng, 0.5);
  const regions: Region[] = ids.map(() => REGIONS[randomBelow(rng, REGIONS.length)]!);
  const groupCount = randomInt(rng, 1, 3);
  const members: SimMember[] = ids.map((id, i) => {
    const role = plain || i < 2 ? 'electable' : (['electable', 'logger', 'passive'] as const)[randomBelow(rng, 3)]!;
    return {
      id,
      role,
      priority: plain ? 0 : randomBelow(rng, 4),
      weight: plain || !chance(rng, 0.3) ? 1 : randomInt(rng, 1, 3),
      group: randomBelow(rng, groupCount),
      ...(wan ? { region: regions[i]! } : {}),
    };
  });
  const voters = members.filter(isVoter);
  const total = voters.reduce((a, m) => a + m.weight, 0);
  let policy: SimPolicy = {};
  if (!plain && chance(rng, 0.4)) {
    // Require one or two groups that have a voter.
    const voterGroups = [...new Set(voters.map((m) => m.group))];
    const want = Math.min(voterGroups.length, randomInt(rng, 1, 2));
    const picked = voterGroups.slice(0, want);
    policy = { requireGroups: picked };
  }
  if (!plain && chance(rng, 0.25)) {
    const phase2Weight = randomInt(rng, 1, total);
    const phase1Weight = Math.min(total, total - phase2Weight + 1 + randomBelow(rng, 2));
    policy = { ...policy, phase1Weight, phase2Weight };
  }
  compileConfiguration({ members, policy }); // throws if invalid
  if (!members.some(isElectable)) throw new Error('topology without a leader candidate');
  const priority: PriorityOptions = plain
    ? { enabled: false, failback: false, minLeaderTenureTicks: 0 }
    : {
        enabled: chance(rng, 0.8),
        failback: chance(rng, 0.8),
        minLeaderTenureTicks: chance(rng, 0.2) ? randomInt(rng, 1, tenureTicksMax) : 0,
      };
  return { members, policy, priority, tickMs: 20, wan };
}

export function describeTopology(t: Topology): string {
  const members = t.members
    .map((m) => `${m.id}:${m.role}${m.priority ? `/p${m.priority}` : ''}${m.weight !== 1 ? `/w${m.weight}` : ''}/g${m.group}${m.region ? `@${m.region}` : ''}`)
    .join(' ');
  const policy = [
    t.policy.requireGroups?.length ? `require group ${t.policy.requireGroups.join(', ')}` : '',
    t.policy.requireRegions?.length ? `require region ${t.policy.requireRegions.join(', ')}` : '',
    t.policy.phase2Weight ? `q1=${t.policy.phase1Weight} q2=${t.policy.phase2Weight}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const prio = t.priority.enabled ? `priority on${t.priority.failback ? ' with fail-back' : ''}${t.priority.minLeaderTenureTicks ? ` tenure=${t.priority.minLeaderTenureTicks}` : ''}` : 'priority off';
  return `${members} | ${policy || 'majority'} | ${prio}${t.wan ? ' | WAN latencies' : ''}`;
}

/** The electable members of highest priority: where a settled, healthy stream's leader must be. */
export function topPriority(t: { readonly members: readonly Member[] }): ReplicaId[] {
  const electable = t.members.filter(isElectable);
  const top = Math.max(...electable.map((m) => m.priority));
  return electable.filter((m) => m.priority === top).map((m) => m.id);
}

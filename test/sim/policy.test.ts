import { describe, expect, it } from 'vitest';
import type { ReplicaId } from '../../src/core/index.ts';
import type { KvResult } from '../../src/kv/index.ts';
import type { SimCluster, SimMember } from '../../sim/cluster.ts';
import { ELECTION, PRIORITY, member, storyCluster } from '../../sim/stories.ts';
import { runSimulation } from '../../sim/simulation.ts';
import type { Topology } from '../../sim/topology.ts';

// Stories about DCF's election and majority policies, each checked by the
// simulator's safety checker after every Ready (which also verifies that every
// decided value was persisted by a phase-2 quorum of the policy).


const cluster = storyCluster;

function leaderAfter(c: SimCluster, ticks: number, what: string): ReplicaId {
  c.runUntil(() => c.leaderId() !== null, ticks, what);
  return c.leaderId()!;
}

/** A put through the leader: the result once applied, or null if not decided within `ticks`. */
function write(c: SimCluster, key: string, value: string, ticks = 30 * ELECTION): KvResult | null {
  return c.write(key, value, ticks);
}

describe('cluster: priority', () => {
  const prioritized = (): SimMember[] => [member(1, { priority: 3 }), member(2, { priority: 2 }), member(3, { priority: 1 })];

  it('cluster: priority: lower priority never leads while a higher-priority caught-up replica is reachable', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const c = cluster(prioritized(), seed);
      // Settle: the highest priority leads (staggered timeouts, pre-vote deference, hand-over).
      c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
      for (let i = 0; i < 20; i++) {
        expect(write(c, `k${i}`, `v${i}`), `seed ${seed}`).not.toBeNull();
        expect(c.leaderId()).toBe(1);
      }
      // Replica 1 goes: 2 outranks 3, so 2 stands in.
      c.crash(1);
      expect(leaderAfter(c, 10 * ELECTION, 'a stand-in')).toBe(2);
      const during = write(c, 'during', 'x');
      expect(during).not.toBeNull();
      // Replica 1 returns: once caught up, leadership goes back to it, and nothing is lost.
      c.restart(1);
      c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'fail-back to replica 1');
      c.runUntil(() => c.converged(), 10 * ELECTION, 'convergence');
      for (const id of c.ids) {
        expect(c.replica(id).sm.get('during')?.value).toBe('x');
        expect(c.replica(id).sm.get('k19')?.value).toBe('v19');
      }
    }
  });

  it('cluster: priority: with fail-back off the stand-in keeps leading when the higher priority returns', () => {
    const c = cluster(prioritized(), 6, { priority: { ...PRIORITY, failback: false } });
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    c.crash(1);
    expect(leaderAfter(c, 10 * ELECTION, 'a stand-in')).toBe(2);
    c.restart(1);
    c.runTicks(20 * ELECTION);
    expect(c.leaderId()).toBe(2);
  });

  it('cluster: priority: among equal priorities the most up-to-date replica wins', () => {
    for (const seed of [7, 8, 9]) {
      const c = cluster([member(1), member(2), member(3)], seed);
      const first = leaderAfter(c, 10 * ELECTION, 'a leader');
      const [a, b] = c.ids.filter((id) => id !== first) as [ReplicaId, ReplicaId];
      c.crash(b); // b misses the next writes
      for (let i = 0; i < 10; i++) expect(write(c, `k${i}`, `v${i}`)).not.toBeNull();
      c.crash(first);
      c.restart(b);
      // Only a and b are up: b is behind, so a must win (b grants it, a refuses b).
      expect(leaderAfter(c, 20 * ELECTION, 'a new leader')).toBe(a);
    }
  });

  it('cluster: priority: a minimum leader tenure keeps followers from starting an election', () => {
    const tenure = 8 * ELECTION;
    const c = cluster([member(1), member(2), member(3)], 10, { priority: { ...PRIORITY, minLeaderTenureTicks: tenure } });
    const first = leaderAfter(c, 10 * ELECTION, 'a leader');
    const electedAt = c.now;
    c.crash(first);
    c.runUntil(() => c.leaderId() !== null, tenure + 10 * ELECTION, 'a new leader after the tenure');
    expect(c.now - electedAt).toBeGreaterThanOrEqual(tenure);
  });
});

describe('cluster: policy', () => {
  // Replicas 1 and 2 are group 1 (say, region weur); 3, 4 and 5 are group 2. The policy requires group 1.
  const grouped = (): SimMember[] => [
    member(1, { group: 1, priority: 1 }),
    member(2, { group: 1, priority: 1 }),
    member(3, { group: 2 }),
    member(4, { group: 2 }),
    member(5, { group: 2 }),
  ];
  const requireGroup1 = { requireGroups: [1] };

  it('cluster: policy: a write is never decided without the required group even when a plain majority accepted it', () => {
    const c = cluster(grouped(), 11, { policy: requireGroup1 });
    leaderAfter(c, 10 * ELECTION, 'a leader');
    expect(write(c, 'before', '1')).not.toBeNull();
    c.crash(1);
    c.crash(2);
    // 3, 4 and 5 are a majority and elect a leader, but cannot decide anything.
    const leader = leaderAfter(c, 20 * ELECTION, 'a leader among 3, 4, 5');
    expect([3, 4, 5]).toContain(leader);
    expect(write(c, 'blocked', '2', 20 * ELECTION)).toBeNull();
    expect(c.replica(leader).core!.status().writesBlocked).toBe('no acceptor of group 1 (replicas 1, 2)');
    for (const id of [3, 4, 5]) expect(c.replica(id).sm.get('blocked')).toBeUndefined();
  });

  it('cluster: policy: losing the whole required region blocks writes and loses nothing', () => {
    const c = cluster(grouped(), 12, { policy: requireGroup1 });
    leaderAfter(c, 10 * ELECTION, 'a leader');
    const acknowledged = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const r = write(c, `k${i}`, `v${i}`);
      if (r?.kind !== 'put' || !r.ok) throw new Error('write failed');
      acknowledged.set(`k${i}`, r.revision);
    }
    c.crash(1);
    c.crash(2);
    expect(write(c, 'while-down', 'x', 20 * ELECTION)).toBeNull();
    c.restart(1);
    c.restart(2);
    expect(write(c, 'after', 'y')).not.toBeNull();
    c.runUntil(() => c.converged(), 20 * ELECTION, 'convergence');
    for (const id of c.ids) {
      for (const [key, revision] of acknowledged) expect(c.replica(id).sm.get(key)?.revision).toBe(revision);
    }
  });

  it('cluster: flexible: q1+q2>N stays linearizable under partitions', () => {
    // Five equal voters, phase 2 needs two, phase 1 needs four: the leader commits with its nearest replica.
    const topology = {
      members: [1, 2, 3, 4, 5].map((id) => member(id)),
      policy: { phase1Weight: 4, phase2Weight: 2 },
      priority: { enabled: false, failback: false, minLeaderTenureTicks: 0 },
      tickMs: 20,
      wan: false,
    };
    for (let seed = 1; seed <= 30; seed++) {
      const r = runSimulation({ seed, topology });
      expect(r.ok, r.ok ? '' : `${r.check}: ${r.message} (seed ${seed})`).toBe(true);
    }
  });
});

describe('cluster: roles', () => {
  it('cluster: roles: a logger is never elected and a passive never votes', () => {
    // Voters: 1 (follower) and loggers 2, 3; 4 is passive. Only 1 can lead.
    const members = [member(1), member(2, { role: 'logger' }), member(3, { role: 'logger' }), member(4, { role: 'passive' })];
    const c = cluster(members, 13);
    expect(leaderAfter(c, 10 * ELECTION, 'a leader')).toBe(1);
    for (let i = 0; i < 5; i++) expect(write(c, `k${i}`, `v${i}`)).not.toBeNull();
    c.runUntil(() => c.converged(), 10 * ELECTION, 'convergence');
    // Loggers hold the log but no data; the passive replica applies it.
    expect(c.replica(2).core!.status().decidedThrough).toBe(c.replica(1).core!.status().decidedThrough);
    expect(c.replica(2).sm.size).toBe(0);
    expect(c.replica(4).sm.get('k4')?.value).toBe('v4');
    // Without replica 1 nobody may lead, however long we wait (the checker would fail a logger or passive leader).
    c.crash(1);
    c.runTicks(30 * ELECTION);
    expect(c.leaderId()).toBeNull();
    c.restart(1);
    expect(leaderAfter(c, 10 * ELECTION, 'replica 1 again')).toBe(1);
  });

  it('cluster: roles: a passive replica does not count toward a quorum', () => {
    // Voters 1, 2, 3; passive 4. With 2 and 3 down, 1 and 4 are not a quorum.
    const c = cluster([member(1, { priority: 1 }), member(2), member(3), member(4, { role: 'passive' })], 14);
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    c.crash(2);
    c.crash(3);
    expect(write(c, 'k', 'v', 10 * ELECTION)).toBeNull();
  });

  it('cluster: roles: a passive replica is served after the voters while the leader is overloaded', () => {
    const c = cluster([member(1, { priority: 1 }), member(2), member(3), member(4, { role: 'passive' })], 15, {
      timing: { inflightMax: 1, batchMax: 1 },
    });
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
    // Flood the leader: one command per batch, one batch in flight, so a backlog builds.
    for (let i = 0; i < 40; i++) c.propose(1, { kind: 'put', id: `flood${i}`, key: `f${i}`, value: 'x' }, () => {});
    c.flush();
    let passiveBehind = 0;
    c.runUntil(
      () => {
        const voter = c.replica(2).core!.status().decidedThrough;
        const passive = c.replica(4).core!.status().decidedThrough;
        if (passive < voter) passiveBehind += 1;
        return c.converged();
      },
      40 * ELECTION,
      'the backlog drains and everyone converges',
    );
    expect(passiveBehind).toBeGreaterThan(10);
    expect(c.replica(4).sm.get('f39')?.value).toBe('x');
  });
});

// Seeded campaigns for each rule: the random faults of the main campaign (loss, duplication,
// partitions, crashes, region outages where the topology has regions), a client workload,
// and the linearizability checker, with the topology fixed to the rule under test.
describe('cluster: seeded campaigns per rule', () => {
  const campaign = (name: string, topology: Topology, regionOutageRate?: number, seeds = 15): void => {
    it(`cluster: campaign: ${name} stays safe and linearizable and settles (${seeds} seeds)`, () => {
      for (let seed = 1; seed <= seeds; seed++) {
        const r = runSimulation({ seed, topology, ...(regionOutageRate !== undefined ? { regionOutageRate } : {}) });
        expect(r.ok, r.ok ? '' : `${r.check}: ${r.message} (seed ${seed}; topology ${name})`).toBe(true);
      }
    });
  };
  const base = { tickMs: 20, wan: false, policy: {} };
  campaign('priorities with fail-back', {
    ...base,
    members: [member(1, { priority: 3 }), member(2, { priority: 2 }), member(3, { priority: 1 }), member(4, { priority: 2 }), member(5)],
    priority: PRIORITY,
  });
  campaign('priorities with a minimum tenure and no fail-back', {
    ...base,
    members: [member(1, { priority: 2 }), member(2, { priority: 1 }), member(3)],
    priority: { enabled: true, failback: false, minLeaderTenureTicks: 40 },
  });
  campaign('a required region under WAN latencies and region outages', {
    ...base,
    wan: true,
    members: [
      member(1, { group: 1, region: 'weur', priority: 1 }),
      member(2, { group: 1, region: 'weur' }),
      member(3, { group: 2, region: 'enam' }),
      member(4, { group: 2, region: 'enam' }),
      member(5, { group: 3, region: 'apac' }),
    ],
    policy: { requireRegions: ['weur'] },
    priority: PRIORITY,
  }, 0.002);
  campaign('weights', {
    ...base,
    members: [member(1, { weight: 3 }), member(2, { weight: 2 }), member(3), member(4), member(5)],
    priority: PRIORITY,
  });
  campaign('a logger and a passive replica', {
    ...base,
    members: [member(1, { priority: 1 }), member(2), member(3, { role: 'logger' }), member(4, { role: 'passive' })],
    priority: PRIORITY,
  });
});

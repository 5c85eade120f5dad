import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/index.ts';
import { SimCluster } from '../../sim/cluster.ts';

// Stalls: a replica's host is not run for a while (an overloaded machine, or
// local workerd holding alarms back while another object is busy). What
// reaches it waits; when it runs again, a stall longer than a heartbeat
// interval is forgiven (Replica.resume: its failure detectors start over),
// at most once per two election timeouts, as ClockedHost does.

const ELECTION = 10; // DEFAULT_TIMING's election timeout, in ticks

function settled(seed: number): SimCluster {
  const c = new SimCluster({ replicas: 3, rng: new SeededRng(seed) });
  c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a leader');
  expect(c.write('k', 'v1')).not.toBeNull();
  return c;
}

function ballotRound(c: SimCluster, id: number): number {
  return c.replica(id).core!.status().ballot.round;
}

describe('cluster: stalls', () => {
  it('cluster: stalls: every host stalled together for three election timeouts keeps its leader', () => {
    for (const seed of [1, 2, 3]) {
      const c = settled(seed);
      const leader = c.leaderId()!;
      const round = ballotRound(c, leader);
      c.stallReplicas(c.ids, 3 * ELECTION);
      c.runTicks(3 * ELECTION + 5 * ELECTION);
      expect(c.stallsForgiven).toBe(3);
      expect(c.leaderId()).toBe(leader);
      expect(ballotRound(c, leader)).toBe(round);
      expect(c.write('k', 'v2')).toMatchObject({ kind: 'put', ok: true });
    }
  });

  it('cluster: stalls: a follower stalled past its leader\'s death grants the waiting pre-vote soon after it runs again, instead of holding the failover up by an election timeout', () => {
    // The leader is replica 1: replica 2 campaigns first (turns go round after the silent leader),
    // replica 3 is stalled across that and forgives its late wake-up. Before, the forgiven replica
    // refused pre-votes for a whole election timeout from its resume ("it heard from leader 1 0 ticks
    // ago"), and the new leader came 16 ticks after the stall ended; now it vouches for its leader
    // only for two heartbeat intervals after the resume, and replica 2 asks again every 4 ticks.
    const c = settled(1);
    expect(c.leaderId()).toBe(1);
    c.crash(1);
    const stall = Math.round(1.8 * ELECTION);
    c.stallReplicas([3], stall);
    const stallEnds = c.now + stall;
    c.runUntil(() => c.now >= stallEnds, 2 * stall, 'the stall to end');
    expect(c.stallsForgiven).toBe(1);
    c.runUntil(() => c.leaderId() !== null && c.leaderId() !== 1, 4 * ELECTION, 'a new leader');
    expect(c.leaderId()).toBe(2);
    expect(c.now - stallEnds).toBeLessThan(ELECTION);
  });

  it('cluster: stalls: a follower that forgave a stall still vouches for a live leader against a peer stalled with it, on a lossy network', () => {
    // Replica 1 is stalled alone, then every host together: replica 1's second late wake-up comes
    // within two election timeouts of its first, so it is not forgiven and replica 1 campaigns on the
    // replayed silence; replica 2, forgiven, must not grant that pre-vote before it has listened for
    // two heartbeat intervals (granting it at once deposed leader 3 in this seed).
    const c = new SimCluster({ replicas: 3, rng: new SeededRng(58), network: { minDelayTicks: 1, maxDelayTicks: 4, lossRate: 0.25 } });
    c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a leader');
    expect(c.write('k', 'v1')).not.toBeNull();
    const leader = c.leaderId()!;
    expect(leader).toBe(3);
    const round = ballotRound(c, leader);
    c.stallReplicas([1], 15);
    c.runTicks(16);
    c.stallReplicas(c.ids, 18);
    c.runTicks(18 + 2 * ELECTION);
    expect(c.leaderId()).toBe(leader);
    expect(ballotRound(c, leader)).toBe(round);
  });

  it('cluster: stalls: a leader that dies while every host is stalled is still replaced after they run again', () => {
    for (const seed of [4, 5, 6]) {
      const c = settled(seed);
      const dead = c.leaderId()!;
      c.stallReplicas(c.ids, 3 * ELECTION);
      c.crash(dead);
      c.runTicks(3 * ELECTION);
      // Forgiven: the survivors listen a whole election timeout again, then campaign as usual.
      c.runUntil(() => c.leaderId() !== null && c.leaderId() !== dead, 6 * ELECTION, 'a new leader after the stall');
      expect(c.write('k', 'v2')).toMatchObject({ kind: 'put', ok: true });
    }
  });
});


import { describe, expect, it } from 'vitest';
import { DEFAULT_THRIFTY, type Message, type ReplicaStatus, SeededRng, compileConfiguration, majorityConfiguration } from '../../src/core/index.ts';
import { SimCluster } from '../../sim/cluster.ts';
import { SafetyViolation } from '../../sim/safety.ts';
import { reproduceCommand, runSimulation } from '../../sim/simulation.ts';
import { NearestQuorumCheck, TrailingLagCheck } from '../../sim/thrifty-check.ts';

// Thrifty replication in the simulator: the random campaigns turn it on for
// about half the seeds (with faults aimed at the leader's nearest follower)
// and check safety and linearizability as for any run, every new accept batch
// against the nearest-quorum rule, and, after healing, the stated lag of the
// trailing followers. Here: the checks themselves can fail, and a run with
// thrifty replication forced on is checked end to end.

const BALLOT = { round: 3, replicaId: 1 };

function accept(to: number, firstSlot: number, n = 1): Message {
  return { type: 'accept', from: 1, to, ballot: BALLOT, firstSlot, commands: Array.from({ length: n }, () => ({ kind: 'noop' }) as never), decidedThrough: 0 };
}

function leaderStatus(lastSlot: number, members = 5): ReplicaStatus {
  const configuration = majorityConfiguration(Array.from({ length: members }, (_, i) => i + 1));
  return { id: 1, role: 'leader', configuration, configurationSlot: 0, pendingConfiguration: null, quorumOverride: null, lastSlot } as unknown as ReplicaStatus;
}

describe('simulation: thrifty replication', () => {
  it('the nearest-quorum check fails a new batch sent to followers that make no quorum with the leader', () => {
    const check = new NearestQuorumCheck(1);
    check.begin(10);
    check.beforeSend(accept(2, 11));
    expect(() => check.afterReady(() => leaderStatus(11))).toThrow(SafetyViolation);
  });

  it('the nearest-quorum check passes a new batch to a quorum, and catch-ups of slots the leader already had to anyone', () => {
    const check = new NearestQuorumCheck(1);
    check.begin(10);
    check.beforeSend(accept(2, 11, 2));
    check.beforeSend(accept(3, 11, 2));
    check.beforeSend(accept(4, 5)); // a catch-up of an old slot, to one follower
    expect(() => check.afterReady(() => leaderStatus(12))).not.toThrow();
    expect(compileConfiguration(majorityConfiguration([1, 2, 3, 4, 5])).quorum.isPhase2Quorum(new Set([1, 2, 3]))).toBe(true);
  });

  it('the lag check fails a voter that knows less decided than its leader did a bound ago, and not one within it', () => {
    const bound = 5;
    const within = new TrailingLagCheck(bound);
    const behind = new TrailingLagCheck(bound);
    let failure: string | null = null;
    for (let t = 0; t < 40; t++) {
      // The leader decides one slot a tick; one follower trails by exactly the bound, another by twice it.
      expect(within.observe(t, 1, t, new Map([[2, Math.max(0, t - bound)]]))).toBeNull();
      failure ??= behind.observe(t, 1, t, new Map([[3, Math.max(0, t - 2 * bound)]]));
    }
    expect(failure).toMatch(/replica 3 has decided through \d+ at tick \d+, but leader 1 had decided through \d+ 5 ticks earlier/);
  });

  it('a leader with thrifty replication sends each write to its nearest quorum and keeps deciding when that follower crashes', () => {
    const c = new SimCluster({ replicas: 3, rng: new SeededRng(7), thrifty: DEFAULT_THRIFTY });
    for (let i = 0; i < 20; i++) expect(c.write(`k${i % 3}`, `v${i}`)).not.toBeNull();
    const leader = c.leaderId()!;
    const nearest = c.replica(leader).core!.status().nearestQuorum;
    expect(nearest).toHaveLength(1);
    c.crash(nearest![0]!);
    for (let i = 0; i < 20; i++) expect(c.write(`k${i % 3}`, `w${i}`)).not.toBeNull();
    expect(c.replica(leader).core!.status().nearestQuorum).not.toEqual(nearest);
  });

  it('a seed run with thrifty replication forced on is safe, linearizable and within the lag bound, and its reproduce line says so', () => {
    const r = runSimulation({ seed: 5, operations: 150, thrifty: true });
    if (!r.ok) expect.fail(`${r.check}: ${r.message}\n${r.reproduce}`);
    expect(r.knobs.thrifty).toBe(true);
    expect(r.stats.counts['thrifty: lag checked']).toBe(1);
    expect(reproduceCommand({ seed: 5, thrifty: true })).toBe('npm run sim -- --seed 5 --thrifty on');
  });
});

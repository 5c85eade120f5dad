import { describe, expect, it } from 'vitest';
import { SeededRng, chance, randomBelow } from '../../src/core/index.ts';
import { KvStateMachine } from '../../src/kv/index.ts';
import { checkLinearizability } from '../../sim/checker/linearizability.ts';
import { type KvState, kvModel } from '../../sim/checker/kv-model.ts';
import { SimCluster } from '../../sim/cluster.ts';
import { SafetyViolation } from '../../sim/safety.ts';
import { Workload } from '../../sim/workload.ts';

// Restore (src/host/seed.ts): a new stream's bootstrap replicas start from a snapshot's state at a
// slot, and one that does not hold it yet takes no part. The simulator delivers the seeds at random
// times (some never, until the liveness phase), as a restore cut short and repeated would.

const TIMING = { electionTimeoutTicks: 20, heartbeatIntervalTicks: 4, retransmitTicks: 6 };

/** A key-value state at `slot`: keys k0..k(n-1) written at distinct slots, as a backup of another stream would hold them. */
function seedState(rng: SeededRng, slot: number, keys: number): { data: string; model: KvState } {
  const kv = new KvStateMachine();
  const writes = new Map<number, string>();
  for (let k = 0; k < keys; k++) if (chance(rng, 0.7)) writes.set(1 + randomBelow(rng, slot), `k${k}`);
  const model: Record<string, { value: string; revision: number; floor: number }> = {};
  for (let s = 1; s <= slot; s++) {
    const key = writes.get(s);
    if (key === undefined) kv.apply(s, { kind: 'noop' });
    else {
      kv.apply(s, { kind: 'put', id: `seed-${s}`, key, value: `seeded-${s}` });
      model[key] = { value: `seeded-${s}`, revision: s, floor: slot };
    }
  }
  // Every key, written or not, can only be written again after the seed's slot.
  for (let k = 0; k < keys; k++) model[`k${k}`] ??= { value: undefined as unknown as string, revision: 0, floor: slot };
  return { data: kv.snapshot(), model: model as unknown as KvState };
}

describe('restore: replicas start from a seed', () => {
  it('restore: a replica without its seed takes no part; one seeded replica elects nobody, a seeded majority decides after the seed, the last catches up once seeded', () => {
    const rng = new SeededRng(7);
    const { data } = seedState(rng, 30, 4);
    const c = new SimCluster({ replicas: 3, rng, timing: TIMING, seed: { slot: 30, data } });
    expect(c.upIds()).toEqual([]);
    c.seedReplica(1);
    c.runTicks(200);
    expect(c.leaderId()).toBeNull(); // alone it is no quorum, and the others do not answer
    expect(c.replica(1).backing.decidedThrough).toBe(30);
    c.seedReplica(2);
    c.runUntil(() => c.leaderId() !== null, 200, 'a leader');
    c.runTicks(50);
    expect(c.replica(c.leaderId()!).backing.decidedThrough).toBeGreaterThan(30);
    const three = c.replica(3).backing;
    expect([three.promised.round, three.entries.size, three.decidedThrough]).toEqual([0, 0, 0]); // it never voted or accepted
    c.seedReplica(3);
    c.runUntil(() => c.converged(), 300, 'convergence');
    expect(c.replica(3).sm.snapshot()).toBe(c.replica(c.leaderId()!).sm.snapshot());
    expect(c.replica(3).sm.get('k0')).toEqual(c.replica(1).sm.get('k0'));
  });

  const SEEDS = 30;
  it(`restore campaign: seeds delivered at random times under crashes and message loss keep every step safe and every history linearizable from the seed's state (${SEEDS} seeds)`, () => {
    for (let seed = 1; seed <= SEEDS; seed++) expect(restoreRun(seed, false)).toBe('ok');
  });

  it('restore campaign: replicas that ran without their seed (no gate) are caught: a history that is not linearizable from the seed', () => {
    const failures = Array.from({ length: 10 }, (_, i) => restoreRun(i + 1, true)).filter((r) => r !== 'ok');
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatch(/not linearizable|safety/);
  });
});

/** One seeded run: 'ok', or what failed with the line that reproduces it. */
function restoreRun(seed: number, ignoreGate: boolean): string {
  const reproduce = `npx vitest run --project node test/sim/restore.test.ts -t 'restore campaign' (seed ${seed}${ignoreGate ? ', gate off' : ''})`;
  const rng = new SeededRng(seed);
  const replicas = chance(rng, 0.5) ? 3 : 5;
  const slot = 5 + randomBelow(rng, 60);
  const { data, model } = seedState(rng, slot, 4);
  const c = new SimCluster({
    replicas,
    rng,
    timing: TIMING,
    seed: { slot, data },
    testOnlyIgnoreSeedGate: ignoreGate,
    network: { lossRate: 0.05 * randomBelow(rng, 3), duplicateRate: 0.05, maxDelayTicks: 1 + randomBelow(rng, 4) },
    compaction: { snapshotEverySlots: 20, retainSlots: 5 },
  });
  // When each replica gets its seed: for some, never during the safety phase (a restore cut short).
  const seedAt = c.ids.map((id) => ({ id, at: chance(rng, 0.25) ? Infinity : randomBelow(rng, 400) }));
  const crashRate = 0.002 * randomBelow(rng, 4);
  const workload = new Workload(c, rng, { clients: 3, keys: 4, operations: 60, timeoutTicks: 60, giveUpRate: 0.2 });
  try {
    while (!workload.exhausted && c.now < 20_000) {
      c.tick(() => {
        if (!ignoreGate) for (const s of seedAt) if (s.at === c.now) c.seedReplica(s.id);
        if (chance(rng, crashRate)) {
          const up = c.upIds();
          if (up.length > 0) c.crash(up[randomBelow(rng, up.length)]!);
        }
        for (const id of c.ids) if (!c.replica(id).up && chance(rng, 0.02)) c.restart(id);
        workload.step();
      });
    }
    // Liveness: every seed delivered, every replica up, no loss; operations finish and replicas converge.
    for (const id of c.ids) {
      if (!ignoreGate) c.seedReplica(id, false);
      c.restart(id);
    }
    c.network.faults.lossRate = 0;
    workload.allowGiveUp = false;
    c.runUntil(() => workload.idle && c.converged(), 5_000, 'convergence', () => workload.step());
  } catch (e) {
    if (e instanceof SafetyViolation) return `safety: ${e.message}\nreproduce: ${reproduce}\n${c.log.slice(-30).join('\n')}`;
    return `${String(e)}\nreproduce: ${reproduce}`;
  }
  const verdict = checkLinearizability({ ...kvModel, init: () => model }, workload.history);
  if (!verdict.ok) return `${verdict.reason}: ${verdict.explanation}\nreproduce: ${reproduce}`;
  // Every replica holds the same state, the seed's untouched keys included, and went on after the seed.
  const leader = c.replica(c.leaderId()!).sm;
  for (const id of c.ids) if (c.replica(id).sm.snapshot() !== leader.snapshot()) return `replica ${id} differs from the leader\nreproduce: ${reproduce}`;
  if (leader.appliedThrough <= slot) return `nothing decided after the seed's slot ${slot}\nreproduce: ${reproduce}`;
  return 'ok';
}

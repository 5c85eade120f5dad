import { describe, expect, it } from 'vitest';
import { type ReplicaId, weightedQuorum } from '../../src/core/index.ts';

function subsets(ids: readonly ReplicaId[]): Set<ReplicaId>[] {
  return Array.from({ length: 1 << ids.length }, (_, mask) => new Set(ids.filter((_, i) => mask & (1 << i))));
}

describe('quorum: weighted, with required groups and flexible sizes', () => {
  it('every phase-1 quorum intersects every phase-2 quorum, in every small configuration', () => {
    let configurations = 0;
    for (let n = 1; n <= 4; n++) {
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      const all = subsets(ids);
      const nonEmpty = all.filter((s) => s.size > 0).map((s) => [...s]);
      for (let wmask = 0; wmask < 1 << n; wmask++) {
        const voters = ids.map((id, i) => ({ id, weight: wmask & (1 << i) ? 2 : 1 }));
        const total = voters.reduce((a, v) => a + v.weight, 0);
        const requiredChoices: ReplicaId[][][] = [[], ...nonEmpty.map((s) => [s]), ...nonEmpty.slice(0, 4).flatMap((a) => nonEmpty.slice(0, 4).map((b) => [a, b]))];
        for (const required of requiredChoices) {
          for (let q2 = 1; q2 <= total; q2++) {
            for (let q1 = total - q2 + 1; q1 <= total; q1++) {
              const q = weightedQuorum({ voters, required, phase1Weight: q1, phase2Weight: q2 });
              configurations += 1;
              const p1 = all.filter((s) => q.isPhase1Quorum(s));
              const p2 = all.filter((s) => q.isPhase2Quorum(s));
              expect(p2.length, `all voters decide: n=${n} q1=${q1} q2=${q2}`).toBeGreaterThan(0);
              for (const a of p1) for (const b of p2) expect([...a].some((x) => b.has(x)), `n=${n} w=${wmask} q1=${q1} q2=${q2} [${[...a]}] vs [${[...b]}]`).toBe(true);
            }
          }
        }
      }
    }
    expect(configurations).toBeGreaterThan(1000);
  });

  it('a decision needs an acceptor of every required group even when the weights suffice', () => {
    const q = weightedQuorum({ voters: [1, 2, 3, 4, 5].map((id) => ({ id, weight: 1 })), required: [[1, 2]], requiredNames: ['group weur'] });
    expect(q.isPhase2Quorum(new Set([3, 4, 5]))).toBe(false);
    expect(q.explainPhase2(new Set([3, 4, 5]))).toBe('no acceptor of group weur (replicas 1, 2)');
    expect(q.isPhase2Quorum(new Set([1, 4, 5]))).toBe(true);
    expect(q.isPhase1Quorum(new Set([3, 4, 5]))).toBe(true); // elections still work without the group
  });

  it('weights count, not heads', () => {
    const q = weightedQuorum({ voters: [{ id: 1, weight: 3 }, { id: 2, weight: 1 }, { id: 3, weight: 1 }] });
    expect(q.isPhase2Quorum(new Set([1]))).toBe(true); // 3 of 5
    expect(q.isPhase2Quorum(new Set([2, 3]))).toBe(false);
    expect(q.explainPhase2(new Set([2, 3]))).toBe('acceptors with weight 2 of the 3 needed');
  });

  it('refuses configurations that could lose data or never decide, saying why', () => {
    const voters = [1, 2, 3].map((id) => ({ id, weight: 1 }));
    expect(() => weightedQuorum({ voters, phase1Weight: 1, phase2Weight: 2 })).toThrow(/must exceed the total weight 3/);
    expect(() => weightedQuorum({ voters, phase2Weight: 4 })).toThrow(/between 1 and the total weight 3/);
    expect(() => weightedQuorum({ voters, required: [[9]], requiredNames: ['region oc'] })).toThrow(/region oc has no voter/);
    expect(() => weightedQuorum({ voters: [{ id: 1, weight: 0 }] })).toThrow(/weights are integers of 1 or more/);
    expect(() => weightedQuorum({ voters: [] })).toThrow(/no voters/);
  });
});

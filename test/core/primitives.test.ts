import { describe, expect, it } from 'vitest';
import { SeededRng, Timeout, compareBallots, majorityQuorum, randomBelow } from '../../src/core/index.ts';

describe('ballot', () => {
  it('orders by round first, then by replica id', () => {
    expect(compareBallots({ round: 1, replicaId: 9 }, { round: 2, replicaId: 1 })).toBeLessThan(0);
    expect(compareBallots({ round: 2, replicaId: 3 }, { round: 2, replicaId: 1 })).toBeGreaterThan(0);
    expect(compareBallots({ round: 2, replicaId: 3 }, { round: 2, replicaId: 3 })).toBe(0);
  });
});

describe('quorum: majority', () => {
  it('needs more than half of the voters and ignores non-voters', () => {
    const q = majorityQuorum([1, 2, 3, 4, 5]);
    expect(q.isPhase2Quorum(new Set([1, 2]))).toBe(false);
    expect(q.isPhase2Quorum(new Set([1, 2, 9, 10]))).toBe(false);
    expect(q.isPhase2Quorum(new Set([1, 2, 3]))).toBe(true);
    expect(q.isPhase1Quorum(new Set([3, 4, 5]))).toBe(true);
  });

  it('every phase-1 quorum intersects every phase-2 quorum (all subsets of 1..5)', () => {
    for (let n = 1; n <= 5; n++) {
      const voters = Array.from({ length: n }, (_, i) => i + 1);
      const q = majorityQuorum(voters);
      const subsets = Array.from({ length: 1 << n }, (_, mask) => new Set(voters.filter((_, i) => mask & (1 << i))));
      for (const a of subsets.filter((s) => q.isPhase1Quorum(s))) {
        for (const b of subsets.filter((s) => q.isPhase2Quorum(s))) {
          expect([...a].some((x) => b.has(x))).toBe(true);
        }
      }
    }
  });

  it('refuses duplicate or missing voters', () => {
    expect(() => majorityQuorum([1, 1])).toThrow(/duplicate/);
    expect(() => majorityQuorum([])).toThrow(/no voters/);
  });
});

describe('rng', () => {
  it('the same seed gives the same sequence and different seeds differ', () => {
    const seq = (seed: number): number[] => {
      const r = new SeededRng(seed);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(seq(42)).toEqual(seq(42));
    expect(seq(42)).not.toEqual(seq(43));
  });

  it('randomBelow stays in range and covers it roughly evenly', () => {
    const r = new SeededRng(1);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 50_000; i++) counts[randomBelow(r, 5)]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(9_000);
    for (const c of counts) expect(c).toBeLessThan(11_000);
  });
});

describe('timeout', () => {
  it('fires after the given ticks once started, and never while stopped', () => {
    const t = new Timeout('t', 3);
    t.tick();
    t.tick();
    t.tick();
    expect(t.fired()).toBe(false);
    t.start();
    t.tick();
    t.tick();
    expect(t.fired()).toBe(false);
    t.tick();
    expect(t.fired()).toBe(true);
    t.reset();
    expect(t.fired()).toBe(false);
  });
});

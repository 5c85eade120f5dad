import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/index.ts';
import { LOCKSTEP, SimClock, trueTicksBounds } from '../../sim/clock.ts';

// The simulator's clocks: what a replica's host reads, against the true time the simulator owns.

describe('simulation: clocks', () => {
  it('a lockstep clock ticks once per true tick, at its end, and draws nothing from the PRNG', () => {
    const rng = new SeededRng(1);
    const before = new SeededRng(1).nextU32();
    const clock = new SimClock(LOCKSTEP, rng, 0);
    for (let t = 0; t < 100; t++) expect(clock.tickInstants(t, t + 1)).toEqual([t + 1]);
    expect(rng.nextU32()).toBe(before);
  });

  it('a drifting clock stays within 1 ± rho of true time however its rate changes, and ticks as often as its reading says', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rng = new SeededRng(seed);
      const model = { rho: 0.25, offsetMaxTicks: 50, rateChangeRate: 0.05 };
      const clock = new SimClock(model, rng, 0);
      const start = clock.localAt(0);
      let ticks = 0;
      let min = Number.POSITIVE_INFINITY;
      let max = 0;
      for (let t = 0; t < 5000; t++) {
        if (t % 37 === 0) clock.changeRate(rng, t);
        const at = clock.tickInstants(t, t + 1);
        for (const x of at) expect(x > t && x <= t + 1).toBe(true);
        ticks += at.length;
        expect(clock.check(t + 1)).toBeNull();
        min = Math.min(min, clock.rate);
        max = Math.max(max, clock.rate);
      }
      expect(ticks).toBe(Math.floor(clock.localAt(5000)) - Math.floor(start));
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(0.75 * 5000) - 1);
      expect(ticks).toBeLessThanOrEqual(Math.ceil(1.25 * 5000) + 1);
      expect(min).toBeGreaterThanOrEqual(0.75);
      expect(max).toBeLessThanOrEqual(1.25);
      expect(max - min).toBeGreaterThan(0.1); // the rate really changed
    }
  });

  it('a local duration lasts between L/(1+rho) and L/(1-rho) true ticks (the allowance a lease would state)', () => {
    expect(trueTicksBounds(100, 0.25)).toEqual([80, 100 / 0.75]);
    expect(trueTicksBounds(100, 0)).toEqual([100, 100]);
    expect(() => new SimClock({ rho: 1, offsetMaxTicks: 0, rateChangeRate: 0 }, new SeededRng(1), 0)).toThrow(RangeError);
  });
});

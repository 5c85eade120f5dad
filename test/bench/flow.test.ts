import { describe, expect, it } from 'vitest';
import { FLOW_ADAPTIVE, FLOW_CONCURRENCIES, FLOW_FIXED, type FlowResults, flowHeldOut, flowVerdicts } from '../../bench/flow.ts';

/** A sweep: each setting's ops/s per round from `ops(stream, round)`, at every load. */
function sweep(rounds: number, ops: (stream: string, round: number) => number): FlowResults {
  const settings = [...FLOW_FIXED, FLOW_ADAPTIVE];
  return {
    cells: FLOW_CONCURRENCIES.flatMap((concurrency) =>
      settings.map((s) => ({ stream: s.stream, label: s.label, concurrency, opsPerSec: Array.from({ length: rounds }, (_, i) => ops(s.stream, i)), errors: 0 })),
    ),
    slow: [],
  };
}

/** A small deterministic generator (the sweep's noise). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 0x1_0000_0000;
  };
}

describe('the flow sweep verdict', () => {
  it('reports the adaptive setting against the truly best fixed one when there is no noise', () => {
    const r = sweep(7, (stream) => (stream === 'flow-d4' ? 120 : stream === FLOW_ADAPTIVE.stream ? 108 : 100));
    const held = flowHeldOut(r, 1);
    expect(held.ratio).toBeCloseTo(0.9, 10);
    expect(new Set(held.picks)).toEqual(new Set(['depth 4']));
  });

  it('reads equal settings as equal, where picking and reading the best on the same rounds reads the adaptive one low', () => {
    // Eight settings that are all the same, each round's figure off by up to ±10 % at random:
    // the in-sample best of seven is mostly the luckiest, the held-out one is not.
    let inSample = 0;
    let heldOut = 0;
    const sweeps = 200;
    for (let k = 0; k < sweeps; k++) {
      const next = lcg(k + 1);
      const r = sweep(7, () => 100 * (0.9 + 0.2 * next()));
      const v = flowVerdicts(r).find((x) => x.concurrency === 1)!;
      inSample += v.adaptiveScore / v.bestScore / sweeps;
      heldOut += flowHeldOut(r, 1).ratio / sweeps;
    }
    expect(inSample).toBeLessThan(0.97);
    expect(heldOut).toBeGreaterThan(0.97);
    expect(heldOut).toBeLessThan(1.03);
  });
});

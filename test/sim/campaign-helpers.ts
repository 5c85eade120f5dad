import { expect } from 'vitest';
import { type SimulationResult, runSimulation } from '../../sim/simulation.ts';

/** Seeds every `npm test` runs with the real core (at least 300 are required). */
export const DEFAULT_SEED_BUDGET = 400;

export function formatFailure(r: Extract<SimulationResult, { ok: false }>): string {
  return [`seed ${r.seed} failed ${r.check}: ${r.message}`, `reproduce: ${r.reproduce}`, ...r.trace.slice(-20)].join('\n');
}

/** Run seeds `[first, first + count)` with the real core and fail with the reproduce line of the first failure. */
export function runSeedRange(first: number, count: number): void {
  let operations = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = runSimulation({ seed });
    if (!r.ok) expect.fail(formatFailure(r));
    operations += r.stats.operations;
    expect(r.stats.operations).toBeGreaterThanOrEqual(500);
  }
  expect(operations).toBeGreaterThanOrEqual(500 * count);
}

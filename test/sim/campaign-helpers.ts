import { expect } from 'vitest';
import { CampaignTotals, type SimulationResult, runSimulation } from '../../sim/simulation.ts';

/** Seeds every `npm test` runs with the real core, split over campaign-a and campaign-b (one per core). */
export const DEFAULT_SEED_BUDGET = 400;

export function formatFailure(r: Extract<SimulationResult, { ok: false }>): string {
  return [`seed ${r.seed} failed ${r.check}${r.rule ? ` (${r.rule})` : ''}: ${r.message}`, `reproduce: ${r.reproduce}`, ...r.trace.slice(-20)].join('\n');
}

/** Run seeds `[first, first + count)` with the real core, adding to `totals`; fail with the reproduce line of the first failure. */
export function runSeedRange(first: number, count: number, totals: CampaignTotals): void {
  for (let seed = first; seed < first + count; seed++) {
    const r = runSimulation({ seed });
    totals.add(r);
    if (!r.ok) expect.fail(formatFailure(r));
    expect(r.stats.operations).toBeGreaterThanOrEqual(500);
  }
}

/**
 * The campaign's closing check: print how often each fault and operation
 * happened, and fail if one never did (a campaign that claims to exercise it
 * and does not).
 */
export function reportTotals(name: string, totals: CampaignTotals): void {
  console.log(`${name}: ${totals.describe()}`);
  expect(totals.missing(), `never happened in ${name}`).toEqual([]);
}

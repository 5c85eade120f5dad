import { describe, it } from 'vitest';
import { CampaignTotals } from '../../sim/simulation.ts';
import { DEFAULT_SEED_BUDGET, reportTotals, runSeedRange } from './campaign-helpers.ts';

// The seed budget is split over two files so that vitest runs them on both cores.
const HALF = DEFAULT_SEED_BUDGET / 2;

describe('simulation: campaign (second half)', () => {
  const totals = new CampaignTotals();
  for (let first = HALF + 1; first <= DEFAULT_SEED_BUDGET; first += 50) {
    it(`seeds ${first}..${first + 49}: safe, linearizable, and live once healed, 500 operations each`, () => {
      runSeedRange(first, 50, totals);
    });
  }
  it('the campaign exercised every fault kind and operation at least once (counts printed)', () => {
    reportTotals('campaign (second half)', totals);
  });
});

import { describe, expect, it } from 'vitest';
import { BUGS, runSimulation } from '../../sim/simulation.ts';
import { DEFAULT_SEED_BUDGET } from './campaign-helpers.ts';

// The simulator earns trust by catching real protocol bugs. Each variant below
// is a core with one deliberate mistake (behind a test-only switch); the default
// seed budget must catch every one, and say which check caught it.
describe('simulation: broken variants are caught by the default seed budget', () => {
  for (const bug of Object.keys(BUGS)) {
    it(`catches ${bug}`, () => {
      let caught: string | null = null;
      for (let seed = 1; seed <= DEFAULT_SEED_BUDGET && caught === null; seed++) {
        const r = runSimulation({ seed, bug });
        if (!r.ok) {
          caught = `${r.check}: ${r.message.split('\n')[0]} (${r.reproduce})`;
          expect(r.reproduce).toBe(`npm run sim -- --seed ${seed} --bug ${bug}`);
        }
      }
      expect(caught, `${bug} survived ${DEFAULT_SEED_BUDGET} seeds`).not.toBeNull();
    });
  }
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runMutant } from '../../sim/mutate.ts';
import { DEFAULT_MUTANT_SEEDS, MUTANTS, applyMutant } from '../../sim/mutants.ts';
import { DEFAULT_SEED_BUDGET } from './campaign-helpers.ts';

// The simulator earns trust by catching planted bugs (sim/mutants.ts). The full
// score is `npm run mutate` (docs/simulation.md); here, cheaply: every planted
// bug still applies to the current source (so the score stays measurable as the
// code changes), and the random campaign, run against copies with a few of them
// planted, catches each within a few seeds.

describe('simulation: planted bugs', () => {
  it('every planted bug still applies to the current source, and none is planted under src/', () => {
    expect(MUTANTS.length).toBeGreaterThanOrEqual(10);
    expect(new Set(MUTANTS.map((m) => m.name)).size).toBe(MUTANTS.length);
    for (const m of MUTANTS) {
      const patched = applyMutant(m, (file) => readFileSync(file, 'utf8'));
      for (const [file, text] of patched) expect(text, `${m.name} changes ${file}`).not.toBe(readFileSync(file, 'utf8'));
    }
    expect(DEFAULT_MUTANT_SEEDS).toBe(DEFAULT_SEED_BUDGET);
  });

  it('a patch whose text moved fails loudly, naming the mutant', () => {
    const moved = { ...MUTANTS[0]!, patches: [{ file: 'src/core/replica.ts', search: 'no such text', replace: '' }] };
    expect(() => applyMutant(moved, (file) => readFileSync(file, 'utf8'))).toThrow(/mutant forget-promise-on-restart: its text is not in src\/core\/replica.ts/);
  });

  // A few areas whose bug the campaign catches within its first seeds (the rest: npm run mutate).
  for (const name of ['forget-promise-on-restart', 'accept-compares-rounds', 'skip-reproposal', 'read-older-broadcast', 'minority-vote-num-any', 'travelling-forever', 'thrifty-picks-too-few']) {
    it(`the random campaign catches ${name} in a copy of the source`, async () => {
      const r = await runMutant(MUTANTS.find((m) => m.name === name)!, 20);
      expect(r.caught, `${name} survived 20 seeds`).toBe(true);
      expect(r.reproduce).toBe(`npm run mutate -- --mutant ${name} --seed ${r.seed}`);
    });
  }

  // Two of the coordination campaign's (a lease bug and a watch bug): its seeds cost more, so fewer of them.
  for (const name of ['keepalive-keeps-grant-deadline', 'watch-skips-event']) {
    it(`the coordination campaign catches ${name} in a copy of the source`, async () => {
      const r = await runMutant(MUTANTS.find((m) => m.name === name)!, 5);
      expect(r.caught, `${name} survived 5 seeds`).toBe(true);
      expect(r.reproduce).toBe(`npm run mutate -- --mutant ${name} --seed ${r.seed}`);
    });
  }
});

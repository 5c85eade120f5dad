import { describe, expect, it } from 'vitest';
import { runFollowSim } from '../../sim/follow-sim.ts';
import { runMutant } from '../../sim/mutate.ts';
import { FOLLOW_MUTANTS } from '../../sim/mutants.ts';

describe('simulation: leaders follow the traffic (sim/follow-sim.ts)', () => {
  // A few seeds here; the long campaign is `npm run sim:follow -- --seeds 200` (docs/simulation.md).
  it('stays safe, never flaps under an even mix, and moves the leader to the region that writes, over random campaigns', () => {
    let moves = 0;
    for (let seed = 1; seed <= 4; seed++) {
      const r = runFollowSim({ seed, phases: 4 });
      expect(r.ok, `${r.check}: ${r.message}\nreproduce: ${r.reproduce}`).toBe(true);
      moves += r.moves;
    }
    // The campaign did meet what it is about: preferences that moved.
    expect(moves).toBeGreaterThan(0);
  });

  it('the follow campaign catches a follower without hysteresis in a copy of the source', async () => {
    const m = FOLLOW_MUTANTS.find((x) => x.name === 'follow-without-hysteresis')!;
    const r = await runMutant(m, 5);
    expect(r.caught, `${m.name} survived 5 seeds`).toBe(true);
  });
});

/**
 * The `leaders: follow` campaign from the command line (sim/follow-sim.ts):
 *   npm run sim:follow -- --seeds 200            (seeds 1..200)
 *   npm run sim:follow -- --seed 17              (one seed, as a failure's reproduce line prints it)
 * `--json` prints one JSON line per failure and a summary line (npm run mutate reads them).
 */
import { parseArgs } from 'node:util';
import { runFollowSim } from './follow-sim.ts';

const { values } = parseArgs({
  options: { seed: { type: 'string' }, seeds: { type: 'string' }, 'first-failure': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  allowPositionals: false,
});
const first = Number(values.seed ?? 1);
const count = values.seeds !== undefined ? Number(values.seeds) : 1;
const reproduceBase = process.env.EDGEPAXOS_REPRODUCE;
let failures = 0;
const started = performance.now();
for (let seed = first; seed < first + count; seed++) {
  let r: ReturnType<typeof runFollowSim>;
  try {
    r = runFollowSim({ seed });
  } catch (e) {
    // A throw outside the campaign's own checks (building the cluster, say) is a failure of that seed, reported as one.
    r = { ok: false, check: 'exception', message: String((e as Error).stack ?? e), writes: 0, moves: 0, phases: [], reproduce: `npm run sim:follow -- --seed ${seed}` };
  }
  if (!r.ok) {
    failures += 1;
    const reproduce = reproduceBase ? `${reproduceBase} --seed ${seed}` : r.reproduce;
    if (values.json) console.log(JSON.stringify({ failure: { seed, check: r.check, rule: null, message: r.message, reproduce } }));
    else console.log(`seed ${seed}: ${r.check} failed\n${r.message}\nreproduce: ${reproduce}`);
    if (values['first-failure']) break;
  } else if (!values.json) {
    console.log(`seed ${seed}: ok (${r.writes} writes, ${r.moves} moves; ${r.phases.join(' | ')})`);
  }
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (values.json) console.log(JSON.stringify({ summary: { seeds: count, failures, inconclusive: 0, seconds } }));
else console.log(`${count} seeds, ${failures} failed, ${seconds} s`);
process.exitCode = failures > 0 ? 1 : 0;

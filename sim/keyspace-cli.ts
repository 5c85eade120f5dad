/**
 * The keyspace campaign from the command line:
 *   npm run sim:keyspace -- --seeds 200            (seeds 1..200)
 *   npm run sim:keyspace -- --seed 17              (one seed, as a failure's reproduce line prints it)
 * `--json` prints one JSON line per failure and a summary line (npm run mutate reads them).
 */
import { parseArgs } from 'node:util';
import { keyspaceOptions, runKeyspaceSim } from './keyspace-sim.ts';

const { values } = parseArgs({
  options: { seed: { type: 'string' }, seeds: { type: 'string' }, 'first-failure': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  allowPositionals: false,
});
const first = Number(values.seed ?? 1);
const count = values.seeds !== undefined ? Number(values.seeds) : 1;
const reproduceBase = process.env.EDGEPAXOS_REPRODUCE;
let failures = 0;
let inconclusive = 0;
const started = performance.now();
for (let seed = first; seed < first + count; seed++) {
  let r: Awaited<ReturnType<typeof runKeyspaceSim>>;
  try {
    r = await runKeyspaceSim(keyspaceOptions(seed));
  } catch (e) {
    // A state machine (or the simulated router) that throws is a bug as surely as a wrong answer: every replica would crash on the same command.
    r = { ok: false, check: 'exception', message: String((e as Error).stack ?? e), options: keyspaceOptions(seed), ops: 0, crossShardTxns: 0, workerCrashes: 0, settled: 0, growCrashes: 0, movedKeys: 0, handoffsRefused: 0, reproduce: `npm run sim:keyspace -- --seed ${seed}` };
  }
  if (!r.ok) {
    failures += 1;
    const reproduce = reproduceBase ? `${reproduceBase} --seed ${seed}` : r.reproduce;
    if (values.json) console.log(JSON.stringify({ failure: { seed, check: r.check, rule: null, message: r.message, reproduce } }));
    else console.log(`seed ${seed}: ${r.check} failed (${JSON.stringify(r.options)})\n${r.message}\nreproduce: ${reproduce}`);
    if (values['first-failure']) break;
  } else if (r.inconclusive) {
    inconclusive += 1;
    if (!values.json) console.log(`seed ${seed}: inconclusive (the check ran out of search budget: ${r.ops} operations)`);
  } else if (!values.json) {
    console.log(`seed ${seed}: ok (${r.ops} operations, ${r.crossShardTxns} cross-shard transactions, ${r.workerCrashes} Worker crashes, ${r.settled} intents settled by others${r.options.growTo > 0 ? `, grown ${r.options.shards} -> ${r.options.growTo} shards moving ${r.movedKeys} keys, ${r.growCrashes} grow drivers crashed, ${r.handoffsRefused} hand-offs refused under intents` : ""})`);
  }
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (values.json) console.log(JSON.stringify({ summary: { seeds: count, failures, inconclusive, seconds } }));
else console.log(`${count} seeds, ${failures} failed, ${inconclusive} inconclusive, ${seconds} s`);
process.exitCode = failures > 0 ? 1 : 0;

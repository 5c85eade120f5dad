/**
 * Long simulation campaigns: `npm run sim -- --seeds N [--seed S] [--ops N] [--bug NAME] [--membership-rate P] [--stall-rate P] [--verbose]`.
 * With only `--seed S`, runs that one seed and prints its knobs and trace.
 * Every failure prints its seed and the exact command that reproduces it.
 */
import { parseArgs } from 'node:util';
import { BUGS, CampaignTotals, DEFAULT_OPERATIONS, describeKnobs, runSimulation } from './simulation.ts';

function main(): number {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      ops: { type: 'string' },
      bug: { type: 'string' },
      'membership-rate': { type: 'string' },
      'stall-rate': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log('usage: npm run sim -- [--seeds N] [--seed S] [--ops N] [--bug NAME] [--membership-rate P] [--stall-rate P] [--verbose]');
    console.log(`bugs: ${Object.keys(BUGS).join(', ')}`);
    return 0;
  }
  const single = values.seed !== undefined && values.seeds === undefined;
  const count = single ? 1 : intArg('seeds', values.seeds ?? '300');
  const first = values.seed !== undefined ? intArg('seed', values.seed) : 1;
  const operations = values.ops !== undefined ? intArg('ops', values.ops) : DEFAULT_OPERATIONS;
  if (values.bug !== undefined && !(values.bug in BUGS)) {
    console.error(`unknown bug '${values.bug}'; known: ${Object.keys(BUGS).join(', ')}`);
    return 2;
  }
  const membershipRate = values['membership-rate'] !== undefined ? Number(values['membership-rate']) : undefined;
  if (membershipRate !== undefined && !(membershipRate >= 0 && membershipRate <= 1)) {
    console.error(`--membership-rate must be a probability per tick (0 to 1), got '${values['membership-rate']}'`);
    return 2;
  }
  const stallRate = values['stall-rate'] !== undefined ? Number(values['stall-rate']) : undefined;
  if (stallRate !== undefined && !(stallRate >= 0 && stallRate <= 1)) {
    console.error(`--stall-rate must be a probability per tick (0 to 1), got '${values['stall-rate']}'`);
    return 2;
  }
  const verbose = values.verbose || single;
  let failed = 0;
  const totals = new CampaignTotals();
  const started = performance.now();
  for (let seed = first; seed < first + count; seed++) {
    const r = runSimulation({ seed, operations, ...(values.bug !== undefined ? { bug: values.bug } : {}), ...(membershipRate !== undefined ? { membershipRate } : {}),
      ...(stallRate !== undefined ? { stallRate } : {}),
    });
    totals.add(r);
    if (r.ok) {
      if (verbose) {
        console.log(`seed ${seed}: ok\n  ${describeKnobs(r.knobs)}`);
        console.log(`  ${JSON.stringify(r.stats)}`);
      }
      continue;
    }
    failed += 1;
    console.log(`seed ${seed}: FAILED (${r.check}${r.rule ? `: ${r.rule}` : ''}): ${r.message}`);
    console.log(`  knobs:\n  ${describeKnobs(r.knobs)}`);
    if (verbose) console.log(`  trace:\n    ${r.trace.join('\n    ')}`);
    console.log(`  reproduce: ${r.reproduce}`);
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  if (count > 1) console.log(totals.describe());
  console.log(`${count - failed} of ${count} seeds passed (${totals.operations} client operations, ${secs}s); ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

function intArg(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got '${v}'`);
    process.exit(2);
  }
  return n;
}

process.exitCode = main();

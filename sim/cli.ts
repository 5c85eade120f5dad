/**
 * Long simulation campaigns: `npm run sim -- --seeds N [--seed S] [--ops N] [--membership-rate P] [--stall-rate P] [--pending-max N] [--thrifty on|off] [--coordination [--coordination-ops N]] [--first-failure] [--json] [--verbose]`.
 * With only `--seed S`, runs that one seed and prints its knobs and trace.
 * Every failure prints its seed and the exact command that reproduces it; a
 * campaign prints how often each fault and operation happened.
 */
import { parseArgs } from 'node:util';
import { COORDINATION_KV_OPERATIONS, CampaignTotals, DEFAULT_OPERATIONS, describeKnobs, runSimulation } from './simulation.ts';

const USAGE = 'usage: npm run sim -- [--seeds N] [--seed S] [--ops N] [--membership-rate P] [--stall-rate P] [--pending-max N] [--thrifty on|off] [--coordination [--coordination-ops N]] [--first-failure] [--json] [--verbose]';

function main(): number {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      ops: { type: 'string' },
      'membership-rate': { type: 'string' },
      'stall-rate': { type: 'string' },
      'pending-max': { type: 'string' },
      coordination: { type: 'boolean', default: false },
      'coordination-ops': { type: 'string' },
      thrifty: { type: 'string' },
      'first-failure': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    console.log('  --coordination   the coordination campaign: transactions, leases, a contended lock and watches beside the KV clients (docs/simulation.md)');
    console.log('  --first-failure  stop at the first failing seed');
    console.log('  --json           print one JSON line per failure and one for the summary (for scripts: npm run mutate)');
    return 0;
  }
  const single = values.seed !== undefined && values.seeds === undefined;
  const count = single ? 1 : intArg('seeds', values.seeds ?? '300');
  const first = values.seed !== undefined ? intArg('seed', values.seed) : 1;
  const coordination = values.coordination;
  const operations = values.ops !== undefined ? intArg('ops', values.ops) : coordination ? COORDINATION_KV_OPERATIONS : DEFAULT_OPERATIONS;
  const coordinationOperations = values['coordination-ops'] !== undefined ? intArg('coordination-ops', values['coordination-ops']) : undefined;
  const membershipRate = rateArg('membership-rate', values['membership-rate']);
  const stallRate = rateArg('stall-rate', values['stall-rate']);
  const pendingMax = values['pending-max'] !== undefined ? intArg('pending-max', values['pending-max']) : undefined;
  if (pendingMax === 0) {
    console.error('--pending-max must be at least 1');
    return 2;
  }
  if (values.thrifty !== undefined && values.thrifty !== 'on' && values.thrifty !== 'off') {
    console.error(`--thrifty takes on or off (default: drawn from each seed), got '${values.thrifty}'`);
    return 2;
  }
  const thrifty = values.thrifty === undefined ? undefined : values.thrifty === 'on';
  const json = values.json;
  const verbose = !json && (values.verbose || single);
  let failed = 0;
  const totals = new CampaignTotals();
  const started = performance.now();
  for (let seed = first; seed < first + count; seed++) {
    const r = runSimulation({
      seed,
      operations,
      ...(membershipRate !== undefined ? { membershipRate } : {}),
      ...(stallRate !== undefined ? { stallRate } : {}),
      ...(pendingMax !== undefined ? { pendingMax } : {}),
      ...(coordination ? { coordination } : {}),
      ...(coordinationOperations !== undefined ? { coordinationOperations } : {}),
      ...(thrifty !== undefined ? { thrifty } : {}),
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
    const secs = (performance.now() - started) / 1000;
    if (json) {
      console.log(JSON.stringify({ failure: { seed, check: r.check, rule: r.rule ?? null, message: r.message.split('\n')[0], reproduce: r.reproduce, seconds: secs } }));
    } else {
      console.log(`seed ${seed}: FAILED (${r.check}${r.rule ? `: ${r.rule}` : ''}): ${r.message}`);
      console.log(`  knobs:\n  ${describeKnobs(r.knobs)}`);
      if (verbose) console.log(`  trace:\n    ${r.trace.join('\n    ')}`);
      console.log(`  reproduce: ${r.reproduce}`);
    }
    if (values['first-failure']) break;
  }
  const secs = (performance.now() - started) / 1000;
  if (json) {
    console.log(JSON.stringify({ summary: { seeds: totals.seeds, failed, operations: totals.operations, seconds: secs, counts: totals.counts } }));
  } else {
    if (totals.seeds > 1) console.log(totals.describe());
    console.log(`${totals.seeds - failed} of ${totals.seeds} seeds passed (${totals.operations} client operations, ${secs.toFixed(1)}s); ${failed} failed`);
  }
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

function rateArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const p = Number(v);
  if (!(p >= 0 && p <= 1)) {
    console.error(`--${name} must be a probability per tick (0 to 1), got '${v}'`);
    process.exit(2);
  }
  return p;
}

process.exitCode = main();

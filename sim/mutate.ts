/**
 * The simulator's mutation score: `npm run mutate -- [--mutant NAME]... [--seeds N] [--jobs J] [--seed S] [--check] [--list]`.
 *
 * For each planted bug of sim/mutants.ts: copy the repository's `src/` and
 * `sim/` to a temporary directory, apply the bug's patches there (nothing is
 * planted under src/), and run the random campaign (`sim/cli.ts`) against
 * the copy from seed 1 until the first failure or the bug's seed budget.
 * Reports, per bug: caught or not, by which check, the seed, the seconds.
 * Exits 1 if any bug survives (or a patch no longer applies).
 *
 * `--seed S` runs that one seed against each named mutant, with the trace:
 * the one line that reproduces a catch is `npm run mutate -- --mutant NAME --seed S`.
 * `--check` only verifies that every patch still applies (cheap).
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_MUTANT_SEEDS, MUTANTS, type Mutant, applyMutant } from './mutants.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What the campaign did to one mutant. */
export interface MutantResult {
  readonly name: string;
  readonly area: string;
  readonly caught: boolean;
  /** `safety (rule)`, `linearizability` or `liveness`; null if it survived. */
  readonly caughtBy: string | null;
  readonly seed: number | null;
  readonly seeds: number;
  readonly seconds: number;
  readonly message: string | null;
  readonly reproduce: string | null;
}

/** A copy of the repository's src/ and sim/ with `mutant` applied; returns its directory (the caller removes it). */
export function plant(mutant: Mutant): string {
  const patched = applyMutant(mutant, (file) => readFileSync(join(ROOT, file), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), `edgepaxos-mutant-${mutant.name}-`));
  for (const part of ['src', 'sim']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  for (const [file, text] of patched) writeFileSync(join(dir, file), text);
  return dir;
}

/** Run the campaign against `mutant` for `seeds` seeds (stopping at the first failure). */
export async function runMutant(mutant: Mutant, seeds = mutant.seeds ?? DEFAULT_MUTANT_SEEDS): Promise<MutantResult> {
  const dir = plant(mutant);
  const started = performance.now();
  try {
    const out = await run(process.execPath, [join(dir, 'sim', cliOf(mutant)), '--seeds', String(seeds), '--seed', '1', '--first-failure', '--json', ...campaignArgs(mutant)], dir, reproduceEnv(mutant));
    const seconds = (performance.now() - started) / 1000;
    const lines = out.stdout.split('\n').filter((l) => l.startsWith('{'));
    const failure = lines.map((l) => JSON.parse(l) as { failure?: { seed: number; check: string; rule: string | null; message: string; reproduce: string } }).find((x) => x.failure)?.failure;
    if (!failure && !lines.some((l) => l.includes('"summary"'))) {
      // The copy did not even run the campaign (a patch broke the module): that is not a catch.
      throw new Error(`mutant ${mutant.name}: the campaign did not run (exit ${out.code}):\n${out.stderr.slice(0, 2000)}`);
    }
    return {
      name: mutant.name,
      area: mutant.area,
      caught: failure !== undefined,
      caughtBy: failure ? `${failure.check}${failure.rule ? ` (${failure.rule})` : ''}` : null,
      seed: failure?.seed ?? null,
      seeds,
      seconds,
      message: failure?.message ?? null,
      reproduce: failure?.reproduce ?? null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The campaign in the copy prints, as its reproduce line, how to plant this mutant again (the mutant names its campaign). */
function reproduceEnv(m: Mutant): Record<string, string> {
  return { EDGEPAXOS_REPRODUCE: `npm run mutate -- --mutant ${m.name}`, EDGEPAXOS_REPRODUCE_CAMPAIGN_IMPLIED: '1' };
}

/** The command line of a mutant's campaign: the keyspace campaign's, the follow campaign's, or the plain one's (which also runs the coordination campaign). */
function cliOf(m: Mutant): string {
  return m.campaign === 'keyspace' ? 'keyspace-cli.ts' : m.campaign === 'follow' ? 'follow-cli.ts' : 'cli.ts';
}

/** The campaign a mutant runs against: the plain one, or the coordination campaign (sim/coordination.ts). */
function campaignArgs(m: Mutant): string[] {
  return m.campaign === 'coordination' ? ['--coordination'] : [];
}

function run(cmd: string, args: readonly string[], cwd: string, env: Record<string, string>, inherit = false): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd, stdio: inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
  });
}

/** A markdown table row per result (docs/simulation.md shows one). */
export function describeResults(results: readonly MutantResult[]): string {
  const rows = results.map(
    (r) => `| \`${r.name}\` | ${r.area} | ${r.caught ? r.caughtBy : `**survived** ${r.seeds} seeds`} | ${r.seed ?? '–'} | ${r.seconds.toFixed(1)} |`,
  );
  return ['| planted bug | area | caught by | seed | seconds |', '|---|---|---|---|---|', ...rows].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mutant: { type: 'string', multiple: true },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      jobs: { type: 'string', default: '2' },
      check: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log('usage: npm run mutate -- [--mutant NAME]... [--seeds N] [--jobs J] [--seed S] [--check] [--list]');
    return 0;
  }
  const names = values.mutant ?? [];
  const unknown = names.filter((n) => !MUTANTS.some((m) => m.name === n));
  if (unknown.length > 0) {
    console.error(`unknown mutant ${unknown.join(', ')}; known: ${MUTANTS.map((m) => m.name).join(', ')}`);
    return 2;
  }
  const chosen = names.length > 0 ? MUTANTS.filter((m) => names.includes(m.name)) : MUTANTS;
  if (values.list) {
    for (const m of chosen) console.log(`${m.name} (${m.area}, ${m.seeds ?? DEFAULT_MUTANT_SEEDS} seeds${m.campaign === 'coordination' ? ' of the coordination campaign' : ''}): ${m.bug}`);
    return 0;
  }
  if (values.check) {
    for (const m of chosen) applyMutant(m, (file) => readFileSync(join(ROOT, file), 'utf8'));
    console.log(`all ${chosen.length} mutants apply to the current source`);
    return 0;
  }
  if (values.seed !== undefined) {
    // Reproduce one catch: that seed against each named mutant, with knobs and trace.
    let failed = 0;
    for (const m of chosen) {
      const dir = plant(m);
      try {
        console.log(`== ${m.name}: ${m.bug}`);
        const r = await run(process.execPath, [join(dir, 'sim', cliOf(m)), '--seed', values.seed, ...campaignArgs(m)], dir, reproduceEnv(m), true);
        if (r.code !== 0) failed += 1;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    return failed === chosen.length ? 0 : 1; // each named mutant caught at that seed: reproduced
  }
  const seeds = values.seeds !== undefined ? Number(values.seeds) : undefined;
  const jobs = Math.max(1, Number(values.jobs));
  const started = performance.now();
  const results: MutantResult[] = new Array(chosen.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < chosen.length) {
      const i = next++;
      const m = chosen[i]!;
      const r = await runMutant(m, seeds ?? m.seeds ?? DEFAULT_MUTANT_SEEDS);
      results[i] = r;
      console.log(`${r.caught ? 'caught  ' : 'SURVIVED'} ${m.name}: ${r.caught ? `${r.caughtBy} at seed ${r.seed} (${r.seconds.toFixed(1)}s): ${r.message}` : `${r.seeds} seeds (${r.seconds.toFixed(1)}s)`}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, chosen.length) }, worker));
  const survived = results.filter((r) => !r.caught);
  console.log(`\n${describeResults(results)}\n`);
  console.log(`${results.length - survived.length} of ${results.length} planted bugs caught by the random campaign (${((performance.now() - started) / 1000).toFixed(0)}s, ${jobs} jobs)${survived.length > 0 ? `; survived: ${survived.map((r) => r.name).join(', ')}` : ''}`);
  return survived.length === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 2;
    },
  );
}

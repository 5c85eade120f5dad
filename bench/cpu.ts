/**
 * `npm run bench:cpu -- [--concurrency 16] [--rounds 5] [--seconds 2]`: where
 * edgepaxos's CPU per write goes against the unreplicated baseline's, split
 * by layer (about a minute). Inside workerd, at one concurrency (16 by
 * default: about what the Worker sees through `wrangler dev` when a client
 * keeps 64 in flight, see docs/performance.md), in interleaved rounds:
 *
 * - edgepaxos `http`: `PUT /v1/streams/bench3/kv/{key}` through the Worker's
 *   fetch handler (the whole API);
 * - edgepaxos `bare`: the same write through the Worker's fetch handler to a
 *   bench route that makes only the API's call to the leader
 *   (`StreamClient.write`);
 * - edgepaxos `rpc`: the leader's `write` over DO RPC, no Worker request;
 * - thrifty `rpc`: the same on `bench3t` (each batch to one follower);
 * - baseline `http` and `rpc`: one unreplicated Durable Object.
 *
 * For each, the CPU time workerd spent per write (every thread), the part
 * of it in the thread every isolate runs on, user and system time apart, and
 * the ops/s. Then the differences that name a layer: the API around the
 * call (http - bare), the Worker request and the call (bare - rpc), and the
 * replicated write over the unreplicated one (rpc - baseline rpc). Prints
 * only; it judges nothing.
 */
import { parseArgs } from 'node:util';
import type { LoadPath, LoadTarget } from './protocol.ts';
import { BenchWorkerd } from './workerd.ts';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '2' },
  },
});
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const windowMs = Number(values.seconds) * 1000;
for (const [name, v] of [['--concurrency', concurrency], ['--rounds', rounds], ['--seconds', windowMs]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} takes a positive whole number`);
}

interface System {
  readonly name: string;
  readonly target: LoadTarget;
  readonly path: LoadPath;
}

const SYSTEMS: readonly System[] = [
  { name: 'edgepaxos http', target: { kind: 'edgepaxos', stream: 'bench3' }, path: 'http' },
  { name: 'edgepaxos bare', target: { kind: 'edgepaxos', stream: 'bench3' }, path: 'bare' },
  { name: 'edgepaxos rpc', target: { kind: 'edgepaxos', stream: 'bench3' }, path: 'rpc' },
  { name: 'thrifty rpc', target: { kind: 'edgepaxos', stream: 'bench3t' }, path: 'rpc' },
  { name: 'baseline http', target: { kind: 'baseline' }, path: 'http' },
  { name: 'baseline rpc', target: { kind: 'baseline' }, path: 'rpc' },
];

interface Sum {
  writes: number;
  inWindow: number;
  windowMs: number;
  errors: number;
  firstError: string | null;
  cpuMs: number;
  mainUserMs: number;
  mainSysMs: number;
}

const w = await BenchWorkerd.start(new URL('./wrangler.bench.toml', import.meta.url).pathname);
try {
  await w.settledLeader('bench3', 15_000, 1);
  await w.settledLeader('bench3t', 15_000, 1);
  if (w.threadTimes() === null) throw new Error('bench:cpu reads /proc: Linux only');
  const sums = new Map<string, Sum>(SYSTEMS.map((s) => [s.name, { writes: 0, inWindow: 0, windowMs: 0, errors: 0, firstError: null, cpuMs: 0, mainUserMs: 0, mainSysMs: 0 }]));
  for (let round = 0; round < rounds; round++) {
    for (const s of SYSTEMS) {
      const cpu0 = w.cpuMs()!;
      const t0 = w.threadTimes()![0]!;
      const r = await w.load({ target: s.target, path: s.path, concurrency, warmupMs: 300, durationMs: windowMs, valueBytes: 64 });
      const cpu1 = w.cpuMs()!;
      const t1 = w.threadTimes()![0]!;
      const sum = sums.get(s.name)!;
      sum.writes += r.opsTotal;
      sum.inWindow += r.opsInWindow;
      sum.windowMs += r.windowMs;
      sum.errors += r.errors;
      sum.firstError ??= r.firstError;
      sum.cpuMs += cpu1 - cpu0;
      sum.mainUserMs += t1.userMs - t0.userMs;
      sum.mainSysMs += t1.sysMs - t0.sysMs;
    }
  }
  const perWrite = (ms: number, s: Sum): number => (ms * 1000) / Math.max(1, s.writes);
  const cpu = (name: string): number => perWrite(sums.get(name)!.cpuMs, sums.get(name)!);
  console.log(`workerd CPU per write at c=${concurrency}, ${rounds} interleaved rounds of ${windowMs / 1000} s (µs; "main": the thread every isolate runs on):`);
  for (const s of SYSTEMS) {
    const sum = sums.get(s.name)!;
    const ops = (sum.inWindow * 1000) / Math.max(1, sum.windowMs);
    const errors = sum.errors > 0 ? `  ${sum.errors} errors, first: ${sum.firstError}` : '';
    console.log(
      `  ${s.name.padEnd(15)} ${cpu(s.name).toFixed(0).padStart(5)} µs (main: user ${perWrite(sum.mainUserMs, sum).toFixed(0).padStart(4)}, system ${perWrite(sum.mainSysMs, sum).toFixed(0).padStart(4)})  ${ops.toFixed(0).padStart(5)} ops/s${errors}`,
    );
  }
  const diff = (a: string, b: string): string => `${(cpu(a) - cpu(b)).toFixed(0).padStart(5)} µs`;
  console.log('by layer:');
  console.log(`  the API around the call (edgepaxos http - bare)               ${diff('edgepaxos http', 'edgepaxos bare')}`);
  console.log(`  the Worker request and the call (edgepaxos bare - rpc)        ${diff('edgepaxos bare', 'edgepaxos rpc')}   baseline http - rpc: ${diff('baseline http', 'baseline rpc')}`);
  console.log(`  the replicated write over the unreplicated one (rpc)          ${diff('edgepaxos rpc', 'baseline rpc')}   thrifty: ${diff('thrifty rpc', 'baseline rpc')}`);
  console.log(`  edgepaxos http ÷ baseline http: ${(cpu('edgepaxos http') / cpu('baseline http')).toFixed(2)}x;  bare ÷ baseline http: ${(cpu('edgepaxos bare') / cpu('baseline http')).toFixed(2)}x`);
} finally {
  await w.dispose();
}

/**
 * `npm run bench:outside -- [--port 8792] [--seconds 4] [--rounds 3] [--concurrency 64] [--dashboards on|off] [--bare]`:
 * HTTP writes from outside, through `wrangler dev` itself, as a user trying
 * edgepaxos locally would measure it: the bench Worker (bench/wrangler.bench.toml)
 * under `wrangler dev` on the given port, and a closed loop of `concurrency`
 * writers in this Node process doing `PUT /v1/streams/bench3/kv/{key}` (edgepaxos,
 * 3 replicas) and `PUT /baseline/kv/{key}` (one unreplicated Durable Object
 * behind the same Worker), in alternating rounds with the same client.
 *
 * Each round also prints what explains the ratio: how many writes the Worker
 * was serving at once when each arrived (GET /bench/in-flight), and the CPU
 * time per write of each process of the dev server (workerd, wrangler's Node)
 * and of this client, from /proc. `wrangler dev` runs two workerd processes:
 * wrangler's proxy, which listens on the port and forwards every request to
 * the other, which runs the Worker and its Durable Objects; the summary says
 * what each cost per write, since only the second runs edgepaxos's code.
 *
 * `--bare` adds a third system: the same write through the bench's bare route
 * (`PUT /bench/bare/bench3/{key}`, the API's one call to the leader with
 * nothing of the API around it, as `npm run bench:cpu` has it), to tell
 * what the API layer costs through the dev server from what the replicated
 * write itself does.
 *
 * `--dashboards on` leaves wrangler's local dashboards on (local
 * observability streams every invocation to a tail, as plain `wrangler dev`
 * does by default); `off` (the default, as `npm run dev` and `npm run bench`
 * run) turns them off. See docs/performance.md for what the difference is.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InFlightResult } from './protocol.ts';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const AUTH = { authorization: 'Bearer bench-token', 'content-type': 'application/json' };

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8792' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    dashboards: { type: 'string', default: 'off' },
    bare: { type: 'boolean', default: false },
  },
});
if (values.dashboards !== 'on' && values.dashboards !== 'off') throw new Error(`--dashboards takes on or off, not '${values.dashboards}'`);
const port = Number(values.port);
const windowMs = Number(values.seconds) * 1000;
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const base = `http://127.0.0.1:${port}`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function startDev(): Promise<{ child: ChildProcess; persist: string }> {
  const persist = mkdtempSync(join(tmpdir(), 'edgepaxos-outside-'));
  const dashboards = values.dashboards === 'on' ? {} : { X_LOCAL_OBSERVABILITY: 'false', X_LOCAL_EXPLORER: 'false' };
  // This Node runs wrangler too (the one npm runs us with; wrangler needs a recent one).
  const child = spawn(
    process.execPath,
    [join(HERE, '..', 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'dev', '-c', join(HERE, 'wrangler.bench.toml'), '--port', String(port), '--ip', '127.0.0.1', '--persist-to', persist, '--show-interactive-dev-session=false'],
    { env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false', ...dashboards }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${out.slice(-2000)}`);
    const ok = await fetch(`${base}/bench/leader`, { method: 'POST', body: JSON.stringify({ stream: 'bench3' }) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, persist };
    await sleep(200);
  }
  throw new Error(`wrangler dev did not answer on ${base} within 120 s:\n${out.slice(-2000)}`);
}

async function settled(stream: string): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const r = (await (await fetch(`${base}/bench/leader`, { method: 'POST', body: JSON.stringify({ stream }) })).json()) as { leaderId: number | null };
    if (r.leaderId === 1) return r.leaderId;
    await sleep(100);
  }
  throw new Error(`${stream}: replica 1 did not lead within 30 s`);
}

/**
 * CPU time (ms) used so far by each kind of process under `root` (wrangler's
 * tree: its Node process and workerd), from /proc (Linux only; empty
 * elsewhere). Divided by a round's writes: what a write costs each of them.
 */
function treeCpuMs(root: number): Map<string, number> {
  const out = new Map<string, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d));
  } catch {
    return out;
  }
  const stats = new Map<number, { ppid: number; comm: string; ms: number }>();
  for (const d of entries) {
    try {
      const raw = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = raw.lastIndexOf(')');
      const comm = raw.slice(raw.indexOf('(') + 1, close);
      const f = raw.slice(close + 2).split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), comm, ms: ((Number(f[11]) + Number(f[12])) * 1000) / 100 });
    } catch {
      // gone meanwhile
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = stats.get(p)?.ppid ?? 0, hops++) if (p === root) return true;
    return false;
  };
  for (const [pid, st] of stats) {
    if (!inTree(pid)) continue;
    const kind = st.comm.includes('workerd') ? 'workerd' : st.comm;
    out.set(kind, (out.get(kind) ?? 0) + st.ms);
    if (kind === 'workerd') {
      const part = isDevProxy(pid) ? PROXY : WORKER;
      out.set(part, (out.get(part) ?? 0) + st.ms);
    }
  }
  return out;
}

/** The two workerd processes of `wrangler dev`: wrangler's proxy (it listens on the dev server's port and forwards each request) and the one running the Worker and its Durable Objects. */
const PROXY = 'workerd (proxy)';
const WORKER = 'workerd (Worker)';

function isDevProxy(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`entry=127.0.0.1:${port}`);
  } catch {
    return false;
  }
}

/**
 * The leader's proposals and the inputs that proposed them so far, from
 * GET /metrics (write gathering: their ratio is how many writes shared one
 * input); null when the scrape fails.
 */
async function leaderInputs(stream: string, leaderId: number): Promise<{ proposals: number; inputs: number } | null> {
  const res = await fetch(`${base}/metrics`, { headers: AUTH }).catch(() => null);
  if (!res?.ok) return null;
  const text = await res.text();
  const read = (name: string): number | null => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`stream="${stream}"`) && l.includes(`replica="${leaderId}"`));
    return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const proposals = read('edgepaxos_replica_proposals_total');
  const inputs = read('edgepaxos_replica_proposal_inputs_total');
  return proposals === null || inputs === null ? null : { proposals, inputs };
}

/** A closed loop of `concurrency` writers for `windowMs` after a 1 s warm-up; writes answered inside the window per second. */
async function load(path: string): Promise<{ opsPerSec: number; errors: number; writes: number }> {
  const value = JSON.stringify({ value: 'v'.repeat(64) });
  const start = Date.now() + 1000;
  const end = start + windowMs;
  let ops = 0;
  let errors = 0;
  let writes = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let n = 0; Date.now() < end; n++) {
        const res = await fetch(`${base}${path}w${w}-k${n % 64}`, { method: 'PUT', body: value, headers: AUTH }).catch(() => null);
        if (res) await res.arrayBuffer();
        const at = Date.now();
        if (!res?.ok) errors += 1;
        else writes += 1;
        if (res?.ok && at >= start && at < end) ops += 1;
      }
    }),
  );
  return { opsPerSec: (ops * 1000) / windowMs, errors, writes };
}

const { child, persist } = await startDev();
try {
  console.log(`wrangler dev on ${base} (local dashboards ${values.dashboards}); stream bench3 led by replica ${await settled('bench3')}`);
  const systems = [
    { name: 'baseline', path: '/baseline/kv/' },
    { name: 'edgepaxos-3', path: '/v1/streams/bench3/kv/' },
    ...(values.bare ? [{ name: 'bare-3', path: '/bench/bare/bench3/' }] : []),
  ];
  const sum = new Map(systems.map((s) => [s.name, [] as number[]]));
  const inFlight = new Map(systems.map((s) => [s.name, [] as number[]]));
  const cpuPerWrite = new Map(systems.map((s) => [s.name, [] as number[]]));
  const workerCpuPerWrite = new Map(systems.map((s) => [s.name, [] as number[]]));
  const proxyCpuPerWrite = new Map(systems.map((s) => [s.name, [] as number[]]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < systems.length; i++) {
      const s = systems[(i + r) % systems.length]!;
      if (s.name !== 'baseline') await settled('bench3');
      await fetch(`${base}/bench/in-flight`).then((r) => r.arrayBuffer()); // reset
      const inputs0 = s.name === 'baseline' ? null : await leaderInputs('bench3', 1);
      const cpu0 = treeCpuMs(child.pid!);
      const client0 = process.cpuUsage();
      const res = await load(s.path);
      const used = process.cpuUsage(client0);
      const clientMs = (used.user + used.system) / 1000;
      const cpu1 = treeCpuMs(child.pid!);
      const seen = (await (await fetch(`${base}/bench/in-flight`)).json()) as InFlightResult;
      sum.get(s.name)!.push(res.opsPerSec);
      inFlight.get(s.name)!.push(seen.mean);
      // Every write of the round, warm-up included (the CPU was read around all of it).
      const writes = Math.max(1, res.writes);
      const perWrite = [...cpu1].map(([kind, ms]) => `${kind} ${Math.round(((ms - (cpu0.get(kind) ?? 0)) * 1000) / writes)}`).join(', ');
      const used1 = (kind: string): number => (((cpu1.get(kind) ?? 0) - (cpu0.get(kind) ?? 0)) * 1000) / writes;
      cpuPerWrite.get(s.name)!.push(used1('workerd'));
      workerCpuPerWrite.get(s.name)!.push(used1(WORKER));
      proxyCpuPerWrite.get(s.name)!.push(used1(PROXY));
      console.log(
        `round ${r + 1} ${s.name.padEnd(12)} c=${concurrency} ${res.opsPerSec.toFixed(0)} ops/s${res.errors ? ` (${res.errors} errors)` : ''}; writes in flight at the Worker: mean ${seen.mean.toFixed(1)}, max ${seen.max}`,
      );
      console.log(`        CPU per write (µs): ${perWrite}, this client ${Math.round((clientMs * 1000) / writes)}`);
      const inputs1 = inputs0 === null ? null : await leaderInputs('bench3', 1);
      if (inputs0 && inputs1 && inputs1.inputs > inputs0.inputs) {
        console.log(`        the leader proposed ${((inputs1.proposals - inputs0.proposals) / (inputs1.inputs - inputs0.inputs)).toFixed(2)} writes per input (write gathering)`);
      }
    }
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const e = mean(sum.get('edgepaxos-3')!);
  const b = mean(sum.get('baseline')!);
  console.log(`HTTP through wrangler dev, c=${concurrency}: edgepaxos ${e.toFixed(0)} ops/s, baseline ${b.toFixed(0)} ops/s: ${(e / b).toFixed(2)}x`);
  console.log(`workerd CPU per write (mean over the rounds): edgepaxos ${mean(cpuPerWrite.get('edgepaxos-3')!).toFixed(0)} µs, baseline ${mean(cpuPerWrite.get('baseline')!).toFixed(0)} µs`);
  const ew = mean(workerCpuPerWrite.get('edgepaxos-3')!);
  const bw = mean(workerCpuPerWrite.get('baseline')!);
  console.log(
    `  of which the Worker's workerd: edgepaxos ${ew.toFixed(0)} µs, baseline ${bw.toFixed(0)} µs (${(ew / bw).toFixed(2)}x); wrangler's proxy: edgepaxos ${mean(proxyCpuPerWrite.get('edgepaxos-3')!).toFixed(0)} µs, baseline ${mean(proxyCpuPerWrite.get('baseline')!).toFixed(0)} µs`,
  );
  if (values.bare) {
    const a = mean(sum.get('bare-3')!);
    const aw = mean(workerCpuPerWrite.get('bare-3')!);
    console.log(`the bare route (the call to the leader without the API around it): ${a.toFixed(0)} ops/s, ${(a / b).toFixed(2)}x the baseline's; the Worker's workerd ${aw.toFixed(0)} µs per write (${(aw / bw).toFixed(2)}x)`);
  }
  console.log(`writes in flight at the Worker (mean over the rounds): edgepaxos ${mean(inFlight.get('edgepaxos-3')!).toFixed(1)}, baseline ${mean(inFlight.get('baseline')!).toFixed(1)} (the client keeps ${concurrency} in flight)`);
} finally {
  if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
  await sleep(500);
  rmSync(persist, { recursive: true, force: true });
}

/**
 * `npm run bench:profile`: where the time of one replicated write goes at
 * concurrency 1 (about a minute). Two measurements:
 *
 * 1. edgepaxos's own work, without the runtime: the three replicas of a
 *    stream as ClockedHosts in Node (in-memory storage, messages through a
 *    JSON round trip as over RPC), writes one after another; CPU time per
 *    write for all three replicas together.
 * 2. A CPU profile of workerd during a c=1 load on `bench3` (over DO RPC),
 *    taken through the DevTools inspector: the share of the sampled time
 *    spent in each function (self time), top first, and a few named groups.
 *
 * Prints only; it judges nothing (the c=1 goal is judged by `npm run bench`).
 */
import { HostCluster } from '../test/host/host-cluster.ts';
import { BenchWorkerd } from './workerd.ts';

const CONFIG_PATH = new URL('./wrangler.bench.toml', import.meta.url).pathname;
const INSPECTOR_PORT = 9231;

async function hostCpuPerWrite(writes: number): Promise<number> {
  const c = new HostCluster({
    name: 'profile',
    tick_ms: 10,
    heartbeat_interval_ms: 50,
    election_timeout_ms: 300,
    replicas: [
      { id: 1, region: 'wnam', priority: 3 },
      { id: 2, region: 'weur', priority: 2 },
      { id: 3, region: 'apac', priority: 1 },
    ],
  });
  await c.run(2_000);
  const leader = c.leaders()[0]?.id;
  if (leader === undefined) throw new Error('profile: no leader in the Node cluster');
  for (let i = 0; i < 200; i++) await c.write(leader, `warm${i % 64}`); // let the JIT settle
  const t0 = performance.now();
  for (let i = 0; i < writes; i++) {
    const outcome = await c.write(leader, `k${i % 64}`);
    if (outcome !== 'applied') throw new Error(`profile: write ${i} ended ${outcome}`);
  }
  return ((performance.now() - t0) * 1000) / writes;
}

interface CpuProfile {
  readonly nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** A minimal DevTools protocol client over the inspector's WebSocket. */
async function inspector(url: string): Promise<{ call: (method: string, params?: object) => Promise<Record<string, unknown>>; close: () => void }> {
  // Wrangler's inspector proxy wants an Origin it allows; undici's WebSocket takes headers.
  const ws = new WebSocket(url, { headers: { Origin: 'http://localhost' } } as unknown as string[]);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error(`profile: cannot connect to the inspector at ${url}`)));
  });
  let next = 0;
  const pending = new Map<number, (result: Record<string, unknown>) => void>();
  ws.addEventListener('message', (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, unknown> };
    if (m.id !== undefined) pending.get(m.id)?.(m.result ?? {});
    if (m.id !== undefined) pending.delete(m.id);
  });
  return {
    call: (method, params = {}) =>
      new Promise((resolve) => {
        const id = ++next;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

async function workerdProfile(durationMs: number): Promise<void> {
  const w = await BenchWorkerd.start(CONFIG_PATH, INSPECTOR_PORT);
  try {
    await w.settledLeader('bench3', 15_000, 1);
    const list = (await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json()) as { webSocketDebuggerUrl: string }[];
    const target = list[0]?.webSocketDebuggerUrl;
    if (!target) throw new Error('profile: the inspector lists no target');
    const devtools = await inspector(target);
    const load = { target: { kind: 'edgepaxos', stream: 'bench3' }, path: 'rpc', concurrency: 1, valueBytes: 64 } as const;
    await w.load({ ...load, warmupMs: 200, durationMs: 500 });
    await devtools.call('Profiler.enable');
    await devtools.call('Profiler.setSamplingInterval', { interval: 50 });
    await devtools.call('Profiler.start');
    const r = await w.load({ ...load, warmupMs: 0, durationMs });
    const { profile } = (await devtools.call('Profiler.stop')) as unknown as { profile: CpuProfile };
    devtools.close();
    console.log(`workerd, bench3 over DO RPC at c=1: ${r.opsInWindow} writes in ${durationMs} ms (mean ${(durationMs / r.opsInWindow).toFixed(3)} ms)`);
    const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
    const selfUs = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const f = byNode.get(id)!.callFrame;
      const name = f.url ? `${f.functionName || '(anonymous)'} (${f.url.split('/').pop()}:${f.lineNumber + 1})` : f.functionName || '(anonymous)';
      const us = profile.timeDeltas[i] ?? 0;
      selfUs.set(name, (selfUs.get(name) ?? 0) + us);
      total += us;
    });
    const share = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
    console.log('self time by function, top 20 (the worker bundle is bench/worker.ts and what it imports):');
    for (const [name, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${share(us)}  ${name}`);
    const group = (test: (name: string) => boolean): number => [...selfUs].filter(([n]) => test(n)).reduce((a, [, us]) => a + us, 0);
    console.log('groups:');
    console.log(`  ${share(group((n) => /^(exec|transactionSync)$/.test(n)))}  SQLite (exec, transactionSync)`);
    console.log(`  ${share(group((n) => n.includes('_zod')))}  zod (message validation)`);
    console.log(`  ${share(group((n) => /^(setTimeout|clearTimeout)$/.test(n)))}  setTimeout / clearTimeout`);
    console.log(`  ${share(group((n) => n === '(idle)' || n === '(program)'))}  idle and runtime (program)`);
  } finally {
    await w.dispose();
  }
}

const writes = 20_000;
console.log(`edgepaxos's own work per write, 3 replicas in Node (in-memory storage, JSON round trips), ${writes} writes: ${(await hostCpuPerWrite(writes)).toFixed(1)} µs`);
await workerdProfile(3_000);

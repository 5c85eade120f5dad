// SCRATCH (not committed): workerd CPU per write, edgepaxos vs baseline, HTTP and RPC, at a few concurrencies.
import { BenchWorkerd } from './workerd.ts';
const CONFIG_PATH = new URL('./wrangler.bench.toml', import.meta.url).pathname;
const w = await BenchWorkerd.start(CONFIG_PATH);
try {
  await w.settledLeader('bench3', 15_000, 1);
  const conc = (process.env.CONC ?? '16').split(',').map(Number);
  const paths = (process.env.PATHS ?? 'http,rpc').split(',') as ('http' | 'rpc')[];
  const rounds = Number(process.env.ROUNDS ?? 3);
  const res = new Map<string, { cpu: number; ops: number; win: number; opsWin: number }>();
  for (let r = 0; r < rounds; r++)
    for (const c of conc)
      for (const path of paths)
        for (const target of [{ kind: 'edgepaxos', stream: 'bench3' }, { kind: 'baseline' }] as const) {
          const cpu0 = w.cpuMs()!;
          const raw = await w.load({ target, path, concurrency: c, warmupMs: 300, durationMs: 2000, valueBytes: 64 } as never);
          const cpu1 = w.cpuMs()!;
          const k = `${path} c=${c} ${target.kind}`;
          const a = res.get(k) ?? { cpu: 0, ops: 0, win: 0, opsWin: 0 };
          a.cpu += cpu1 - cpu0; a.ops += raw.opsTotal; a.opsWin += raw.opsInWindow; a.win += raw.windowMs;
          res.set(k, a);
          if (raw.errors) console.log(k, 'errors', raw.errors, raw.firstError);
        }
  for (const [k, a] of res) console.log(`${k.padEnd(28)} ${((a.cpu * 1000) / a.ops).toFixed(0).padStart(6)} µs/write  ${((a.opsWin * 1000) / a.win).toFixed(0)} ops/s`);
} finally {
  await w.dispose();
}

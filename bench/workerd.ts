/**
 * The bench Worker under workerd, started and stopped from Node through
 * wrangler's programmatic API (the same runtime `wrangler dev` uses), offline
 * and with a fresh persistence directory, plus a typed client for its
 * `/bench/*` control routes.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unstable_readConfig, unstable_startWorker } from 'wrangler';
import type {
  FailoverRequest,
  FailoverResult,
  FirstWriteResult,
  LeaderResult,
  LoadRequest,
  LoadResult,
  MetricsResult,
  SlowLinkRequest,
} from './protocol.ts';

type StartedWorker = Awaited<ReturnType<typeof unstable_startWorker>>;

/** workerd's own diagnostics (not the Worker's console), counted by message and by the phase of the run they came in. */
export interface RuntimeLogCount {
  readonly level: string;
  readonly message: string;
  readonly phase: string;
  count: number;
}

/** The `vars` of a wrangler config, as the Worker will see them. */
export function readVars(configPath: string): Record<string, unknown> {
  const config = unstable_readConfig({ config: configPath }, { hideWarnings: true });
  return config.vars as Record<string, unknown>;
}

export class BenchWorkerd {
  private readonly worker: StartedWorker;
  private readonly persistDir: string;
  private readonly logs: LogSink;
  private disposed = false;

  private constructor(worker: StartedWorker, persistDir: string, logs: LogSink) {
    this.worker = worker;
    this.persistDir = persistDir;
    this.logs = logs;
  }

  /** Names the part of the run that workerd diagnostics arriving from now on belong to. */
  set phase(phase: string) {
    this.logs.phase = phase;
  }

  /** workerd's own diagnostics so far, counted rather than printed. */
  runtimeLogs(): readonly RuntimeLogCount[] {
    return [...this.logs.counts.values()];
  }

  /** Start the Worker of `configPath` with empty storage; resolves once it serves requests. `inspectorPort`: open the DevTools inspector there (bench/profile.ts). */
  static async start(configPath: string, inspectorPort?: number): Promise<BenchWorkerd> {
    // Offline and quiet: no cf-object fetch, no telemetry.
    process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';
    process.env.WRANGLER_SEND_METRICS = 'false';
    // No local dev dashboards. Local observability attaches a streaming tail to every invocation;
    // with several invocations per replicated write (the write, then each peer's deliver) it
    // costs edgepaxos half its throughput or more here, and production has nothing like it.
    process.env.X_LOCAL_OBSERVABILITY = 'false';
    process.env.X_LOCAL_EXPLORER = 'false';
    const persistDir = await mkdtemp(join(tmpdir(), 'edgepaxos-bench-'));
    const logs = new LogSink();
    try {
      const worker = await unstable_startWorker({
        config: configPath,
        dev: {
          persist: persistDir,
          watch: false,
          inspector: inspectorPort === undefined ? false : { port: inspectorPort },
          server: { port: 0 },
          logLevel: 'warn',
          structuredLogsHandler: (log: { level: string; message: string }) => logs.onLog(log.level, log.message),
        },
      });
      await worker.ready;
      return new BenchWorkerd(worker, persistDir, logs);
    } catch (e) {
      await rm(persistDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Stop workerd and delete the persistence directory; safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.worker.dispose();
    } finally {
      await rm(this.persistDir, { recursive: true, force: true });
    }
  }

  /**
   * CPU time workerd has used so far, in milliseconds (every thread, from
   * /proc/<pid>/task/<tid>/schedstat: nanoseconds on a CPU), or null where
   * that cannot be read (not Linux). Every Durable Object and the load
   * generator run in this one process, so the CPU time a run of writes took,
   * divided by the writes, is what one write costs the machine: unlike the
   * latency, it hardly depends on what else the shared machine is running.
   */
  cpuMs(): number | null {
    this.workerdPid ??= findWorkerdPid();
    const pid = this.workerdPid;
    if (pid === null) return null;
    try {
      let ns = 0;
      for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      return ns / 1e6;
    } catch {
      return null;
    }
  }

  /**
   * CPU time of each workerd thread so far, user and system apart (from
   * /proc/<pid>/task/<tid>/stat, in clock ticks of 10 ms), or null where that
   * cannot be read. The first is the thread every isolate runs on.
   */
  threadTimes(): { name: string; userMs: number; sysMs: number }[] | null {
    this.workerdPid ??= findWorkerdPid();
    const pid = this.workerdPid;
    if (pid === null) return null;
    try {
      return readdirSync(`/proc/${pid}/task`)
        .sort((a, b) => Number(a) - Number(b))
        .map((tid) => {
          const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          const close = stat.lastIndexOf(')');
          const fields = stat.slice(close + 2).split(' ');
          // utime and stime are fields 14 and 15 of stat (11 and 12 after the state field here), in USER_HZ = 100.
          return { name: stat.slice(stat.indexOf('(') + 1, close), userMs: Number(fields[11]) * 10, sysMs: Number(fields[12]) * 10 };
        });
    } catch {
      return null;
    }
  }

  private workerdPid: number | null | undefined;

  /** The DevTools inspector's URL, when started with one. */
  async inspectorUrl(): Promise<URL | undefined> {
    return this.worker.inspectorUrl;
  }

  load(req: LoadRequest): Promise<LoadResult> {
    return this.post('/bench/load', req);
  }

  leader(stream: string): Promise<LeaderResult> {
    return this.post('/bench/leader', { stream });
  }

  metrics(stream: string): Promise<MetricsResult> {
    return this.post('/bench/metrics', { stream });
  }

  firstWrite(stream: string): Promise<FirstWriteResult> {
    return this.post('/bench/first-write', { stream });
  }

  failover(req: FailoverRequest): Promise<FailoverResult> {
    return this.post('/bench/failover', req);
  }

  async slowLink(req: SlowLinkRequest): Promise<void> {
    const res = await this.post<{ ok: boolean }>('/bench/slow-link', req);
    if (!res.ok) throw new Error(`slow link ${JSON.stringify(req)} refused`);
  }

  /** Poll until every replica of `stream` follows one leader (and it is `want`, if given); returns it. */
  async settledLeader(stream: string, timeoutMs: number, want?: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last: LeaderResult | null = null;
    while (Date.now() < deadline) {
      last = await this.leader(stream);
      if (last.leaderId !== null && (want === undefined || last.leaderId === want)) return last.leaderId;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`stream ${stream}: no settled leader${want !== undefined ? ` ${want}` : ''} within ${timeoutMs} ms: ${JSON.stringify(last?.views)}`);
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    const res = await this.worker.fetch(`http://bench.local${path}`, { method: 'POST', body: JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }
}

/**
 * Where workerd's log lines go. The Worker's own output is printed as it
 * comes; workerd's internal diagnostics (`exception = workerd/...`,
 * `NOSENTRY ...`) can arrive by the hundred under load, so they are counted,
 * by message (digits folded) and phase, and reported at the end.
 */
class LogSink {
  phase = 'start';
  readonly counts = new Map<string, RuntimeLogCount>();

  onLog(level: string, message: string): void {
    const firstLine = message.split('\n')[0] ?? '';
    if (!/^exception = workerd\/|NOSENTRY/.test(firstLine)) {
      process.stdout.write(`workerd ${level}: ${message.trimEnd()}\n`);
      return;
    }
    const folded = firstLine
      .replace(/[0-9a-f]{64}/g, '<id>')
      .replace(/\d+(\.\d+)?/g, '#')
      .slice(0, 200);
    const key = `${this.phase}|${level}|${folded}`;
    const hit = this.counts.get(key);
    if (hit) hit.count += 1;
    else this.counts.set(key, { level, message: folded, phase: this.phase, count: 1 });
  }
}

/** The workerd process this Node process started (a descendant named workerd; the newest if several), or null. */
function findWorkerdPid(): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return null;
  }
  const parentOf = new Map<number, number>();
  const workerds: number[] = [];
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      parentOf.set(Number(e), ppid);
      if (comm === 'workerd') workerds.push(Number(e));
    } catch {
      // it exited meanwhile
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 32; hops++) {
      if (p === process.pid) return true;
      p = parentOf.get(p) ?? 0;
    }
    return false;
  };
  const mine = workerds.filter(descends).sort((a, b) => b - a);
  return mine[0] ?? null;
}

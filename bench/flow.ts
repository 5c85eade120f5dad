/**
 * The flow-control sweep: the same 3-replica stream under a grid of fixed
 * pipeline depths and batch windows, and under the adaptive controller, at
 * several loads (DO RPC, closed loop). The adaptive setting is judged against
 * the best fixed setting at each load. Then the slow-follower check: one
 * follower's link gets an added delay, and the decided rate is compared with
 * the same stream's healthy rate.
 *
 * Throughput at a concurrency is also latency (a closed loop of c writers
 * decides c / mean latency per second), so one ratio covers both.
 */
import type { LoadResult } from './protocol.ts';
import type { BenchWorkerd } from './workerd.ts';

/** The fixed settings of bench/wrangler.bench.toml, by stream. */
export const FLOW_FIXED = [
  { stream: 'flow-d1', label: 'depth 1' },
  { stream: 'flow-d2', label: 'depth 2' },
  { stream: 'flow-d4', label: 'depth 4' },
  { stream: 'flow-d8', label: 'depth 8' },
  { stream: 'flow-d2-w8', label: 'depth 2, window 8' },
  { stream: 'flow-d4-w8', label: 'depth 4, window 8' },
  { stream: 'flow-d8-w8', label: 'depth 8, window 8' },
] as const;
export const FLOW_ADAPTIVE = { stream: 'flow-adaptive', label: 'adaptive' } as const;
export const FLOW_CONCURRENCIES = [1, 16, 64] as const;
/** The adaptive setting's goal: at least this fraction of the best fixed setting's throughput. */
export const FLOW_GOAL = 0.9;
/** Slow-follower check: extra one-way delay on the leader's link to one follower, in ms. */
export const SLOW_LINK_DELAY_MS = 20;
/** Slow-follower check: the decided rate with the slow follower, at least this fraction of the healthy one. */
export const SLOW_FOLLOWER_GOAL = 0.9;

export interface FlowPlan {
  readonly rounds: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly valueBytes: number;
}

export interface FlowCell {
  readonly stream: string;
  readonly label: string;
  readonly concurrency: number;
  /** ops/s of each round, in order (the verdict takes their median). */
  readonly opsPerSec: number[];
  readonly errors: number;
}

export interface SlowFollowerResult {
  readonly stream: string;
  readonly label: string;
  readonly healthyOpsPerSec: number;
  readonly slowOpsPerSec: number;
  readonly errors: number;
}

export interface FlowResults {
  readonly cells: FlowCell[];
  readonly slow: SlowFollowerResult[];
}

/** The median: the machine is shared and its speed drifts, so a round that caught a busy moment should not count. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const opsPerSec = (r: LoadResult): number => (r.opsInWindow * 1000) / r.windowMs;

/**
 * Every setting at every load, `rounds` times, in short windows. Within a
 * round the settings run back to back in an order that rotates from round to
 * round, so a drift of the machine's speed (on a shared machine, other work)
 * spreads over all of them; each setting's figure is its median.
 */
export async function measureFlow(w: BenchWorkerd, plan: FlowPlan, say: (line: string) => void): Promise<FlowResults> {
  const settings = [...FLOW_FIXED, FLOW_ADAPTIVE];
  for (const s of settings) await w.settledLeader(s.stream, 15_000, 1);
  const cells = new Map<string, { stream: string; label: string; concurrency: number; opsPerSec: number[]; errors: number }>();
  for (let round = 0; round < plan.rounds; round++) {
    for (const concurrency of FLOW_CONCURRENCIES) {
      for (let i = 0; i < settings.length; i++) {
        const s = settings[(i + round) % settings.length]!;
        w.phase = `flow ${s.stream} c=${concurrency}`;
        await w.settledLeader(s.stream, 15_000);
        const raw = await w.load({ target: { kind: 'edgepaxos', stream: s.stream }, path: 'rpc', concurrency, warmupMs: plan.warmupMs, durationMs: plan.windowMs, valueBytes: plan.valueBytes });
        const key = `${s.stream}|${concurrency}`;
        const cell = cells.get(key) ?? { stream: s.stream, label: s.label, concurrency, opsPerSec: [], errors: 0 };
        cell.opsPerSec.push(opsPerSec(raw));
        cell.errors += raw.errors;
        cells.set(key, cell);
        const depth = s === FLOW_ADAPTIVE ? `, depth now ${(await w.metrics(s.stream)).replicas.find((x) => x.replicaId === 1)?.metrics?.flow_inflight_max ?? '?'}` : '';
        say(`flow         ${s.label.padEnd(18)} c=${String(concurrency).padEnd(3)} round ${round + 1}: ${opsPerSec(raw).toFixed(0).padStart(6)} ops/s${depth}${raw.errors ? ` (${raw.errors} errors, first: ${raw.firstError})` : ''}`);
      }
    }
  }

  // The slow follower: the leader's link to replica 3 gets SLOW_LINK_DELAY_MS each way, so
  // replica 2 is the only follower that can make a quorum in time. The decided rate should not care.
  const slow: SlowFollowerResult[] = [];
  for (const s of [FLOW_ADAPTIVE, FLOW_FIXED[3]]) {
    w.phase = `slow follower ${s.stream}`;
    const leader = await w.settledLeader(s.stream, 15_000, 1);
    const load = () => w.load({ target: { kind: 'edgepaxos', stream: s.stream }, path: 'rpc', concurrency: 64, warmupMs: plan.warmupMs, durationMs: plan.windowMs, valueBytes: plan.valueBytes });
    const healthy: number[] = [];
    const slowed: number[] = [];
    let errors = 0;
    for (let round = 0; round < plan.rounds; round++) {
      const h = await load();
      await w.slowLink({ stream: s.stream, from: leader, to: 3, delayMs: SLOW_LINK_DELAY_MS });
      let d: LoadResult;
      try {
        d = await load();
      } finally {
        await w.slowLink({ stream: s.stream, from: leader, to: 3, delayMs: null });
      }
      healthy.push(opsPerSec(h));
      slowed.push(opsPerSec(d));
      errors += h.errors + d.errors;
      say(`slow         ${s.label.padEnd(18)} c=64  round ${round + 1}: healthy ${opsPerSec(h).toFixed(0).padStart(6)} ops/s, replica 3 ${SLOW_LINK_DELAY_MS} ms away each way ${opsPerSec(d).toFixed(0).padStart(6)} ops/s`);
    }
    slow.push({ stream: s.stream, label: s.label, healthyOpsPerSec: median(healthy), slowOpsPerSec: median(slowed), errors });
  }
  return { cells: [...cells.values()], slow };
}

/**
 * A setting's score at one load: in each round, its ops/s divided by the
 * median ops/s of all settings in that round (which takes out how busy the
 * machine was during the round), then the median of that over the rounds.
 */
export function flowScores(r: FlowResults, concurrency: number): Map<string, number> {
  return new Map([...normalisedRounds(r, concurrency)].map(([stream, xs]) => [stream, median(xs.filter(Number.isFinite))]));
}

/** Each setting's round-normalised ops/s (see flowScores) in every round at one load, by stream. */
function normalisedRounds(r: FlowResults, concurrency: number): Map<string, number[]> {
  const cells = r.cells.filter((c) => c.concurrency === concurrency);
  const rounds = Math.min(...cells.map((c) => c.opsPerSec.length));
  const normalised = new Map<string, number[]>(cells.map((c) => [c.stream, []]));
  for (let i = 0; i < rounds; i++) {
    const norm = median(cells.map((c) => c.opsPerSec[i]!));
    for (const c of cells) normalised.get(c.stream)!.push(norm > 0 ? c.opsPerSec[i]! / norm : Number.NaN);
  }
  return normalised;
}

/**
 * The adaptive setting against the best fixed one, judged on rounds that did
 * not choose it (leave one out). Picking the best of seven fixed settings by
 * their scores and then reading that same score is biased upward: with seven
 * noisy figures of nearly equal settings (at concurrency 1 the depth hardly
 * matters), the largest is mostly the luckiest, and the adaptive setting,
 * measured once, reads below 1 even when it is as good. Here, for each round,
 * the best fixed setting is chosen by its median score over the other rounds,
 * and the adaptive setting's score in the round is divided by that setting's
 * score in the same round; the verdict is the median of those ratios. `picks`:
 * the setting chosen for each round.
 */
export function flowHeldOut(r: FlowResults, concurrency: number): { ratio: number; picks: string[] } {
  const normalised = normalisedRounds(r, concurrency);
  const adaptive = normalised.get(FLOW_ADAPTIVE.stream);
  const fixed = FLOW_FIXED.filter((f) => normalised.has(f.stream));
  if (!adaptive || fixed.length === 0) return { ratio: Number.NaN, picks: [] };
  const ratios: number[] = [];
  const picks: string[] = [];
  for (let i = 0; i < adaptive.length; i++) {
    const others = (xs: readonly number[]): number[] => xs.filter((x, j) => j !== i && Number.isFinite(x));
    const pick = fixed.reduce((a, b) => (median(others(normalised.get(b.stream)!)) > median(others(normalised.get(a.stream)!)) ? b : a));
    picks.push(pick.label);
    const ratio = adaptive[i]! / normalised.get(pick.stream)![i]!;
    if (Number.isFinite(ratio)) ratios.push(ratio);
  }
  return { ratio: median(ratios), picks };
}

/** For each load: the best fixed setting, the adaptive one, and their scores (flowScores) and median ops/s. */
export function flowVerdicts(r: FlowResults): {
  concurrency: number;
  best: FlowCell;
  bestScore: number;
  bestOps: number;
  adaptive: FlowCell | undefined;
  adaptiveScore: number;
  adaptiveOps: number;
}[] {
  return FLOW_CONCURRENCIES.map((concurrency) => {
    const scores = flowScores(r, concurrency);
    const fixed = r.cells.filter((c) => c.concurrency === concurrency && c.stream !== FLOW_ADAPTIVE.stream);
    const best = fixed.reduce((a, b) => (scores.get(b.stream)! > scores.get(a.stream)! ? b : a));
    const adaptive = r.cells.find((c) => c.concurrency === concurrency && c.stream === FLOW_ADAPTIVE.stream);
    return {
      concurrency,
      best,
      bestScore: scores.get(best.stream)!,
      bestOps: median(best.opsPerSec),
      adaptive,
      adaptiveScore: adaptive ? scores.get(adaptive.stream)! : Number.NaN,
      adaptiveOps: adaptive ? median(adaptive.opsPerSec) : Number.NaN,
    };
  });
}

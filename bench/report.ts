/**
 * Rows of the final table: one figure of edgepaxos, the baseline it is
 * compared with (measured in the same run), their ratio, and the goal of the
 * throughput/latency issue when there is one.
 */
import { build } from 'hdr-histogram-js';

/** A goal on the ratio (edgepaxos / baseline) or on edgepaxos's figure itself. */
export interface Goal {
  readonly on: 'ratio' | 'value';
  readonly op: '>=' | '<=';
  readonly target: number;
  /** How the goal reads in the table, e.g. ">= 1.0x". */
  readonly text: string;
}

export interface Row {
  readonly measure: string;
  readonly unit: string;
  readonly edgepaxos: number | null;
  readonly baseline: number | null;
  /** edgepaxos / baseline, when both are there and the baseline is not 0. */
  readonly ratio: number | null;
  readonly goal: Goal | null;
  /** null: no goal, or no figure that can tell (shown as `unknown`). */
  readonly met: boolean | null;
  /** Why a figure is missing, or what to keep in mind reading it. */
  readonly note?: string;
}

/**
 * One row. With `lowerBound`, the edgepaxos figure may be short of the truth
 * (counters were lost): it can show that a `<=` goal is missed, never that it
 * is met, so such a row is `unknown` rather than `met`.
 */
export function row(
  measure: string,
  unit: string,
  edgepaxos: number | null,
  baseline: number | null,
  goal: Goal | null = null,
  note?: string,
  lowerBound = false,
): Row {
  const ratio = edgepaxos !== null && baseline !== null && baseline !== 0 && Number.isFinite(edgepaxos) ? edgepaxos / baseline : null;
  let met: boolean | null = null;
  if (goal) {
    const x = goal.on === 'ratio' ? ratio : edgepaxos;
    if (x !== null && Number.isFinite(x)) met = goal.op === '>=' ? x >= goal.target : x <= goal.target;
    if (lowerBound && goal.op === '<=' && met === true) met = null;
  }
  return { measure, unit, edgepaxos, baseline, ratio, goal, met, ...(note ? { note } : {}) };
}

export const atLeast = (target: number, on: Goal['on'] = 'ratio'): Goal => ({ on, op: '>=', target, text: `>= ${fmtGoal(target, on)}` });
export const atMost = (target: number, on: Goal['on'] = 'ratio'): Goal => ({ on, op: '<=', target, text: `<= ${fmtGoal(target, on)}` });

function fmtGoal(target: number, on: Goal['on']): string {
  return on === 'ratio' ? `${target.toFixed(Number.isInteger(target * 10) ? 1 : 2)}x` : String(target);
}

/** p50, p99, mean and max of whole-millisecond latencies, through an HDR histogram (3 significant digits). */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
}

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  if (latenciesMs.length === 0) return { count: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, meanMs: Number.NaN, maxMs: Number.NaN };
  const h = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  try {
    for (const ms of latenciesMs) h.recordValue(Math.max(0, Math.round(ms)));
    return {
      count: h.totalCount,
      p50Ms: h.getValueAtPercentile(50),
      p99Ms: h.getValueAtPercentile(99),
      meanMs: h.mean,
      maxMs: h.maxValue,
    };
  } finally {
    h.destroy();
  }
}

export function fmt(x: number | null, unit = ''): string {
  if (x === null || !Number.isFinite(x)) return '—';
  const abs = Math.abs(x);
  const digits = abs >= 100 || Number.isInteger(x) ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 4;
  return `${x.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

/** The final table, in Markdown. */
export function table(rows: readonly Row[]): string {
  const head = ['measure', 'edgepaxos', 'baseline', 'ratio', 'goal', 'met'];
  const body = rows.map((r) => [
    r.note ? `${r.measure} (${r.note})` : r.measure,
    fmt(r.edgepaxos, r.unit),
    fmt(r.baseline, r.unit),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}x`,
    r.goal?.text ?? '—',
    r.goal === null ? '—' : r.met === null ? 'unknown' : r.met ? 'met' : 'NOT met',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

import { DurableObject } from 'cloudflare:workers';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';

/**
 * Request counts and latencies by route and status, measured in the Worker.
 *
 * Worker isolates are many and short-lived, so each one counts in memory and
 * now and then (at most every FLUSH_MS, on a request, in the background with
 * waitUntil) sends what it counted since its last flush to one Durable
 * Object, RequestMetrics, which adds the deltas up and stores them. No
 * request waits for that, and there is one RPC per isolate per FLUSH_MS, not
 * one per request. `GET /metrics` flushes its own isolate first, then reads
 * the totals.
 *
 * What can be lost: what an isolate counted since its last flush when it is
 * evicted or dies before the next one (at most FLUSH_MS of its requests),
 * and a flush whose RPC fails is retried with the next one (its deltas are
 * put back). Counts are never double-counted: a flush is one transaction.
 */

/** An isolate sends its counts at most this often. */
export const FLUSH_MS = 10_000;
/** Latency buckets, in seconds (le), as Prometheus' defaults. */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const METHODS = new Set(['GET', 'PUT', 'POST', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
/** The name of the one aggregating Durable Object. */
const OBJECT_NAME = 'requests';

/** One series: requests of one method, route and status. `buckets[i]` counts those that took at most LATENCY_BUCKETS_S[i]. */
export interface RequestSeries {
  readonly method: string;
  readonly route: string;
  readonly status: number;
  count: number;
  sumSeconds: number;
  buckets: number[];
}

const pending = new Map<string, RequestSeries>();
let lastFlushAt = Date.now();

function seriesKey(method: string, route: string, status: number): string {
  return JSON.stringify([method, route, status]);
}

/** The key of a series in this isolate's `pending` (RequestMetrics keys its rows by `seriesKey`). */
function pendingKey(method: string, route: string, status: number): string {
  return `${method} ${status} ${route}`;
}

/** Count one request in this isolate. */
export function countRequest(method: string, route: string, status: number, seconds: number): void {
  const m = METHODS.has(method) ? method : 'OTHER';
  const key = pendingKey(m, route, status);
  let s = pending.get(key);
  if (!s) pending.set(key, (s = { method: m, route, status, count: 0, sumSeconds: 0, buckets: LATENCY_BUCKETS_S.map(() => 0) }));
  s.count += 1;
  s.sumSeconds += seconds;
  for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) if (seconds <= LATENCY_BUCKETS_S[i]!) s.buckets[i]! += 1;
}

/** Send this isolate's counts to RequestMetrics; on failure they are kept for the next flush. */
export async function flushRequests(env: Cloudflare.Env): Promise<void> {
  lastFlushAt = Date.now();
  if (pending.size === 0) return;
  const deltas = [...pending.values()];
  pending.clear();
  try {
    await requestMetrics(env).add(deltas);
  } catch {
    for (const d of deltas) merge(d);
  }
}

function merge(d: RequestSeries): void {
  const key = pendingKey(d.method, d.route, d.status);
  const s = pending.get(key);
  if (!s) {
    pending.set(key, { ...d, buckets: [...d.buckets] });
    return;
  }
  s.count += d.count;
  s.sumSeconds += d.sumSeconds;
  d.buckets.forEach((b, i) => (s.buckets[i]! += b));
}

/** Every isolate's counts as last flushed, summed (this isolate's are flushed first by GET /metrics). */
export async function requestTotals(env: Cloudflare.Env): Promise<RequestSeries[]> {
  return requestMetrics(env).totals();
}

function requestMetrics(env: Cloudflare.Env): DurableObjectStub<RequestMetrics> {
  return env.REQUEST_METRICS.get(env.REQUEST_METRICS.idFromName(OBJECT_NAME));
}

/**
 * Middleware: time every request and count it by method, route (the route's
 * template, `/v1/streams/{stream}/kv/{key}`, never the path itself, so the
 * number of series stays bounded) and status; flush now and then.
 */
export const measureRequests: MiddlewareHandler<{ Bindings: Cloudflare.Env }> = async (c, next) => {
  const started = Date.now();
  try {
    await next();
  } finally {
    countRequest(c.req.method, routeOf(c), c.res.status, (Date.now() - started) / 1000);
    if (Date.now() - lastFlushAt >= FLUSH_MS) {
      const flush = flushRequests(c.env);
      try {
        c.executionCtx.waitUntil(flush);
      } catch {
        await flush; // no execution context (a test calling the app directly): flush inline
      }
    }
  }
};

/** Hono's path of a route -> its template (a bounded set: one per route). */
const templates = new Map<string, string>();

/** The template of the route that answered, in the OpenAPI document's spelling; `unmatched` for a 404 of no route. */
function routeOf(c: Context): string {
  const routes = matchedRoutes(c);
  let path: string | undefined;
  for (let i = routes.length - 1; i >= 0 && path === undefined; i--) if (routes[i]!.method !== 'ALL') path = routes[i]!.path;
  if (!path) return 'unmatched';
  let template = templates.get(path);
  if (template === undefined) templates.set(path, (template = path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')));
  return template;
}

/**
 * The one Durable Object that adds up the request counts of every Worker
 * isolate and keeps them in SQLite, so they survive its own evictions.
 */
export class RequestMetrics extends DurableObject<Cloudflare.Env> {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS request_series (key TEXT PRIMARY KEY, count INTEGER NOT NULL, sum_seconds REAL NOT NULL, buckets TEXT NOT NULL)');
  }

  /** Add an isolate's deltas, in one transaction. */
  async add(deltas: RequestSeries[]): Promise<void> {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const d of deltas) {
        const key = seriesKey(d.method, d.route, d.status);
        const row = sql.exec<{ count: number; sum_seconds: number; buckets: string }>('SELECT count, sum_seconds, buckets FROM request_series WHERE key = ?', key).toArray()[0];
        const buckets = row ? (JSON.parse(row.buckets) as number[]) : LATENCY_BUCKETS_S.map(() => 0);
        d.buckets.forEach((b, i) => (buckets[i] = (buckets[i] ?? 0) + b));
        sql.exec(
          'INSERT INTO request_series (key, count, sum_seconds, buckets) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET count = excluded.count, sum_seconds = excluded.sum_seconds, buckets = excluded.buckets',
          key,
          (row?.count ?? 0) + d.count,
          (row?.sum_seconds ?? 0) + d.sumSeconds,
          JSON.stringify(buckets),
        );
      }
    });
  }

  async totals(): Promise<RequestSeries[]> {
    return this.ctx.storage.sql
      .exec<{ key: string; count: number; sum_seconds: number; buckets: string }>('SELECT key, count, sum_seconds, buckets FROM request_series ORDER BY key')
      .toArray()
      .map((r) => {
        const [method, route, status] = JSON.parse(r.key) as [string, string, number];
        return { method, route, status, count: r.count, sumSeconds: r.sum_seconds, buckets: JSON.parse(r.buckets) as number[] };
      });
  }
}

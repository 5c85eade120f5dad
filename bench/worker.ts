/**
 * The bench-only Worker: the edgepaxos app and its replica Durable Object,
 * unchanged, plus what the harness needs around them:
 *
 * - `BaselineObject`, what a user would build instead of edgepaxos: one
 *   unreplicated Durable Object doing one SQLite upsert per write, with
 *   `PUT /baseline/kv/{key}` in front of it;
 * - `/bench/*` control routes, among them a load generator that runs inside
 *   workerd, so that the harness's own HTTP client never sits on the measured
 *   path.
 *
 * Nothing here is part of the product; bench/wrangler.bench.toml is its config.
 */
import { DurableObject, exports } from 'cloudflare:workers';
import { Hono } from 'hono';
import type { ClientCommand, ReplicaId } from '../src/core/index.ts';
import { type StreamConfig, clusterConfig, findStream } from '../src/host/config.ts';
import { type ReplicaIdentity, type ReplicaView, type RpcError, isRpcError, replicaStub } from '../src/host/replica-object.ts';
import { StreamClient } from '../src/api/stream-client.ts';
import app from '../src/index.ts';
import type {
  InFlightResult,
  FailoverRequest,
  FailoverResult,
  FirstWriteResult,
  LeaderResult,
  LoadRequest,
  LoadResult,
  MetricsResult,
  ReplicaCounters,
  SlowLinkRequest,
} from './protocol.ts';

export { ReplicaObject, RequestMetrics } from '../src/index.ts';

interface BenchEnv extends Cloudflare.Env {
  readonly BASELINE: DurableObjectNamespace<BaselineObject>;
  readonly FLOOR: DurableObjectNamespace<FloorObject>;
}

// ------------------------------------------------------------------ the baseline

/**
 * One unreplicated Durable Object with SQLite storage: every write is one
 * upsert and gets a revision, as an edgepaxos put does. No consensus, no log,
 * no peers: the cost edgepaxos is compared with.
 */
export class BaselineObject extends DurableObject<BenchEnv> {
  private revision: number;

  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, revision INTEGER NOT NULL)');
    this.revision = Number(ctx.storage.sql.exec<{ r: number }>('SELECT COALESCE(MAX(revision), 0) AS r FROM kv').one().r);
  }

  async put(key: string, value: string): Promise<{ revision: number }> {
    const revision = ++this.revision;
    this.ctx.storage.sql.exec(
      'INSERT INTO kv (key, value, revision) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, revision = excluded.revision',
      key,
      value,
      revision,
    );
    return { revision };
  }
}

/**
 * The floor of a replicated write over DO RPC on this runtime: what any
 * design that replicates a write to other Durable Objects before answering
 * must at least do. The object named by the writer does the baseline's upsert,
 * then asks `peers` other floor objects to do the same, in parallel, and
 * answers once `quorum` of them have (a majority with itself: 1 of 2, 2 of 4).
 * No log, no ballots, no validation, no recovery: nothing edgepaxos could
 * leave out. The bench divides edgepaxos's latency by it to show what part of
 * the ratio to the baseline is the runtime's (locally, every object runs on
 * one thread, so the peers' work adds up instead of overlapping).
 */
export class FloorObject extends DurableObject<BenchEnv> {
  private revision = 0;
  private readonly peerStubs = new Map<string, DurableObjectStub<FloorObject>>();

  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, revision INTEGER NOT NULL)');
  }

  async put(key: string, value: string, peers: readonly string[], quorum: number): Promise<{ revision: number }> {
    const revision = this.accept(key, value, ++this.revision);
    const calls = peers.map((name) => this.peer(name).accept(key, value, revision));
    await new Promise<void>((resolve, reject) => {
      let answered = 0;
      if (quorum <= 0) resolve();
      for (const call of calls) call.then(() => ++answered === quorum && resolve(), reject);
    });
    return { revision };
  }

  accept(key: string, value: string, revision: number): number {
    this.ctx.storage.sql.exec(
      'INSERT INTO kv (key, value, revision) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, revision = excluded.revision',
      key,
      value,
      revision,
    );
    return revision;
  }

  private peer(name: string): DurableObjectStub<FloorObject> {
    let stub = this.peerStubs.get(name);
    if (!stub) {
      stub = this.env.FLOOR.get(this.env.FLOOR.idFromName(name));
      this.peerStubs.set(name, stub);
    }
    return stub;
  }
}

function baselineStub(env: BenchEnv): DurableObjectStub<BaselineObject> {
  return env.BASELINE.get(env.BASELINE.idFromName('baseline'));
}

// ------------------------------------------------------------------ routes

const bench = new Hono<{ Bindings: BenchEnv }>();

/** The baseline's HTTP API: the same shape as edgepaxos's PUT /v1/streams/{stream}/kv/{key}. */
bench.put('/baseline/kv/:key{.+}', async (c) => {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return c.json({ error: { code: 'invalid_json', message: 'the body is not JSON' } }, 400);
  }
  const value = (body as { value?: unknown } | null)?.value;
  if (typeof value !== 'string') return c.json({ error: { code: 'invalid_request', message: 'value must be a string' } }, 400);
  return c.json(await baselineStub(c.env).put(c.req.param('key'), value));
});

/**
 * The same write as `PUT /v1/streams/{stream}/kv/{key}` (edgepaxos's API makes this one call to the
 * leader for it), with nothing of the API around it: no authentication, validation, request metrics or
 * error mapping. The load path `bare` (`npm run bench:cpu`): the difference to `http` is what that layer
 * costs per write.
 */
bench.put('/bench/bare/:stream/:key{.+}', async (c) => {
  const { value } = await c.req.json<{ value: string }>();
  const client = new StreamClient(c.env, streamNamed(c.env, c.req.param('stream')));
  client.requestId = crypto.randomUUID(); // as the API's client carries its request's id to the leader
  const result = await client.write({ kind: 'put', key: c.req.param('key'), value, idempotencyKey: crypto.randomUUID() });
  if (result.kind !== 'put' || !result.ok) return c.json({ error: { code: 'unexpected', message: JSON.stringify(result) } }, 500);
  return c.json({ revision: result.revision });
});

bench.post('/bench/load', async (c) => c.json(await runLoad(c.env, await c.req.json<LoadRequest>())));

bench.post('/bench/leader', async (c) => {
  const { stream } = await c.req.json<{ stream: string }>();
  return c.json(await agreedLeader(c.env, streamNamed(c.env, stream)));
});

bench.post('/bench/metrics', async (c) => {
  const { stream } = await c.req.json<{ stream: string }>();
  return c.json(await replicaMetrics(c.env, streamNamed(c.env, stream)));
});

bench.post('/bench/failover', async (c) => c.json(await failover(c.env, await c.req.json<FailoverRequest>())));

bench.post('/bench/first-write', async (c) => {
  const { stream: name } = await c.req.json<{ stream: string }>();
  const stream = streamNamed(c.env, name);
  const ids = stream.replicas.map((r) => r.id);
  const term = async (id: ReplicaId): Promise<number | null> => {
    const res = await replicaStub(c.env, stream, id).status(identity(stream, id));
    return isRpcError(res) ? null : res.view.term;
  };
  // As a client would: start at the top-priority replica, follow not-leader hints, else try the next
  // replica after 5 ms, until the write is applied (or 10 s pass). Timed from the first attempt.
  const timedWrite = async (value: string): Promise<{ ms: number; outcome: string; at: ReplicaId }> => {
    const t0 = Date.now();
    let target = ids[0]!;
    let outcome = 'timeout';
    while (Date.now() - t0 < 10_000) {
      const command: ClientCommand = { kind: 'put', id: crypto.randomUUID(), key: 'first-write', value };
      const res = await replicaStub(c.env, stream, target).write(identity(stream, target), command, 2_000);
      outcome = isRpcError(res) ? res.code : res.kind;
      if (!isRpcError(res) && res.kind === 'applied') return { ms: Date.now() - t0, outcome, at: target };
      if (!isRpcError(res) && res.kind === 'not-leader' && res.leaderHint !== null && res.leaderHint !== target) {
        target = res.leaderHint;
        continue;
      }
      target = ids[(ids.indexOf(target) + 1) % ids.length]!;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { ms: Date.now() - t0, outcome, at: target };
  };
  const termBefore = await term(ids[0]!);
  const first = await timedWrite('1');
  const second = await timedWrite('2');
  const result: FirstWriteResult = { firstMs: first.ms, secondMs: second.ms, firstOutcome: first.outcome, termBefore, termAfter: await term(first.at) };
  return c.json(result);
});

/** A slow link from one replica to another (extra delay each way on its batches and their replies), or healed with null. */
bench.post('/bench/slow-link', async (c) => {
  const req = await c.req.json<SlowLinkRequest>();
  const stream = streamNamed(c.env, req.stream);
  const u = req.delayMs === null ? null : { duplicateRate: 0, delayMsMax: 0, peerDelayMs: { [req.to]: req.delayMs } };
  const res = await replicaStub(c.env, stream, req.from).unreliable(identity(stream, req.from), u);
  return c.json({ ok: !isRpcError(res) });
});

/**
 * How many requests the Worker was serving at once, seen by each arriving write (`PUT`): whoever sends them
 * (the load generator inside workerd, or `wrangler dev`'s proxy for `npm run bench:outside`) decides how many
 * writes the leader can batch. Read and reset by `GET /bench/in-flight`.
 */
const inFlight = { now: 0, arrivals: 0, sum: 0, max: 0 };

bench.get('/bench/in-flight', (c) => {
  const r: InFlightResult = { arrivals: inFlight.arrivals, mean: inFlight.arrivals ? inFlight.sum / inFlight.arrivals : 0, max: inFlight.max };
  Object.assign(inFlight, { arrivals: 0, sum: 0, max: 0 });
  return c.json(r);
});

async function counted(serve: () => Response | Promise<Response>): Promise<Response> {
  inFlight.now += 1;
  inFlight.arrivals += 1;
  inFlight.sum += inFlight.now;
  inFlight.max = Math.max(inFlight.max, inFlight.now);
  try {
    return await serve();
  } finally {
    inFlight.now -= 1;
  }
}

export default {
  fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    const serve = (): Response | Promise<Response> => (path.startsWith('/bench/') || path.startsWith('/baseline/') ? bench.fetch(request, env, ctx) : app.fetch(request, env, ctx));
    return request.method === 'PUT' ? counted(serve) : serve();
  },
} satisfies ExportedHandler<BenchEnv>;

// ------------------------------------------------------------------ load generator

/** One write; resolves with null on success and with what went wrong otherwise. */
type Writer = (key: string, value: string) => Promise<string | null>;

/**
 * A closed loop: `concurrency` writers, each issuing its next write as soon as
 * the previous one answers. Latencies are taken with workerd's clock, which
 * has 1 ms resolution and advances only at I/O, so each is a whole number of
 * milliseconds between the event that issued the write and the one that saw
 * its answer.
 */
async function runLoad(env: BenchEnv, req: LoadRequest): Promise<LoadResult> {
  const write = writerFor(env, req);
  const value = 'v'.repeat(req.valueBytes);
  const windowStart = Date.now() + req.warmupMs;
  const windowEnd = windowStart + req.durationMs;
  const latenciesMs: number[] = [];
  let opsInWindow = 0;
  let opsTotal = 0;
  let errors = 0;
  let firstError: string | null = null;
  const writer = async (w: number): Promise<void> => {
    for (let n = 0; ; n++) {
      const startedAt = Date.now();
      if (startedAt >= windowEnd) return;
      let error: string | null;
      try {
        error = await write(`w${w}/k${n % 64}`, value);
      } catch (e) {
        error = String(e);
      }
      const endedAt = Date.now();
      if (error !== null) {
        errors += 1;
        firstError ??= error;
        continue;
      }
      opsTotal += 1;
      if (endedAt >= windowStart && endedAt < windowEnd) opsInWindow += 1;
      if (startedAt >= windowStart) latenciesMs.push(endedAt - startedAt);
    }
  };
  const crashing = req.crashFollower && req.target.kind === 'edgepaxos' ? crashFollowerAt(env, req.target.stream, windowStart + req.crashFollower.afterMs, req.crashFollower.downMs) : null;
  await Promise.all(Array.from({ length: req.concurrency }, (_, w) => writer(w)));
  const crashed = crashing ? await crashing : undefined;
  return { opsInWindow, opsTotal, errors, firstError, windowMs: req.durationMs, latenciesMs, ...(crashed ? { crashed } : {}) };
}

/**
 * At `at`, crash the follower the stream's leader counts on first: its
 * nearest quorum's first member with thrifty replication, else the
 * lowest-id follower (with full replication every follower gets every batch).
 */
async function crashFollowerAt(env: BenchEnv, name: string, at: number, downMs: number): Promise<{ replica: number } | { failed: string }> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
  const stream = streamNamed(env, name);
  // Under load a replica may answer its status late or report a stale leader for a moment: ask again for up to 2 s.
  let leaderId: ReplicaId | null = null;
  for (let i = 0; i < 40 && leaderId === null; i++) {
    leaderId = (await agreedLeader(env, stream)).leaderId;
    if (leaderId === null) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (leaderId === null) return { failed: 'no agreed leader within 2 s' };
  const m = await replicaStub(env, stream, leaderId).metrics(identity(stream, leaderId));
  const nearest = !isRpcError(m) ? (m.metrics.nearest_quorum ?? null) : null;
  const victim = nearest?.[0] ?? stream.replicas.map((r) => r.id).filter((id) => id !== leaderId).sort((a, b) => a - b)[0];
  if (victim === undefined) return { failed: 'no follower' };
  const res = await replicaStub(env, stream, victim).crash(identity(stream, victim), downMs);
  return isRpcError(res) ? { failed: `crash refused: ${res.message}` } : { replica: victim };
}

/** The bench's token (wrangler.bench.toml): edgepaxos's writes carry it, as a deployment's clients would. */
const BENCH_AUTHORIZATION = { authorization: 'Bearer bench-token' };

function writerFor(env: BenchEnv, req: LoadRequest): Writer {
  if (req.path === 'http' || req.path === 'bare') {
    // Through the Worker's own fetch handler, as a fresh request event (a loopback binding): routing,
    // validation and the Durable Object call, with no network client of ours in the way.
    const self = (exports as unknown as { default: Fetcher }).default;
    const target = req.target;
    if (target.kind === 'floor') throw new Error('bench: the floor is measured over DO RPC only');
    if (req.path === 'bare' && target.kind !== 'edgepaxos') throw new Error('bench: the bare path is an edgepaxos stream\'s (the baseline\'s route is bare already)');
    const base =
      target.kind === 'baseline'
        ? 'https://bench.local/baseline/kv/'
        : target.kind === 'keyspace'
          ? `https://bench.local/v1/keyspaces/${target.keyspace}/kv/`
          : req.path === 'bare'
            ? `https://bench.local/bench/bare/${target.stream}/`
            : `https://bench.local/v1/streams/${target.stream}/kv/`;
    return async (key, value) => {
      const res = await self.fetch(base + key, { method: 'PUT', body: JSON.stringify({ value }), headers: BENCH_AUTHORIZATION });
      const text = await res.text();
      return res.ok ? null : `HTTP ${res.status}: ${text.slice(0, 300)}`;
    };
  }
  if (req.target.kind === 'floor') {
    // Objects floor-N/0 (the writer's) .. floor-N/N-1: a separate set per size.
    const n = req.target.replicas;
    const stub = env.FLOOR.get(env.FLOOR.idFromName(`floor-${n}/0`));
    const peers = Array.from({ length: n - 1 }, (_, i) => `floor-${n}/${i + 1}`);
    const quorum = Math.floor(n / 2);
    return async (key, value) => {
      await stub.put(key, value, peers, quorum);
      return null;
    };
  }
  if (req.target.kind === 'keyspace') throw new Error('bench: a keyspace is measured over HTTP only (its router is in the Worker)');
  if (req.target.kind === 'baseline') {
    const stub = baselineStub(env);
    return async (key, value) => {
      await stub.put(key, value);
      return null;
    };
  }
  // DO RPC: the leader replica's `write` method, as the Worker calls it (without an idempotency key:
  // the bare replicated write). A leader change is followed through the not-leader hint.
  const stream = streamNamed(env, req.target.stream);
  const stubs = new Map(stream.replicas.map((r) => [r.id, replicaStub(env, stream, r.id)]));
  let leader: ReplicaId = stream.replicas[0]!.id;
  let leaderKnown = false;
  return async (key, value) => {
    if (!leaderKnown) {
      leader = (await agreedLeader(env, stream)).leaderId ?? leader;
      leaderKnown = true;
    }
    const target = leader;
    const command: ClientCommand = { kind: 'put', id: crypto.randomUUID(), key, value };
    const res = await stubs.get(target)!.write(identity(stream, target), command, 10_000);
    if (isRpcError(res)) return `${res.code}: ${res.message}`;
    if (res.kind === 'applied') return null;
    if (res.kind === 'not-leader') {
      if (res.leaderHint !== null) leader = res.leaderHint;
      else leaderKnown = false;
    }
    return `write at replica ${target}: ${res.kind}`;
  };
}

// ------------------------------------------------------------------ replicas

function streamNamed(env: BenchEnv, name: string): StreamConfig {
  const stream = findStream(clusterConfig(env.EDGEPAXOS_CONFIG), name);
  if (!stream) throw new Error(`bench: no stream '${name}' in EDGEPAXOS_CONFIG`);
  return stream;
}

function identity(stream: StreamConfig, replicaId: ReplicaId): ReplicaIdentity {
  return { stream: stream.name, replicaId };
}

/** Resolves with `p`'s value, or with null after `ms` or if it rejects. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([p.catch(() => null), timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** The leader every replica that answers follows, provided all answer; null otherwise. */
async function agreedLeader(env: BenchEnv, stream: StreamConfig): Promise<LeaderResult> {
  const views = await Promise.all(
    stream.replicas.map(async (r) => {
      const res = await within<{ kind: 'ok'; view: ReplicaView } | RpcError>(replicaStub(env, stream, r.id).status(identity(stream, r.id)), 1000);
      if (!res || isRpcError(res)) return { replicaId: r.id, role: null, leaderId: null };
      return { replicaId: r.id, role: res.view.role, leaderId: res.view.leader_id };
    }),
  );
  const leaders = views.filter((v) => v.role === 'leader');
  const leader = leaders.length === 1 ? leaders[0]!.replicaId : null;
  const agreed = leader !== null && views.every((v) => v.leaderId === leader);
  return { leaderId: agreed ? leader : null, views };
}

async function replicaMetrics(env: BenchEnv, stream: StreamConfig): Promise<MetricsResult> {
  const replicas = await Promise.all(
    stream.replicas.map(async (r) => {
      const res = await within<{ kind: 'ok'; metrics: ReplicaCounters } | RpcError>(replicaStub(env, stream, r.id).metrics(identity(stream, r.id)), 1000);
      const metrics: ReplicaCounters | null = res && !isRpcError(res) ? res.metrics : null;
      return { replicaId: r.id, metrics };
    }),
  );
  return { replicas };
}

/**
 * Crash the agreed leader (it stays unreachable for `downMs`), then probe
 * every survivor with a write every 5 ms until one is decided. The time is
 * from the crash call's answer to the first write answered as applied.
 */
/** Each replica's count of late wake-ups forgiven so far (its cost counters), by id; a replica that does not answer is left out. */
async function lateWakeups(env: BenchEnv, stream: StreamConfig, ids: readonly ReplicaId[]): Promise<Record<number, number>> {
  const counts = await Promise.all(
    ids.map(async (id) => {
      const res = await within<{ kind: 'ok'; metrics: ReplicaCounters } | RpcError>(replicaStub(env, stream, id).metrics(identity(stream, id)), 1000);
      return [id, res && !isRpcError(res) ? (res.metrics.late_wakeups ?? 0) : null] as const;
    }),
  );
  const out: Record<number, number> = {};
  for (const [id, n] of counts) if (n !== null) out[id] = n;
  return out;
}

async function failover(env: BenchEnv, req: FailoverRequest): Promise<FailoverResult> {
  const stream = streamNamed(env, req.stream);
  const { leaderId } = await agreedLeader(env, stream);
  if (leaderId === null) return { kind: 'failed', message: 'no agreed leader to crash' };
  const survivors = stream.replicas.map((r) => r.id).filter((id) => id !== leaderId);
  const lateBefore = await lateWakeups(env, stream, survivors);
  const crash = await replicaStub(env, stream, leaderId).crash(identity(stream, leaderId), req.downMs);
  if (isRpcError(crash)) return { kind: 'failed', message: `crash refused: ${crash.message}` };
  const crashedAt = Date.now();
  for (let round = 0; Date.now() - crashedAt < req.timeoutMs; round++) {
    const answers = await Promise.all(
      survivors.map(async (id) => {
        const command: ClientCommand = { kind: 'put', id: crypto.randomUUID(), key: 'failover-probe', value: String(round) };
        const res = await replicaStub(env, stream, id)
          .write(identity(stream, id), command, req.timeoutMs)
          .catch(() => null);
        return res && !isRpcError(res) && res.kind === 'applied' ? { id, at: Date.now() } : null;
      }),
    );
    const first = answers.filter((a) => a !== null).sort((a, b) => a.at - b.at)[0];
    if (first) {
      const failoverMs = first.at - crashedAt;
      const lateAfter = await lateWakeups(env, stream, survivors);
      // Only survivors that answered both times: one that did not has no count to compare.
      const late = Object.fromEntries(survivors.filter((id) => id in lateBefore && id in lateAfter).map((id) => [id, lateAfter[id]! - lateBefore[id]!]));
      return { kind: 'ok', crashed: leaderId, newLeader: first.id, failoverMs, lateWakeups: late };
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { kind: 'failed', message: `no write was decided within ${req.timeoutMs} ms of the crash` };
}

import type { Hono } from 'hono';
import { z } from 'zod';
import { type OperatorResult, type ReplicaId, checkQuorumOverride } from '../core/index.ts';
import type { ReplicaView } from '../host/replica-object.ts';
import { isRpcError } from '../host/replica-object.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { requireAdmin } from './admin.ts';
import { ApiError } from './errors.ts';
import type { StreamClient } from './stream-client.ts';
import { readJson, readQuery } from './validation.ts';

type AppEnv = { Bindings: Cloudflare.Env };
type ClientOf = (env: Cloudflare.Env, stream: string) => Promise<StreamClient>;

const SwitchoverBody = z
  .object({
    target: z.number().int(),
    /** How long to wait for the hand-over before giving up (writes resume on the old leader). */
    timeout_ms: z.number().int().min(100).max(60_000).default(10_000),
  })
  .strict();
const StepDownBody = z.object({ timeout_ms: z.number().int().min(100).max(60_000).default(10_000) }).strict();
const RunModeBody = z.object({ mode: z.enum(['automatic', 'manual']) }).strict();
const LagQuery = z.object({ lag: z.coerce.number().int().min(0).optional() }).strict();
const WorkModeBody = z.discriminatedUnion('mode', [
  z
    .object({
      mode: z.literal('minority'),
      /** The surviving replicas: they alone elect and decide... */
      replicas: z.array(z.number().int().min(1)).min(1).max(9),
      /** ...with this many of them. */
      vote_num: z.number().int().min(1).max(9),
    })
    .strict(),
  z.object({ mode: z.literal('normal') }).strict(),
]);

/**
 * Operator endpoints (DCF promote_leader, RUN_MODE; Patroni switchover and
 * health checks). Controls need the admin token; health checks do not (load
 * balancers probe them) and answer 200 or 503.
 */
export function registerOperations(app: Hono<AppEnv>, clientOf: ClientOf): void {
  app.post('/v1/streams/:stream/switchover', async (c) => {
    requireAdmin(c);
    const client = await clientOf(c.env, c.req.param('stream'));
    const body = await readJson(c, SwitchoverBody, 1024);
    const started = Date.now();
    const leader = await currentLeader(client);
    if (leader === body.target) return c.json({ leader_id: leader, changed: false, took_ms: 0 });
    await operate(client, leader, { kind: 'switchover', target: body.target, timeoutMs: body.timeout_ms });
    const now = await waitForLeader(client, (id) => id === body.target, started + body.timeout_ms);
    if (now !== body.target) {
      throw new ApiError(504, 'switchover_timeout', `replica ${body.target} did not take over within ${body.timeout_ms} ms; the leader is ${now ?? 'unknown'} and writes have resumed`);
    }
    return c.json({ leader_id: now, changed: true, took_ms: Date.now() - started });
  });

  app.post('/v1/streams/:stream/step-down', async (c) => {
    requireAdmin(c);
    const client = await clientOf(c.env, c.req.param('stream'));
    const body = await readJson(c, StepDownBody, 1024);
    const started = Date.now();
    const leader = await currentLeader(client);
    const res = await operate(client, leader, { kind: 'step-down', timeoutMs: body.timeout_ms });
    const now = await waitForLeader(client, (id) => id === res.target, started + body.timeout_ms);
    if (now !== res.target) {
      throw new ApiError(504, 'switchover_timeout', `replica ${res.target} did not take over within ${body.timeout_ms} ms; the leader is ${now ?? 'unknown'}`);
    }
    return c.json({ leader_id: now, previous_leader_id: leader, took_ms: Date.now() - started });
  });

  app.post('/v1/streams/:stream/replicas/:id/campaign', async (c) => {
    requireAdmin(c);
    const client = await clientOf(c.env, c.req.param('stream'));
    const id = replicaIdOf(client, c.req.param('id'));
    const started = Date.now();
    await operate(client, id, { kind: 'campaign' });
    const deadline = started + timingWindows(client.stream).promotionWaitMs;
    const now = await waitForLeader(client, (l) => l === id, deadline);
    return c.json({ leader_id: now, elected: now === id, took_ms: Date.now() - started });
  });

  app.put('/v1/streams/:stream/run-mode', async (c) => {
    requireAdmin(c);
    const client = await clientOf(c.env, c.req.param('stream'));
    const body = await readJson(c, RunModeBody, 1024);
    const automatic = body.mode === 'automatic';
    const notReached: ReplicaId[] = [];
    await Promise.all(
      client.members().map(async (r) => {
        const res = await client
          .stub(r.id)
          .operate(client.identity(r.id), { kind: 'run-mode', automatic })
          .catch(() => null);
        if (!res || isRpcError(res)) notReached.push(r.id);
      }),
    );
    // A replica that did not hear it keeps its old mode: say so, so the operator can repeat the call.
    return c.json({ run_mode: body.mode, not_reached: notReached.sort((a, b) => a - b) });
  });

  app.put('/v1/streams/:stream/work-mode', async (c) => {
    requireAdmin(c);
    const client = await clientOf(c.env, c.req.param('stream'));
    const body = await readJson(c, WorkModeBody, 1024);
    const views = await client.views(1000);
    if (body.mode === 'normal') {
      // A fenced voter would count in the configured quorums with a history forked off: rebuild or remove it first.
      const voters = new Set(client.members().filter((m) => m.role !== 'passive').map((m) => m.id));
      const fenced = views.filter((v) => v.view?.fenced && voters.has(v.id)).map((v) => v.id);
      if (fenced.length > 0) {
        throw new ApiError(409, 'fenced_voters', `replicas ${fenced.join(', ')} are fenced voters: rebuild them (POST .../replicas/{id}/rebuild) or remove them first`);
      }
      const notReached = await operateAll(client, client.members().map((m) => m.id), { kind: 'work-mode', override: null });
      return c.json({ work_mode: 'normal', not_reached: notReached });
    }
    const survivors = [...new Set(body.replicas)].sort((a, b) => a - b);
    const voters = client.members().filter((m) => m.role !== 'passive').map((m) => m.id);
    const strangers = survivors.filter((id) => !voters.includes(id));
    if (strangers.length > 0) throw new ApiError(400, 'invalid_request', `replicas ${strangers.join(', ')} are not voting members of stream '${client.stream.name}'`);
    if (body.vote_num > survivors.length) throw new ApiError(400, 'invalid_request', `vote_num ${body.vote_num} is more than the ${survivors.length} replicas named`);
    try {
      checkQuorumOverride({ voters: survivors, voteNum: body.vote_num });
    } catch (e) {
      if (e instanceof RangeError) throw new ApiError(422, 'invalid_change', e.message.replace(/^work mode: /, ''));
      throw e;
    }
    const leaderId = pickLeader(views);
    const leader = leaderId === null ? null : viewOf(views, leaderId);
    if (leader && leader.writes_blocked === null && leader.work_mode === 'normal') {
      throw new ApiError(409, 'quorum_available', `replica ${leaderId} leads and its writes are not blocked: minority mode is only for a majority lost for good`);
    }
    // A new epoch: replicas still in the old one are fenced when they next hear from a survivor.
    const epoch = Math.max(0, ...views.map((v) => v.view?.epoch ?? 0)) + 1;
    const notReached = await operateAll(client, survivors, { kind: 'work-mode', override: { voters: survivors, voteNum: body.vote_num }, epoch });
    return c.json({ work_mode: 'minority', replicas: survivors, vote_num: body.vote_num, epoch, not_reached: notReached });
  });

  app.post('/v1/streams/:stream/snapshot', async (c) => {
    requireAdmin(c);
    const client = await clientOf(c.env, c.req.param('stream'));
    const notReached: ReplicaId[] = [];
    await Promise.all(
      client.members().map(async (r) => {
        const res = await client
          .stub(r.id)
          .operate(client.identity(r.id), { kind: 'snapshot' })
          .catch(() => null);
        if (!res || isRpcError(res)) notReached.push(r.id);
      }),
    );
    const views = await client.views(1000);
    const member = new Set(client.members().map((m) => m.id));
    return c.json({
      first_index: Object.fromEntries(views.filter((v) => member.has(v.id)).map((v) => [v.id, v.view?.first_index ?? null])),
      not_reached: notReached.sort((a, b) => a - b),
    });
  });

  // ---------------------------------------------------------------- health checks (no token)

  app.get('/v1/streams/:stream/replicas/:id/health', async (c) => {
    const client = await clientOf(c.env, c.req.param('stream'));
    const id = replicaIdOf(client, c.req.param('id'));
    const view = viewOf(await client.views(1000), id);
    if (!view) throw new ApiError(503, 'unavailable', `replica ${id} does not answer`);
    return c.json({ node_id: id, alive: true, role: view.role, leader_id: view.leader_id, applied_index: view.applied_index });
  });

  app.get('/v1/streams/:stream/replicas/:id/leader', async (c) => {
    const client = await clientOf(c.env, c.req.param('stream'));
    const id = replicaIdOf(client, c.req.param('id'));
    const view = viewOf(await client.views(1000), id);
    if (view?.role !== 'leader') throw new ApiError(503, 'not_leader', `replica ${id} is not the leader (${view ? view.role : 'unreachable'})`);
    return c.json({ node_id: id, leader: true, term: view.term });
  });

  app.get('/v1/streams/:stream/replicas/:id/replica', async (c) => {
    const client = await clientOf(c.env, c.req.param('stream'));
    const id = replicaIdOf(client, c.req.param('id'));
    const { lag } = readQuery(c, LagQuery);
    const views = await client.views(1000);
    const view = viewOf(views, id);
    const leaderId = pickLeader(views);
    const leader = leaderId === null ? null : viewOf(views, leaderId);
    if (!view || view.role === 'leader' || view.applied_index === null || view.leader_id === null) {
      const why = !view ? 'does not answer' : view.role === 'leader' ? 'is the leader' : view.applied_index === null ? 'is a logger (no data)' : 'follows no leader';
      throw new ApiError(503, 'not_a_healthy_replica', `replica ${id} ${why}`);
    }
    const behind = leader ? Math.max(0, leader.commit_index - view.applied_index) : null;
    if (lag !== undefined && (behind === null || behind > lag)) {
      throw new ApiError(503, 'lagging', `replica ${id} is ${behind ?? 'an unknown number of'} slots behind the leader; at most ${lag} allowed`);
    }
    return c.json({ node_id: id, replica: true, role: view.role, lag: behind });
  });
}

/** Carry out `action` on each replica; returns those that did not take it. */
async function operateAll(client: StreamClient, ids: readonly ReplicaId[], action: Parameters<ReturnType<StreamClient['stub']>['operate']>[1]): Promise<ReplicaId[]> {
  const notReached: ReplicaId[] = [];
  await Promise.all(
    ids.map(async (id) => {
      const res = await client
        .stub(id)
        .operate(client.identity(id), action)
        .catch(() => null);
      if (!res || isRpcError(res) || !res.ok) notReached.push(id);
    }),
  );
  return notReached.sort((a, b) => a - b);
}

/** The replica the stream's replicas agree leads, or 503. */
async function currentLeader(client: StreamClient): Promise<ReplicaId> {
  const leader = pickLeader(await client.views(1000));
  if (leader === null) throw new ApiError(503, 'unavailable', 'the stream has no leader right now; try again after the election');
  return leader;
}

/** Views as `StreamClient.views` returns them. */
export type Views = readonly { readonly id: ReplicaId; readonly view: ReplicaView | null }[];

/** The replica leading with the highest ballot among those that answered. */
export function pickLeader(views: Views): ReplicaId | null {
  let best: ReplicaView | null = null;
  for (const { view: v } of views) if (v?.role === 'leader' && (!best || v.term > best.term || (v.term === best.term && v.node_id > best.node_id))) best = v;
  return best?.node_id ?? null;
}

export function viewOf(views: Views, id: ReplicaId): ReplicaView | null {
  return views.find((v) => v.id === id)?.view ?? null;
}

async function operate(client: StreamClient, at: ReplicaId, action: Parameters<ReturnType<StreamClient['stub']>['operate']>[1]): Promise<Extract<OperatorResult, { ok: true }>> {
  const res = await client
    .stub(at)
    .operate(client.identity(at), action)
    .catch(() => null);
  if (!res) throw new ApiError(503, 'unavailable', `replica ${at} did not answer`);
  if (isRpcError(res)) throw res.code === 'stream_deleted' ? client.failure(res) : new ApiError(503, res.code, res.message);
  if (!res.ok) {
    const status = res.code === 'not-leader' ? 409 : res.code === 'no-target' ? 409 : 400;
    throw new ApiError(status, res.code.replace('-', '_'), res.message);
  }
  return res;
}

/** Poll the replicas until `want(leader)` holds or the deadline passes; returns the last leader seen. */
async function waitForLeader(client: StreamClient, want: (leader: ReplicaId | null) => boolean, deadline: number): Promise<ReplicaId | null> {
  let leader: ReplicaId | null = null;
  for (;;) {
    leader = pickLeader(await client.views(1000));
    if (want(leader) || Date.now() >= deadline) return leader;
    await new Promise((resolve) => setTimeout(resolve, client.stream.heartbeat_interval_ms));
  }
}

export function replicaIdOf(client: StreamClient, raw: string | undefined): ReplicaId {
  const id = Number(raw);
  if (!Number.isInteger(id) || !client.knownIds().includes(id)) {
    throw new ApiError(404, 'replica_not_found', `stream '${client.stream.name}' has no replica '${raw}'`);
  }
  return id;
}

import { createRoute, z } from '@hono/zod-openapi';
import { type OperatorResult, type ReplicaId, checkQuorumOverride } from '../core/index.ts';
import type { ReplicaView } from '../host/replica-object.ts';
import { isRpcError } from '../host/replica-object.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { ApiError } from './errors.ts';
import { target } from './kv.ts';
import { type App, group, json, register, stream } from './route.ts';
import { ClusterStatus, ReplicaParams, StreamParams, StreamStatus, body, errors, loose, ok } from './schemas.ts';
import * as service from './service.ts';
import { lagBehind, writesBlocked } from './status.ts';
import type { StreamClient } from './stream-client.ts';
import { decimal } from './validation.ts';

const SwitchoverBody = z
  .object({
    target: z.number().int(),
    /** How long to wait for the hand-over before giving up (writes resume on the old leader). */
    timeout_ms: z.number().int().min(100).max(60_000).default(10_000),
  })
  .strict();
const StepDownBody = z.object({ timeout_ms: z.number().int().min(100).max(60_000).default(10_000) }).strict();
const RunModeBody = z.object({ mode: z.enum(['automatic', 'manual']) }).strict();
const LagQuery = z.object({ lag: decimal(0, Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'Healthy only if at most this many slots behind the leader' }) }).strict();
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

const ADMIN = { 400: ['invalid_json', 'invalid_request'], 404: ['stream_not_found'], 503: ['unavailable', 'catalog_unavailable'] } as const;
const ADMIN_COMMON = { 401: ['unauthorized'], 403: ['forbidden', 'admin_disabled'], 500: ['invalid_configuration'] } as const;
const opsTags = ['operations'];
const healthTags = ['health checks'];

const Leadership = loose('Leadership', 'The leader after the operation', { leader_id: z.number().int().nullable(), took_ms: z.number().int() });
const NotReached = loose('ModeChange', 'The mode set, and the replicas that did not take it (repeat the call for them)', { not_reached: z.array(z.number().int()) });

const switchoverRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/switchover',
  tags: opsTags,
  summary: 'Hand leadership to a replica (DCF promote_leader, Patroni switchover)',
  middleware: [stream('admin')],
  request: { params: StreamParams, body: body(SwitchoverBody) },
  responses: { 200: ok(Leadership, '`changed` is false if the target already led'), ...errors({ ...ADMIN, 409: ['not_leader', 'no_target'], 504: ['switchover_timeout'] }, ADMIN_COMMON) },
});

const stepDownRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/step-down',
  tags: opsTags,
  summary: 'The leader hands over to the best other replica',
  middleware: [stream('admin')],
  request: { params: StreamParams, body: body(StepDownBody) },
  responses: { 200: ok(Leadership, 'The new leader and the previous one'), ...errors({ ...ADMIN, 409: ['not_leader', 'no_target'], 504: ['switchover_timeout'] }, ADMIN_COMMON) },
});

const campaignRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/replicas/{id}/campaign',
  tags: opsTags,
  summary: 'Make a replica campaign now (manual run mode)',
  middleware: [stream('admin')],
  request: { params: ReplicaParams },
  responses: { 200: ok(Leadership, '`elected` says whether it won'), ...errors({ ...ADMIN, 404: ['stream_not_found', 'replica_not_found'] }, ADMIN_COMMON) },
});

const runModeRoute = createRoute({
  method: 'put',
  path: '/v1/streams/{stream}/run-mode',
  tags: opsTags,
  summary: 'Automatic or manual elections (DCF RUN_MODE)',
  middleware: [stream('admin')],
  request: { params: StreamParams, body: body(RunModeBody) },
  responses: { 200: ok(NotReached, 'The run mode'), ...errors(ADMIN, ADMIN_COMMON) },
});

const workModeRoute = createRoute({
  method: 'put',
  path: '/v1/streams/{stream}/work-mode',
  tags: opsTags,
  summary: 'Minority force-start, and back to normal',
  middleware: [stream('admin')],
  request: { params: StreamParams, body: body(WorkModeBody) },
  responses: { 200: ok(NotReached, 'The work mode, its survivors, vote_num and epoch'), ...errors({ ...ADMIN, 409: ['quorum_available', 'fenced_voters'], 422: ['invalid_change'] }, ADMIN_COMMON) },
});

const snapshotRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/snapshot',
  tags: opsTags,
  summary: 'Snapshot and truncate the log on every replica now',
  middleware: [stream('admin')],
  request: { params: StreamParams },
  responses: { 200: ok(loose('Truncation', 'Each replica\'s new first index', { not_reached: z.array(z.number().int()) }), 'Done'), ...errors(ADMIN, ADMIN_COMMON) },
});

const HEALTH = { 400: ['invalid_request'], 404: ['stream_not_found', 'replica_not_found'], 503: ['unavailable', 'catalog_unavailable'] } as const;

const healthRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/replicas/{id}/health',
  tags: healthTags,
  summary: 'Is the replica alive (200) or not (503)',
  middleware: [stream('read')],
  request: { params: ReplicaParams },
  responses: { 200: ok(loose('Health', 'The replica answers', { node_id: z.number().int(), alive: z.boolean() }), 'Alive'), ...errors(HEALTH) },
});

const leaderRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/replicas/{id}/leader',
  tags: healthTags,
  summary: 'Is the replica the leader (200) or not (503 not_leader)',
  middleware: [stream('read')],
  request: { params: ReplicaParams },
  responses: { 200: ok(loose('LeaderCheck', 'It leads', { node_id: z.number().int(), leader: z.boolean() }), 'The leader'), ...errors({ ...HEALTH, 503: ['not_leader', 'unavailable'] }) },
});

const replicaRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/replicas/{id}/replica',
  tags: healthTags,
  summary: 'Is the replica a healthy follower, within `lag` slots (200) or not (503)',
  middleware: [stream('read')],
  request: { params: ReplicaParams, query: LagQuery },
  responses: { 200: ok(loose('ReplicaCheck', 'A healthy replica', { node_id: z.number().int(), replica: z.boolean() }), 'Healthy'), ...errors({ ...HEALTH, 503: ['not_a_healthy_replica', 'lagging'] }) },
});

const statusRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/status',
  tags: opsTags,
  summary: 'DCF-style status: the leader, term, modes, indexes and every replica',
  middleware: [stream('read')],
  request: { params: StreamParams },
  responses: { 200: ok(StreamStatus, 'Assembled from every replica that answers within a second'), ...errors({ 404: ['stream_not_found'], 503: ['catalog_unavailable'] }) },
});

const statusAllRoute = createRoute({
  method: 'get',
  path: '/v1/status',
  tags: opsTags,
  summary: 'The status of every stream the caller may read',
  request: {},
  responses: { 200: ok(ClusterStatus, 'One status per stream, asked in parallel'), ...errors({}) },
});

const ChaosBody = z
  .discriminatedUnion('action', [
    z.object({ action: z.literal('crash'), replica: z.number().int(), down_ms: z.number().int().min(0).max(3_600_000).default(0) }).strict(),
    z.object({ action: z.literal('partition'), groups: z.array(z.array(z.number().int()).min(1)).min(2) }).strict(),
    z
      .object({
        action: z.literal('unreliable'),
        duplicate_rate: z.number().min(0).max(1).default(0.2),
        delay_ms_max: z.number().int().min(0).max(10_000).default(50),
      })
      .strict(),
    z.object({ action: z.literal('heal') }).strict(),
  ])
  .openapi('ChaosAction');

const chaosRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/chaos',
  tags: ['fault injection'],
  summary: 'Crash, partition or disturb replicas (only with EDGEPAXOS_CHAOS=on)',
  middleware: [stream('admin')],
  request: { params: StreamParams, body: body(ChaosBody) },
  responses: { 200: ok(loose('ChaosResult', 'What was done'), 'Done'), ...errors({ ...ADMIN, 403: ['chaos_disabled'] }, ADMIN_COMMON) },
});

function registerStatusAndChaos(app: App): void {
  register(app, statusRoute, async (c) => json(c, await service.status(target(c))));
  register(app, statusAllRoute, async (c) => json(c, await service.statusAll(c.env, c.var.principal)));

  register(app, chaosRoute, async (c, { body }) => {
    if (c.env.EDGEPAXOS_CHAOS !== 'on') {
      throw new ApiError(403, 'chaos_disabled', 'fault injection is off; start the dev cluster with `npm run dev:chaos` (var EDGEPAXOS_CHAOS=on)');
    }
    const client = c.var.stream;
    const ids = client.stream.replicas.map((r) => r.id);
    switch (body.action) {
      case 'crash': {
        if (!ids.includes(body.replica)) throw new ApiError(400, 'invalid_request', `stream '${client.stream.name}' has no replica ${body.replica}`);
        await client
          .stub(body.replica)
          .crash(client.identity(body.replica), body.down_ms)
          .catch(() => undefined);
        return json(c, { crashed: body.replica, down_ms: body.down_ms });
      }
      case 'partition': {
        const seen = new Set<number>();
        for (const id of body.groups.flat()) {
          if (!ids.includes(id)) throw new ApiError(400, 'invalid_request', `stream '${client.stream.name}' has no replica ${id}`);
          if (seen.has(id)) throw new ApiError(400, 'invalid_request', `replica ${id} is in more than one group`);
          seen.add(id);
        }
        await Promise.all(ids.map((id) => client.stub(id).partition(client.identity(id), body.groups).catch(() => undefined)));
        return json(c, { partitioned: body.groups });
      }
      case 'unreliable': {
        const u = { duplicateRate: body.duplicate_rate, delayMsMax: body.delay_ms_max };
        await Promise.all(ids.map((id) => client.stub(id).unreliable(client.identity(id), u).catch(() => undefined)));
        return json(c, { unreliable: { duplicate_rate: u.duplicateRate, delay_ms_max: u.delayMsMax } });
      }
      case 'heal':
        await Promise.all(
          ids.map(async (id) => {
            await client.stub(id).partition(client.identity(id), null).catch(() => undefined);
            await client.stub(id).unreliable(client.identity(id), null).catch(() => undefined);
          }),
        );
        return json(c, { healed: true });
    }
  });
}

/**
 * Operator endpoints (DCF promote_leader, RUN_MODE; Patroni switchover and
 * health checks). Controls need the admin token; health checks do not (load
 * balancers probe them) and answer 200 or 503.
 */
export function operationRoutes(): App {
  const app = group();
  register(app, switchoverRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const started = Date.now();
    const leader = await currentLeader(client);
    if (leader === body.target) return json(c, { leader_id: leader, changed: false, took_ms: 0 });
    await operate(client, leader, { kind: 'switchover', target: body.target, timeoutMs: body.timeout_ms });
    const now = await waitForLeader(client, (id) => id === body.target, started + body.timeout_ms);
    if (now !== body.target) {
      throw new ApiError(504, 'switchover_timeout', `replica ${body.target} did not take over within ${body.timeout_ms} ms; the leader is ${now ?? 'unknown'} and writes have resumed`);
    }
    return json(c, { leader_id: now, changed: true, took_ms: Date.now() - started });
  });

  register(app, stepDownRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const started = Date.now();
    const leader = await currentLeader(client);
    const res = await operate(client, leader, { kind: 'step-down', timeoutMs: body.timeout_ms });
    const now = await waitForLeader(client, (id) => id === res.target, started + body.timeout_ms);
    if (now !== res.target) {
      throw new ApiError(504, 'switchover_timeout', `replica ${res.target} did not take over within ${body.timeout_ms} ms; the leader is ${now ?? 'unknown'}`);
    }
    return json(c, { leader_id: now, previous_leader_id: leader, took_ms: Date.now() - started });
  });

  register(app, campaignRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const id = replicaIdOf(client, params.id);
    const started = Date.now();
    await operate(client, id, { kind: 'campaign' });
    const deadline = started + timingWindows(client.stream).promotionWaitMs;
    const now = await waitForLeader(client, (l) => l === id, deadline);
    return json(c, { leader_id: now, elected: now === id, took_ms: Date.now() - started });
  });

  register(app, runModeRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
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
    return json(c, { run_mode: body.mode, not_reached: notReached.sort((a, b) => a - b) });
  });

  register(app, workModeRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const views = await client.views(1000);
    if (body.mode === 'normal') {
      // A fenced voter would count in the configured quorums with a history forked off: rebuild or remove it first.
      const voters = new Set(client.members().filter((m) => m.role !== 'passive').map((m) => m.id));
      const fenced = views.filter((v) => v.view?.fenced && voters.has(v.id)).map((v) => v.id);
      if (fenced.length > 0) {
        throw new ApiError(409, 'fenced_voters', `replicas ${fenced.join(', ')} are fenced voters: rebuild them (POST .../replicas/{id}/rebuild) or remove them first`);
      }
      const notReached = await operateAll(client, client.members().map((m) => m.id), { kind: 'work-mode', override: null });
      return json(c, { work_mode: 'normal', not_reached: notReached });
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
    if (leader && writesBlocked(leader) === null && leader.work_mode === 'normal') {
      const quiet = leader.quiescent ? ' (it is quiet: idle, and wakes with the next request; if its quorum is really gone, its status says so once woken)' : '';
      throw new ApiError(409, 'quorum_available', `replica ${leaderId} leads and its writes are not blocked${quiet}: minority mode is only for a majority lost for good`);
    }
    // A new epoch: replicas still in the old one are fenced when they next hear from a survivor.
    const epoch = Math.max(0, ...views.map((v) => v.view?.epoch ?? 0)) + 1;
    const notReached = await operateAll(client, survivors, { kind: 'work-mode', override: { voters: survivors, voteNum: body.vote_num }, epoch });
    return json(c, { work_mode: 'minority', replicas: survivors, vote_num: body.vote_num, epoch, not_reached: notReached });
  });

  register(app, snapshotRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
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
    return json(c, {
      first_index: Object.fromEntries(views.filter((v) => member.has(v.id)).map((v) => [v.id, v.view?.first_index ?? null])),
      not_reached: notReached.sort((a, b) => a - b),
    });
  });

  // ---------------------------------------------------------------- health checks (no token)

  register(app, healthRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const id = replicaIdOf(client, params.id);
    const view = viewOf(await client.views(1000), id);
    if (!view) throw new ApiError(503, 'unavailable', `replica ${id} does not answer`);
    return json(c, { node_id: id, alive: true, role: view.role, leader_id: view.leader_id, applied_index: view.applied_index });
  });

  register(app, leaderRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const id = replicaIdOf(client, params.id);
    const view = viewOf(await client.views(1000), id);
    if (view?.role !== 'leader') throw new ApiError(503, 'not_leader', `replica ${id} is not the leader (${view ? view.role : 'unreachable'})`);
    return json(c, { node_id: id, leader: true, term: view.term });
  });

  register(app, replicaRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const id = replicaIdOf(client, params.id);
    const { lag } = query;
    const views = await client.views(1000);
    const view = viewOf(views, id);
    const leaderId = pickLeader(views);
    const leader = leaderId === null ? null : viewOf(views, leaderId);
    if (!view || view.role === 'leader' || view.applied_index === null || view.leader_id === null) {
      const why = !view ? 'does not answer' : view.role === 'leader' ? 'is the leader' : view.applied_index === null ? 'is a logger (no data)' : 'follows no leader';
      throw new ApiError(503, 'not_a_healthy_replica', `replica ${id} ${why}`);
    }
    const behind = leader ? lagBehind(leader, view) : null;
    if (lag !== undefined && (behind === null || behind > lag)) {
      throw new ApiError(503, 'lagging', `replica ${id} is ${behind ?? 'an unknown number of'} slots behind the leader; at most ${lag} allowed`);
    }
    return json(c, { node_id: id, replica: true, role: view.role, lag: behind });
  });

  registerStatusAndChaos(app);
  return app;
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

export function replicaIdOf(client: StreamClient, id: number): ReplicaId {
  if (!client.knownIds().includes(id)) {
    throw new ApiError(404, 'replica_not_found', `stream '${client.stream.name}' has no replica '${id}'`);
  }
  return id;
}

import { createRoute, z } from '@hono/zod-openapi';
import type { ChaosAction, WorkModeRequest } from '../client/types.ts';
import { target } from './kv.ts';
import { type App, group, json, register, stream } from './route.ts';
import { ClusterStatus, ReplicaParams, StreamParams, StreamStatus, body, errors, loose, ok } from './schemas.ts';
import * as operations from './operations-service.ts';
import { HANDOVER_TIMEOUT_MS } from './operations-service.ts';
import * as service from './service.ts';
import { decimal } from './validation.ts';

const SwitchoverBody = z
  .object({
    target: z.number().int(),
    /** How long to wait for the hand-over before giving up (writes resume on the old leader). */
    timeout_ms: z.number().int().min(HANDOVER_TIMEOUT_MS.min).max(HANDOVER_TIMEOUT_MS.max).default(HANDOVER_TIMEOUT_MS.default),
  })
  .strict();
const StepDownBody = z.object({ timeout_ms: z.number().int().min(HANDOVER_TIMEOUT_MS.min).max(HANDOVER_TIMEOUT_MS.max).default(HANDOVER_TIMEOUT_MS.default) }).strict();
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

export const ChaosBody = z
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

  register(app, chaosRoute, async (c, { body }) => json(c, await operations.chaos(target(c), body as ChaosAction)));
}

/**
 * Operator endpoints (DCF promote_leader, RUN_MODE; Patroni switchover and
 * health checks): each handler validates, calls the operator service
 * (operations-service.ts, which the EdgePaxosAdmin entrypoint calls too) and
 * answers. Controls need an admin grant; health checks a read grant (load
 * balancers probe them) and answer 200 or 503.
 */
export function operationRoutes(): App {
  const app = group();
  register(app, switchoverRoute, async (c, { body }) => json(c, await operations.switchover(target(c), body.target, body.timeout_ms)));
  register(app, stepDownRoute, async (c, { body }) => json(c, await operations.stepDown(target(c), body.timeout_ms)));
  register(app, campaignRoute, async (c, { params }) => json(c, await operations.campaign(target(c), params.id)));
  register(app, runModeRoute, async (c, { body }) => json(c, await operations.setRunMode(target(c), body.mode)));
  register(app, workModeRoute, async (c, { body }) => {
    const request: WorkModeRequest = body.mode === 'minority' ? { mode: 'minority', replicas: body.replicas, voteNum: body.vote_num } : { mode: 'normal' };
    return json(c, await operations.setWorkMode(target(c), request));
  });
  register(app, snapshotRoute, async (c) => json(c, await operations.truncate(target(c))));

  // ---------------------------------------------------------------- health checks (a read grant; 200 or 503)

  register(app, healthRoute, async (c, { params }) => json(c, await operations.health(target(c), params.id)));
  register(app, leaderRoute, async (c, { params }) => json(c, await operations.leaderCheck(target(c), params.id)));
  register(app, replicaRoute, async (c, { params, query }) => json(c, await operations.replicaCheck(target(c), params.id, query.lag)));

  registerStatusAndChaos(app);
  return app;
}

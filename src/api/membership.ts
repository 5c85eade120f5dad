import { createRoute, z } from '@hono/zod-openapi';
import type { MemberChange } from '../client/types.ts';
import { REGIONS } from '../host/config.ts';
import { target } from './kv.ts';
import * as members from './membership-service.ts';
import { CHANGE_WAIT_MS } from './membership-service.ts';
import { type App, group, json, register, stream } from './route.ts';
import { ReplicaParams, StreamParams, body, errors, loose, ok } from './schemas.ts';
import { decimal } from './validation.ts';

const waitMs = z.number().int().min(CHANGE_WAIT_MS.min).max(CHANGE_WAIT_MS.max).default(CHANGE_WAIT_MS.default);

const AddBody = z
  .object({
    id: z.number().int().min(1).max(1_000_000),
    region: z.enum(REGIONS),
    /** What it becomes once it has caught up as a learner: a voting follower (default) or a passive read replica. */
    role: z.enum(['follower', 'passive']).default('follower'),
    priority: z.number().int().min(0).max(1000).default(0),
    weight: z.number().int().min(1).max(100).default(1),
    group: z.number().int().min(0).max(1000).default(0),
    /** How long to wait for the learner to catch up before promoting it. */
    wait_ms: waitMs,
  })
  .strict();

const ChangeBody = z
  .object({
    role: z.enum(['follower', 'logger', 'passive']).optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    weight: z.number().int().min(1).max(100).optional(),
    group: z.number().int().min(0).max(1000).optional(),
    region: z.enum(REGIONS).optional(),
    wait_ms: waitMs,
  })
  .strict()
  .refine((b) => b.role !== undefined || b.priority !== undefined || b.weight !== undefined || b.group !== undefined || b.region !== undefined, {
    message: 'name at least one of role, priority, weight, group, region',
  });

const WaitQuery = z
  .object({ wait_ms: decimal(CHANGE_WAIT_MS.min, CHANGE_WAIT_MS.max).default(CHANGE_WAIT_MS.default).openapi({ description: 'How long to wait for the change, in milliseconds (default 30 000)' }) })
  .strict();

const ADMIN = {
  400: ['invalid_json', 'invalid_request'],
  404: ['stream_not_found', 'member_not_found'],
  409: ['member_exists', 'change_in_progress', 'would_block', 'not_caught_up', 'no_target', 'not_rebuildable'],
  422: ['invalid_change'],
  503: ['unavailable', 'outcome_unknown', 'catalog_unavailable'],
  504: ['switchover_timeout'],
} as const;
const ADMIN_COMMON = { 401: ['unauthorized'], 403: ['forbidden', 'admin_disabled'], 500: ['invalid_configuration'] } as const;
const tags = ['membership'];
const Members = loose('Members', 'The configuration in effect: its slot, policy and members', {
  stream: z.string(),
  leader_id: z.number().int(),
  configuration_index: z.number().int(),
  policy: z.string(),
  members: z.array(z.looseObject({ node_id: z.number().int(), role: z.string() })),
});

const listMembersRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/members',
  tags,
  summary: 'The members of the configuration in effect',
  middleware: [stream('read')],
  request: { params: StreamParams },
  responses: { 200: ok(Members, 'The members'), ...errors({ 404: ['stream_not_found'], 503: ['unavailable', 'catalog_unavailable'] }) },
});

const addMemberRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/members',
  tags,
  summary: 'Add a replica: it joins as a learner and is promoted once caught up',
  middleware: [stream('admin')],
  request: { params: StreamParams, body: body(AddBody) },
  responses: {
    201: ok(Members, 'Added (and promoted)'),
    202: ok(Members, 'Joined as a learner, not caught up yet: promote it later with PATCH'),
    ...errors(ADMIN, ADMIN_COMMON),
  },
});

const changeMemberRoute = createRoute({
  method: 'patch',
  path: '/v1/streams/{stream}/members/{id}',
  tags,
  summary: "Change a member's role, priority, weight, group or region",
  middleware: [stream('admin')],
  request: { params: ReplicaParams, body: body(ChangeBody) },
  responses: { 200: ok(Members, 'Changed'), ...errors(ADMIN, ADMIN_COMMON) },
});

const rebuildRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/replicas/{id}/rebuild',
  tags,
  summary: 'Rebuild a replica in place: wipe it into a new incarnation and catch it up',
  middleware: [stream('admin')],
  request: { params: ReplicaParams, query: WaitQuery },
  responses: { 200: ok(Members, 'Rebuilt'), 202: ok(Members, 'Rebuilt, not caught up yet'), ...errors(ADMIN, ADMIN_COMMON) },
});

const removeMemberRoute = createRoute({
  method: 'delete',
  path: '/v1/streams/{stream}/members/{id}',
  tags,
  summary: 'Remove a member (a leader hands over first)',
  middleware: [stream('admin')],
  request: { params: ReplicaParams, query: WaitQuery },
  responses: { 200: ok(Members, 'Removed'), ...errors(ADMIN, ADMIN_COMMON) },
});

/**
 * Online membership changes (DCF add/remove member, change role, priority,
 * group, weight; rebuild): each handler validates, calls the membership
 * service (membership-service.ts, which the EdgePaxosAdmin entrypoint calls
 * too) and answers; 202 when the replica had not caught up within the wait.
 */
export function membershipRoutes(): App {
  const app = group();
  register(app, listMembersRoute, async (c) => json(c, await members.listMembers(target(c))));

  register(app, addMemberRoute, async (c, { body }) => {
    const { wait_ms, ...member } = body;
    const { result, pending } = await members.addMember(target(c), { ...member, waitMs: wait_ms });
    return json(c, result, pending ? 202 : 201);
  });

  register(app, changeMemberRoute, async (c, { params, body }) => {
    const { wait_ms, ...fields } = body;
    return json(c, await members.updateMember(target(c), params.id, { ...(fields as MemberChange), waitMs: wait_ms }));
  });

  register(app, rebuildRoute, async (c, { params, query }) => {
    const { result, pending } = await members.rebuild(target(c), params.id, query.wait_ms);
    return json(c, result, pending ? 202 : 200);
  });

  register(app, removeMemberRoute, async (c, { params, query }) => json(c, await members.removeMember(target(c), params.id, query.wait_ms)));
  return app;
}

import { createRoute, z } from '@hono/zod-openapi';
import type { ReplicaId } from '../core/index.ts';
import type { DcfConfiguration as Configuration, DcfMember as Member } from '../host/dcf.ts';
import { configurationKey } from '../core/index.ts';
import { REGIONS, describeConfigurationPolicy } from '../host/config.ts';
import { isRpcError } from '../host/replica-object.ts';
import { ApiError } from './errors.ts';
import { pickLeader, viewOf } from './operations.ts';
import { type App, group, json, register, stream } from './route.ts';
import { ReplicaParams, StreamParams, body, errors, loose, ok } from './schemas.ts';
import type { StreamClient } from './stream-client.ts';
import { decimal } from './validation.ts';

const waitMs = z.number().int().min(0).max(120_000).default(30_000);

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
  .object({ wait_ms: decimal(0, 120_000).default(30_000).openapi({ description: 'How long to wait for the change, in milliseconds (default 30 000)' }) })
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
 * group, weight). Each is one configuration change decided through the log;
 * the core refuses what is unsafe or could not decide, and these endpoints add
 * what an operator expects around it: a new replica joins as a learner and is
 * promoted once it has caught up, and the leader hands over before it is
 * removed or demoted.
 */
export function membershipRoutes(): App {
  const app = group();
  register(app, listMembersRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const { leader } = await current(client);
    const { index, configuration } = client.configuration();
    return json(c, describe(index, configuration, leader, client));
  });

  register(app, addMemberRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const deadline = Date.now() + body.wait_ms;
    const { configuration } = await current(client);
    if (configuration.members.some((m) => m.id === body.id)) {
      throw new ApiError(409, 'member_exists', `replica ${body.id} is already a member of stream '${client.stream.name}'`);
    }
    const joining: Member = { id: body.id, role: 'passive', priority: body.priority, weight: body.weight, group: body.group, region: body.region };
    await change(client, (ms) => [...ms, joining], deadline + 10_000);
    if (body.role === 'passive') return json(c, { ...(await summary(client)), member: body.id, role: 'passive' }, 201);
    // A learner becomes a voter once it holds the decided log; until then the core refuses (would-block).
    const promoted = await changeWhenCaughtUp(client, (ms) => ms.map((m) => (m.id === body.id ? { ...m, role: body.role } : m)), deadline);
    if (!promoted) {
      return json(c, 
        {
          ...(await summary(client)),
          member: body.id,
          role: 'passive',
          message: `replica ${body.id} joined as a learner but had not caught up within ${body.wait_ms} ms; promote it with PATCH /v1/streams/${client.stream.name}/members/${body.id} {"role":"${body.role}"}`,
        },
        202,
      );
    }
    return json(c, { ...(await summary(client)), member: body.id, role: body.role }, 201);
  });

  register(app, changeMemberRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const deadline = Date.now() + body.wait_ms;
    const id = await memberIdOf(client, params.id);
    const { wait_ms: _, ...fields } = body;
    const edit = (ms: Member[]): Member[] => ms.map((m) => (m.id === id ? { ...m, ...fields } : m));
    if (fields.role !== undefined && fields.role !== 'follower') await handOverIfLeader(client, id, deadline);
    const becomesVoter = fields.role !== undefined && fields.role !== 'passive';
    const done = becomesVoter ? await changeWhenCaughtUp(client, edit, deadline) : (await change(client, edit, deadline), true);
    if (!done) throw new ApiError(409, 'not_caught_up', `replica ${id} had not caught up with the log within ${body.wait_ms} ms; it becomes a voter once it has`);
    return json(c, { ...(await summary(client)), member: id });
  });

  register(app, rebuildRoute, async (c, { params, query }) => {
    const client = c.var.stream;
    const q = query;
    const deadline = Date.now() + q.wait_ms;
    const views = await client.views(1000);
    // A replica fenced by a minority force-start comes back in the stream's current epoch.
    const epoch = Math.max(0, ...views.map((v) => v.view?.epoch ?? 0));
    const memberId = await memberIdOf(client, params.id);
    const view = viewOf(views, memberId);
    if (!view) throw new ApiError(503, 'unavailable', `replica ${memberId} does not answer; it is rebuilt where it runs`);
    const { configuration } = await current(client);
    const before = configuration.members.find((m) => m.id === memberId)!;
    await handOverIfLeader(client, memberId, deadline);
    // 1. The configuration names a new incarnation, as a learner: nothing the old one stored counts any more.
    // Normally one past what it runs; after an interrupted rebuild the configuration may already name it.
    const named = before.incarnation ?? 1;
    const incarnation = named > view.incarnation ? named : view.incarnation + 1;
    await change(client, (ms) => ms.map((m) => (m.id === memberId ? { ...m, role: 'passive', incarnation } : m)), deadline + 10_000);
    // 2. Once every other voter knows that change is decided (one that did not could still need the old
    //    incarnation's vote to elect anyone), wipe it into the new incarnation; the leader sends a snapshot and the log.
    await untilEveryVoterKnows(client, memberId, deadline + 10_000);
    await rebuildAt(client, memberId, epoch, incarnation);
    // 3. Once caught up, it takes its role back (in minority mode only the survivors vote: later, in normal mode).
    if (before.role === 'passive') return json(c, { ...(await summary(client)), rebuilt: memberId, incarnation, role: 'passive' });
    const minority = views.some((v) => v.view?.work_mode === 'minority');
    if (minority) {
      return json(c, {
        ...(await summary(client)),
        rebuilt: memberId,
        incarnation,
        role: 'passive',
        message: `replica ${memberId} is a learner until the stream returns to normal mode; then PATCH it to {"role":"${before.role}"}`,
      });
    }
    const back = await changeWhenCaughtUp(client, (ms) => ms.map((m) => (m.id === memberId ? { ...m, role: before.role } : m)), deadline);
    const body = { ...(await summary(client)), rebuilt: memberId, incarnation, role: back ? before.role : 'passive' };
    return back ? c.json(body) : c.json({ ...body, message: `replica ${memberId} was rebuilt but had not caught up within ${q.wait_ms} ms; PATCH it to {"role":"${before.role}"} later` }, 202);
  });

  register(app, removeMemberRoute, async (c, { params, query, body }) => {
    const client = c.var.stream;
    const q = query;
    const deadline = Date.now() + q.wait_ms;
    const id = await memberIdOf(client, params.id);
    await handOverIfLeader(client, id, deadline);
    await change(client, (ms) => ms.filter((m) => m.id !== id), deadline);
    return json(c, { ...(await summary(client)), removed: id });
  });
  return app;
}

/** Wait until every voter but `except` reports the configuration this isolate knows (or a later one) in effect. */
async function untilEveryVoterKnows(client: StreamClient, except: ReplicaId, deadline: number): Promise<void> {
  for (;;) {
    const { index, configuration } = client.configuration();
    const views = await client.views(1000);
    // A fenced voter never learns anything again (it waits for its own rebuild): it cannot hold anyone back.
    const behind = configuration.members.filter((m) => {
      const v = viewOf(views, m.id);
      return m.id !== except && m.role !== 'passive' && !v?.fenced && (v?.configuration_index ?? -1) < index;
    });
    if (behind.length === 0) return;
    if (Date.now() >= deadline) {
      throw new ApiError(503, 'unavailable', `replicas ${behind.map((m) => m.id).join(', ')} have not confirmed the rebuild's configuration yet; repeat the rebuild once they answer (it resumes where it stopped)`);
    }
    await sleep(client.stream.heartbeat_interval_ms);
  }
}

/** Wipe replica `id` into `epoch` (and `incarnation`); the replica refuses unless that is safe. */
async function rebuildAt(client: StreamClient, id: ReplicaId, epoch: number, incarnation: number): Promise<void> {
  const res = await client
    .stub(id)
    .rebuild(client.identity(id), epoch, incarnation)
    .catch(() => null);
  if (!res) throw new ApiError(503, 'unavailable', `replica ${id} did not answer`);
  if (isRpcError(res)) throw new ApiError(503, res.code, res.message);
  if (!res.ok) throw new ApiError(409, 'not_rebuildable', res.message);
}

/** The leader and the configuration in effect there, or 503. */
async function current(client: StreamClient): Promise<{ leader: ReplicaId; configuration: Configuration }> {
  const views = await client.views(1000);
  const leader = pickLeader(views);
  const view = leader === null ? null : viewOf(views, leader);
  if (leader === null || !view) throw new ApiError(503, 'unavailable', 'the stream has no leader right now; try again after the election');
  client.learn(view.configuration_index, view.configuration);
  return { leader, configuration: view.configuration };
}

async function memberIdOf(client: StreamClient, id: number): Promise<ReplicaId> {
  const { configuration } = await current(client);
  if (!configuration.members.some((m) => m.id === id)) {
    throw new ApiError(404, 'member_not_found', `stream '${client.stream.name}' has no member '${id}'`);
  }
  return id;
}

/**
 * Propose `edit` of the leader's configuration and wait until it is decided.
 * A leader change in between is followed (the change is re-read from the new
 * leader, so an edit already applied is not applied twice).
 */
async function change(client: StreamClient, edit: (members: Member[]) => Member[], deadline: number): Promise<void> {
  for (;;) {
    const { leader, configuration } = await current(client);
    const next: Configuration = { members: edit([...configuration.members]), policy: configuration.policy };
    if (configurationKey(next) === configurationKey(configuration)) return; // already in effect (a retry after an unknown outcome)
    const res = await client
      .stub(leader)
      .reconfigure(client.identity(leader), next, Math.max(1, deadline - Date.now()))
      .catch(() => null);
    if (res && !isRpcError(res)) {
      if (res.kind === 'applied') {
        await current(client); // learn the new configuration
        return;
      }
      if (res.kind === 'refused' && res.result.code !== 'not-leader') {
        const status = res.result.code === 'invalid-change' ? 422 : 409;
        throw new ApiError(status, res.result.code.replace(/-/g, '_'), res.result.message);
      }
    }
    // Not the leader any more, dropped, unknown or unreachable: look again (the change may have been decided).
    if (Date.now() >= deadline) {
      throw new ApiError(503, 'outcome_unknown', 'the configuration change was not confirmed in time; GET .../members shows whether it took effect');
    }
    await sleep(client.stream.heartbeat_interval_ms);
  }
}

/** `change`, retried while the core says the replica has not caught up yet; false if it had not by the deadline. */
async function changeWhenCaughtUp(client: StreamClient, edit: (members: Member[]) => Member[], deadline: number): Promise<boolean> {
  for (;;) {
    try {
      await change(client, edit, deadline + 10_000);
      return true;
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== 'would_block' || !/has not caught up/.test(e.message)) throw e;
      if (Date.now() >= deadline) return false;
      await sleep(client.stream.heartbeat_interval_ms);
    }
  }
}

/** The leader is never removed or demoted in place: it hands over to the best other replica first. */
async function handOverIfLeader(client: StreamClient, id: ReplicaId, deadline: number): Promise<void> {
  const { leader } = await current(client);
  if (leader !== id) return;
  const res = await client
    .stub(leader)
    .operate(client.identity(leader), { kind: 'step-down', timeoutMs: Math.max(100, deadline - Date.now()) })
    .catch(() => null);
  if (!res || isRpcError(res)) throw new ApiError(503, 'unavailable', `replica ${leader} (the leader) did not answer`);
  if (!res.ok) throw new ApiError(409, 'no_target', `replica ${id} leads and cannot hand over: ${res.message}`);
  for (;;) {
    const views = await client.views(1000);
    const now = pickLeader(views);
    if (now !== null && now !== id) return;
    if (Date.now() >= deadline) throw new ApiError(504, 'switchover_timeout', `replica ${id} leads and did not hand over in time; nothing was changed`);
    await sleep(client.stream.heartbeat_interval_ms);
  }
}

async function summary(client: StreamClient) {
  const { leader } = await current(client);
  const { index, configuration } = client.configuration();
  return describe(index, configuration, leader, client);
}

function describe(index: number, configuration: Configuration, leader: ReplicaId, client: StreamClient) {
  return {
    stream: client.stream.name,
    leader_id: leader,
    configuration_index: index,
    policy: describeConfigurationPolicy(configuration),
    members: configuration.members.map((m) => ({
      node_id: m.id,
      region: m.region ?? null,
      role: m.role,
      priority: m.priority,
      weight: m.weight,
      group: m.group,
      /** Which life of the replica: 1 until it is rebuilt in place. */
      incarnation: m.incarnation ?? 1,
    })),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

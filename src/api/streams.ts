import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ReplicaId } from '../core/index.ts';
import { CATALOG_STREAM, DefinitionError, parseShardName, type StreamConfig, StreamConfigSchema, catalogStream, clusterConfig, findStream, parseStreamDefinition } from '../host/config.ts';
import { isRpcError } from '../host/replica-object.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { type VersionedEntry, compareAndSet, dynamicClient, forgetEntry, isCreatableName, newIncarnation, readEntry, visibleStreams } from './catalog.ts';
import { ApiError } from './errors.ts';
import { authorize } from './grants.ts';
import { pickLeader } from './operations.ts';
import { type App, type AppEnv, adminCaller, group, json, register, requireAdmin } from './route.ts';
import { StreamParams, body, errors, loose, ok } from './schemas.ts';
import { StreamClient } from './stream-client.ts';

/** A stream definition is small: its JSON may be up to this many bytes (plus the usual overhead). */
const DEFINITION_BYTES_MAX = 16 * 1024;
/** Attempts of a delete whose catalog entry keeps changing under it. */
const DELETE_ATTEMPTS = 5;

const tags = ['streams'];
const ADMIN_COMMON = { 401: ['unauthorized'], 403: ['forbidden', 'admin_disabled'], 500: ['invalid_configuration'] } as const;
const StreamEntry = loose('StreamEntry', 'A stream: where it comes from and its definition, every default filled in', {
  name: z.string(),
  kind: z.enum(['configured', 'system', 'dynamic']),
  definition: z.unknown().optional(),
});
const StreamList = z
  .object({
    streams: z.array(z.looseObject({ name: z.string(), kind: z.string(), replicas: z.array(z.number().int()), leader_id: z.number().int().nullable(), leader_region: z.string().nullable() })),
    catalog_error: z.string().nullable(),
  })
  .openapi('StreamList');

const createStreamRoute = createRoute({
  method: 'post',
  path: '/v1/streams',
  tags,
  summary: 'Create a stream at run time (recorded in the catalog)',
  middleware: [adminCaller],
  bodyLimit: () => DEFINITION_BYTES_MAX,
  parseBody: (json: unknown) => parseDefinition(json),
  request: { body: body(StreamConfigSchema, "One entry of EDGEPAXOS_CONFIG's `streams`; names starting with `_` are reserved") },
  responses: {
    201: ok(StreamEntry, 'Created'),
    ...errors(
      { 400: ['invalid_json', 'invalid_request'], 409: ['stream_exists'], 413: ['payload_too_large'], 503: ['catalog_unavailable', 'outcome_unknown'] },
      ADMIN_COMMON,
    ),
  },
});

const deleteStreamRoute = createRoute({
  method: 'delete',
  path: '/v1/streams/{stream}',
  tags,
  summary: 'Delete a stream created at run time, wiping its replicas',
  middleware: [adminCaller],
  request: { params: StreamParams },
  responses: {
    200: ok(loose('StreamDeletion', '`deleted`, or `deleting` with the replicas not reached (repeat the call)'), 'Deleted or being deleted'),
    ...errors({ 404: ['stream_not_found'], 409: ['configured_stream', 'conflict'], 503: ['catalog_unavailable', 'outcome_unknown'] }, ADMIN_COMMON),
  },
});

const describeStreamRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}',
  tags,
  summary: "A stream's definition",
  request: { params: StreamParams },
  responses: { 200: ok(StreamEntry, 'The stream'), ...errors({ 404: ['stream_not_found'], 503: ['catalog_unavailable'] }) },
});

const listStreamsRoute = createRoute({
  method: 'get',
  path: '/v1/streams',
  tags,
  summary: 'Every stream the caller may read, with its leader',
  responses: { 200: ok(StreamList, 'Configured streams, the catalog, and streams created at run time'), ...errors({}) },
});

/**
 * The stream collection: list every stream (`GET /v1/streams`), describe one
 * (`GET /v1/streams/{name}`), and, with the admin token, create a stream at
 * run time (`POST /v1/streams`) and delete one (`DELETE /v1/streams/{name}`).
 * Created streams are recorded in the catalog (see catalog.ts); streams of
 * EDGEPAXOS_CONFIG belong to the deployment and are changed by redeploying.
 */
export function streamRoutes(): App {
  const app = group();
  register(app, createStreamRoute, async (c, input) => {
    const definition = input.body as StreamConfig;
    const name = definition.name;
    requireAdmin(c, name);
    if (findStream(clusterConfig(c.env.EDGEPAXOS_CONFIG), name)) {
      throw new ApiError(409, 'stream_exists', `stream '${name}' is configured in EDGEPAXOS_CONFIG`);
    }
    const current = await readEntry(c.env, name);
    if (current && current.entry.state !== 'deleted') throw exists(current);
    const entry = { state: 'active' as const, incarnation: newIncarnation(), created_at: new Date().toISOString(), definition };
    const revision = await compareAndSet(c.env, name, entry, current?.revision ?? 0);
    if (revision === null) {
      throw new ApiError(409, 'stream_exists', `stream '${name}' was created (or changed) by another request at the same time; this one changed nothing`);
    }
    const created: VersionedEntry = { name, entry, revision };
    // Wake the replicas now (each stores its definition and starts its timers), so the first request finds a leader sooner.
    await dynamicClient(c.env, created).views(1000);
    return json(c, describeEntry(created), 201);
  });

  register(app, deleteStreamRoute, async (c, { params }) => {
    const name = params.stream;
    requireAdmin(c, name);
    refuseConfigured(c, name);
    if (!isCreatableName(name)) throw notFound(name);
    for (let attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
      const current = await readEntry(c.env, name);
      if (!current || current.entry.state === 'deleted') throw notFound(name);
      let deleting = current;
      if (current.entry.state === 'active' || current.entry.state === 'restoring') {
        // Step 1: from this catalog write on, the stream answers 404 and cannot be recreated until it is wiped.
        const entry = { ...current.entry, state: 'deleting' as const };
        const revision = await compareAndSet(c.env, name, entry, current.revision);
        if (revision === null) continue; // changed under us: look again
        deleting = { name, entry, revision };
      }
      forgetEntry(name);
      const notReached = await wipeReplicas(dynamicClient(c.env, deleting));
      // Step 2, once every replica has wiped itself: the name is free again. Otherwise it stays
      // `deleting` and the operator repeats the call (and replicas also wipe themselves when a wiped peer tells them).
      if (notReached.length === 0) {
        const { definition: _definition, ...kept } = deleting.entry;
        await compareAndSet(c.env, name, { ...kept, state: 'deleted', deleted_at: new Date().toISOString() }, deleting.revision);
      }
      return json(c, { name, incarnation: deleting.entry.incarnation, state: notReached.length === 0 ? 'deleted' : 'deleting', not_reached: notReached });
    }
    throw new ApiError(409, 'conflict', `stream '${name}' kept changing while it was being deleted; try again`);
  });

  register(app, describeStreamRoute, async (c, { params }) => {
    const name = params.stream;
    authorize(c.var.principal, { stream: name, access: 'read' });
    const config = clusterConfig(c.env.EDGEPAXOS_CONFIG);
    const configured = findStream(config, name);
    if (configured) return json(c, { name, kind: 'configured', definition: configured });
    if (name === CATALOG_STREAM) return json(c, { name, kind: 'system', definition: catalogStream(config) });
    if (!isCreatableName(name)) throw notFound(name);
    const current = await readEntry(c.env, name);
    if (!current || current.entry.state === 'deleted') throw notFound(name);
    return json(c, describeEntry(current));
  });

  register(app, listStreamsRoute, async (c) => {
    const { streams, catalogError } = await visibleStreams(c.env, c.var.principal);
    const rows = streams.map((s) => {
      const extra = s.entry ?? {};
      // A stream being deleted is not asked for a leader: its replicas are wiped or about to be.
      if (!s.client) return Promise.resolve({ name: s.name, kind: s.kind, replicas: s.replicas, leader_id: null, leader_region: null, ...extra });
      return withLeader(s.client, s.kind, extra).catch((err: unknown) => {
        if (s.kind === 'dynamic' && err instanceof ApiError && err.status === 404) return null; // deleted meanwhile
        throw err;
      });
    });
    return json(c, { streams: (await Promise.all(rows)).filter((s) => s !== null), catalog_error: catalogError });
  });
  return app;
}

/** The definition in the request, validated like an entry of EDGEPAXOS_CONFIG's `streams`; 400 naming every problem. */
function parseDefinition(body: unknown): StreamConfig {
  const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined;
  if (typeof body === 'object' && body !== null && 'restore' in body) {
    throw new ApiError(400, 'invalid_request', 'restore: set only by a restore (POST /v1/streams/{stream}/restore with a snapshot)');
  }
  if (typeof name === 'string' && name.startsWith('_')) {
    throw new ApiError(400, 'invalid_request', `name: stream names starting with '_' are reserved for edgepaxos's own streams (such as '${CATALOG_STREAM}')`);
  }
  if (typeof name === 'string' && parseShardName(name)) {
    throw new ApiError(400, 'invalid_request', `name: '${name}' has the form of a keyspace's shard (<keyspace>_sNNNN), which is reserved`);
  }
  try {
    return parseStreamDefinition(body);
  } catch (e) {
    if (e instanceof DefinitionError) throw new ApiError(400, 'invalid_request', e.message);
    throw e;
  }
}

/** Streams of the deployment's configuration (and the catalog) are changed by redeploying, never here. */
function refuseConfigured(c: Context<AppEnv>, name: string): void {
  const config = clusterConfig(c.env.EDGEPAXOS_CONFIG);
  if (findStream(config, name)) {
    throw new ApiError(409, 'configured_stream', `stream '${name}' is defined in EDGEPAXOS_CONFIG; remove it there and redeploy (its replicas' storage is not deleted by that)`);
  }
  if (name === CATALOG_STREAM) throw new ApiError(409, 'configured_stream', `'${CATALOG_STREAM}' is the stream catalog; it cannot be deleted`);
}

/** Tell every replica to wipe itself; the ids of those that did not confirm. */
async function wipeReplicas(client: StreamClient): Promise<ReplicaId[]> {
  const timeoutMs = timingWindows(client.stream).destroyWaitMs;
  const notReached: ReplicaId[] = [];
  await Promise.all(
    // Every replica ever known: the bootstrap ones and any added by a membership change.
    client.knownIds().map(async (id) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
      const res = await Promise.race([client.stub(id).destroy(client.identity(id)), timeout]).catch(() => null);
      if (timer !== undefined) clearTimeout(timer);
      if (!res || isRpcError(res)) notReached.push(id);
    }),
  );
  return notReached.sort((a, b) => a - b);
}

/** One row of the stream list: where the stream comes from, its replicas and the leader they report. */
async function withLeader(client: StreamClient, kind: StreamClient['placement']['kind'], extra: Record<string, unknown> = {}) {
  const s = client.stream;
  const views = await client.views(1000);
  // Of replicas that say they lead, the one with the highest term (a deposed leader may not know it yet).
  const leader = pickLeader(views);
  // The members of the newest configuration reported (membership changes live in the log).
  const members = client.members();
  return {
    name: s.name,
    kind,
    replicas: members.map((m) => m.id),
    leader_id: leader,
    leader_region: leader === null ? null : (members.find((m) => m.id === leader)?.region ?? null),
    ...extra,
  };
}

function describeEntry(e: VersionedEntry) {
  return { name: e.name, kind: 'dynamic', state: e.entry.state, incarnation: e.entry.incarnation, created_at: e.entry.created_at, definition: e.entry.definition };
}

function exists(e: VersionedEntry): ApiError {
  if (e.entry.state === 'deleting') {
    return new ApiError(409, 'stream_exists', `stream '${e.name}' is being deleted; repeat DELETE /v1/streams/${e.name} to finish, then create it again`);
  }
  return new ApiError(409, 'stream_exists', `stream '${e.name}' already exists (created ${e.entry.created_at}, incarnation ${e.entry.incarnation})`);
}

function notFound(name: string): ApiError {
  return new ApiError(404, 'stream_not_found', `no stream '${name}' was created at run time`);
}

import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { DefinitionError, type KeyspaceConfig, KeyspaceConfigSchema, clusterConfig, findKeyspace, parseKeyspaceDefinition, shardStreamName } from '../host/config.ts';
import { isRpcError } from '../host/replica-object.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { ApiError } from './errors.ts';
import { mayRead } from './grants.ts';
import {
  type Keyspace,
  type VersionedKeyspace,
  compareAndSetKeyspace,
  forgetKeyspace,
  listKeyspaceEntries,
  newKeyspaceEntry,
  readKeyspace,
  shardClient,
} from './keyspace-catalog.ts';
import { growKeyspace } from './keyspace-grow.ts';
import * as router from './keyspace-service.ts';
import { continent, idempotency } from './kv.ts';
import { type App, type AppEnv, adminCaller, group, json, register, requireAdmin } from './route.ts';
import { IdempotencyHeader, body, errors, loose, ok } from './schemas.ts';
import { TxnBody } from './txn.ts';
import { LIST_LIMIT_MAX, bodyLimitFor, decimal, maxValueBytes } from './validation.ts';

const tags = ['keyspaces'];
const DEFINITION_BYTES_MAX = 16 * 1024;
const ADMIN_COMMON = { 401: ['unauthorized'], 403: ['forbidden', 'admin_disabled'], 500: ['invalid_configuration'] } as const;

const KeyspaceName = z.string().min(1).openapi({ description: 'A keyspace: configured (EDGEPAXOS_CONFIG `keyspaces`) or created at run time', example: 'users' });
const KeyspaceParams = z.object({ keyspace: KeyspaceName }).strict();
const KeyParams = z.object({ keyspace: KeyspaceName, key: z.string().openapi({ description: 'The key: the rest of the path, `/` included', example: 'user/42' }) }).strict();

const KeyspaceEntry = loose('KeyspaceEntry', 'A keyspace: where it comes from, its definition and its shard map', {
  name: z.string(),
  kind: z.enum(['configured', 'dynamic']),
  map_version: z.number().int(),
  shards: z.array(z.string()),
  definition: z.unknown().optional(),
});
const KeyspaceList = z.object({ keyspaces: z.array(KeyspaceEntry), catalog_error: z.string().nullable() }).openapi('KeyspaceList');
const KsItem = z.object({ key: z.string(), value: z.string(), revision: z.number().int(), shard: z.number().int().openapi({ description: 'Revisions are per shard: compare two only when their shard is the same' }) }).openapi('KeyspaceItem');
const KsPutResult = z.object({ revision: z.number().int(), shard: z.number().int() }).openapi('KeyspacePutResult');
const KsDeleteResult = z.object({ deleted: z.boolean(), revision: z.number().int(), shard: z.number().int() }).openapi('KeyspaceDeleteResult');
const KsListResult = z.object({ items: z.array(KsItem), cursor: z.string().optional() }).openapi('KeyspaceListResult');
const KsTxnResult = z
  .object({
    succeeded: z.boolean(),
    results: z.array(z.looseObject({ shard: z.number().int() })).openapi({ description: 'One per operation of the branch that applied, each with its shard; a put of a cross-shard transaction has no revision (its shard assigns it when it resolves the transaction)' }),
    shards: z.array(z.number().int()),
    revision: z.number().int().optional().openapi({ description: 'A single-shard transaction: the slot of its shard' }),
    txid: z.string().optional().openapi({ description: 'A cross-shard transaction: its id' }),
  })
  .openapi('KeyspaceTxnResult');
const KsStatus = z
  .object({
    name: z.string(),
    map_version: z.number().int(),
    shards: z.array(
      z.object({
        shard: z.number().int(),
        stream: z.string(),
        leader_id: z.number().int().nullable(),
        leader_region: z.string().nullable(),
        commit_index: z.number().int().nullable(),
        healthy: z.boolean(),
        followed_region: z.string().nullable().optional().openapi({ description: '`leaders: follow`: the region the shard prefers now (its top-priority electable replica\'s)' }),
        window_writes: z.record(z.string(), z.number().int()).optional().openapi({ description: "`leaders: follow`: the leader's counted writes of its current window, per origin region" }),
      }),
    ),
  })
  .openapi('KeyspaceStatus');
const PutBody = z
  .object({
    value: z.string({ error: 'value must be a string' }),
    if_revision: z.number().int().min(0, 'if_revision must be 0 or more').optional().openapi({ description: "Compare-and-set on the key's shard revision (0: only if absent)" }),
  })
  .strict()
  .openapi('KeyspacePutBody');
const Consistency = z.enum(['linearizable', 'stale']).default('linearizable');
const GetQuery = z.object({ consistency: Consistency }).strict();
const DeleteQuery = z.object({ if_revision: decimal(0, Number.MAX_SAFE_INTEGER).optional() }).strict();
const ListQuery = z
  .object({
    prefix: z.string().max(1024).default(''),
    limit: decimal(1, LIST_LIMIT_MAX).optional(),
    cursor: z.string().optional(),
    start_after: z.string().optional(),
    consistency: Consistency,
  })
  .strict();

const KS_ERRORS = { 404: ['keyspace_not_found'], 503: ['unavailable', 'catalog_unavailable'] } as const;
const WRITE_ERRORS = {
  400: ['invalid_json', 'invalid_request', 'invalid_key', 'invalid_idempotency_key'],
  404: ['keyspace_not_found'],
  409: ['revision_mismatch'],
  413: ['value_too_large', 'payload_too_large'],
  422: ['idempotency_key_reused'],
  429: ['overloaded'],
  503: ['outcome_unknown', 'unavailable', 'catalog_unavailable'],
} as const;

const createKeyspaceRoute = createRoute({
  method: 'post',
  path: '/v1/keyspaces',
  tags,
  summary: 'Create a keyspace at run time: a key space spread over shards, each an ordinary stream (recorded in the catalog)',
  middleware: [adminCaller],
  bodyLimit: () => DEFINITION_BYTES_MAX,
  parseBody: (raw: unknown) => parseDefinition(raw),
  request: { body: body(KeyspaceConfigSchema, "One entry of EDGEPAXOS_CONFIG's `keyspaces`") },
  responses: {
    201: ok(KeyspaceEntry, 'Created'),
    ...errors({ 400: ['invalid_json', 'invalid_request'], 409: ['keyspace_exists'], 413: ['payload_too_large'], 503: ['catalog_unavailable', 'outcome_unknown'] }, ADMIN_COMMON),
  },
});
const listKeyspacesRoute = createRoute({ method: 'get', path: '/v1/keyspaces', tags, summary: 'Every keyspace the caller may read', responses: { 200: ok(KeyspaceList, 'Configured keyspaces and those created at run time'), ...errors({}) } });
const describeKeyspaceRoute = createRoute({
  method: 'get',
  path: '/v1/keyspaces/{keyspace}',
  tags,
  summary: "A keyspace's definition and shard map",
  request: { params: KeyspaceParams },
  responses: { 200: ok(KeyspaceEntry, 'The keyspace'), ...errors({ 404: ['keyspace_not_found'], 503: ['catalog_unavailable'] }) },
});
const deleteKeyspaceRoute = createRoute({
  method: 'delete',
  path: '/v1/keyspaces/{keyspace}',
  tags,
  summary: 'Delete a keyspace created at run time, wiping every shard',
  middleware: [adminCaller],
  request: { params: KeyspaceParams },
  responses: {
    200: ok(loose('KeyspaceDeletion', '`deleted`, or `deleting` with the shard replicas not reached (repeat the call)'), 'Deleted or being deleted'),
    ...errors({ 404: ['keyspace_not_found'], 409: ['configured_keyspace', 'conflict'], 503: ['catalog_unavailable', 'outcome_unknown'] }, ADMIN_COMMON),
  },
});
const GrowBody = z.object({ shards: z.number().int().min(2).max(256).openapi({ description: 'The new shard count: more than now, at most 256; the same count resumes an unfinished grow' }) }).strict().openapi('KeyspaceGrowBody');
const KsGrowResult = z
  .object({
    name: z.string(),
    map_version: z.number().int(),
    shards: z.number().int(),
    state: z.enum(['grown', 'growing']).openapi({ description: '`growing`: some range is still moving (repeat the call to finish it)' }),
    moves: z.array(z.object({ from: z.number().int(), to: z.number().int(), source: z.number().int(), target: z.number().int(), done: z.boolean() })).openapi({ description: 'The hash ranges of the grow in progress, each from its source shard to its new shard; empty once grown' }),
  })
  .openapi('KeyspaceGrowResult');
const growRoute = createRoute({
  method: 'post',
  path: '/v1/keyspaces/{keyspace}/grow',
  tags,
  summary: 'Add shards to a keyspace created at run time while it serves (or resume an unfinished grow)',
  middleware: [adminCaller],
  request: { params: KeyspaceParams, body: body(GrowBody) },
  responses: {
    200: ok(KsGrowResult, 'Grown, or still growing after a failure (repeat the call)'),
    ...errors({ 400: ['invalid_json', 'invalid_request'], 404: ['keyspace_not_found'], 409: ['configured_keyspace', 'grow_in_progress', 'conflict'], 503: ['catalog_unavailable', 'outcome_unknown', 'unavailable'] }, ADMIN_COMMON),
  },
});
const putRoute = createRoute({
  method: 'put',
  path: '/v1/keyspaces/{keyspace}/kv/{key}',
  tags,
  summary: "Write a value at the key's shard (optionally compare-and-set)",
  bodyLimit: (env: Cloudflare.Env) => bodyLimitFor(maxValueBytes(env)),
  request: { params: KeyParams, headers: IdempotencyHeader, body: body(PutBody) },
  responses: { 200: ok(KsPutResult, 'Decided and applied at the shard'), ...errors(WRITE_ERRORS) },
});
const getRoute = createRoute({
  method: 'get',
  path: '/v1/keyspaces/{keyspace}/kv/{key}',
  tags,
  summary: "Read a key at its shard (an unresolved transaction's intent on it is settled first)",
  request: { params: KeyParams, query: GetQuery },
  responses: { 200: ok(KsItem, 'The value, its shard and its revision there'), ...errors({ 400: ['invalid_request', 'invalid_key'], 404: ['keyspace_not_found', 'not_found'], 429: ['overloaded'], 503: ['unavailable', 'catalog_unavailable'] }) },
});
const deleteRoute = createRoute({
  method: 'delete',
  path: '/v1/keyspaces/{keyspace}/kv/{key}',
  tags,
  summary: 'Delete a key at its shard',
  request: { params: KeyParams, query: DeleteQuery, headers: IdempotencyHeader },
  responses: { 200: ok(KsDeleteResult, '`deleted` is false if the key did not exist'), ...errors(WRITE_ERRORS) },
});
const listRoute = createRoute({
  method: 'get',
  path: '/v1/keyspaces/{keyspace}/kv',
  tags,
  summary: 'List keys under a prefix over every shard, merged in key order',
  request: { params: KeyspaceParams, query: ListQuery },
  responses: { 200: ok(KsListResult, 'A page of keys; `cursor` when more may follow'), ...errors({ 400: ['invalid_request', 'invalid_key'], 403: ['forbidden'], ...KS_ERRORS, 429: ['overloaded'] }) },
});
const txnRoute = createRoute({
  method: 'post',
  path: '/v1/keyspaces/{keyspace}/txn',
  tags,
  summary: 'A transaction over any keys of the keyspace: one command on one shard, two-phase commit over several',
  bodyLimit: (env: Cloudflare.Env) => bodyLimitFor(maxValueBytes(env)) + 6 * 1024 * 192,
  request: { params: KeyspaceParams, headers: IdempotencyHeader, body: body(TxnBody) },
  responses: {
    200: ok(KsTxnResult, 'Decided (atomically on every shard it touches)'),
    ...errors({ ...WRITE_ERRORS, 409: ['txn_conflict'], 413: ['value_too_large', 'payload_too_large', 'txn_too_large'] }),
  },
});
const statusRoute = createRoute({
  method: 'get',
  path: '/v1/keyspaces/{keyspace}/status',
  tags,
  summary: "Every shard's stream, leader and commit index, and the map version",
  request: { params: KeyspaceParams },
  responses: { 200: ok(KsStatus, 'The keyspace'), ...errors(KS_ERRORS) },
});

/** The keyspace collection and the router's routes (the service layer: keyspace-service.ts). */
export function keyspaceRoutes(): App {
  const app = group();
  register(app, createKeyspaceRoute, async (c, input) => {
    const definition = input.body as KeyspaceConfig;
    const name = definition.name;
    requireAdmin(c, name);
    if (findKeyspace(clusterConfig(c.env.EDGEPAXOS_CONFIG), name)) throw new ApiError(409, 'keyspace_exists', `keyspace '${name}' is configured in EDGEPAXOS_CONFIG`);
    const current = await readKeyspace(c.env, name);
    if (current && current.entry.state !== 'deleted') {
      throw new ApiError(409, 'keyspace_exists', current.entry.state === 'deleting' ? `keyspace '${name}' is being deleted; repeat DELETE /v1/keyspaces/${name} to finish` : `keyspace '${name}' already exists`);
    }
    const entry = newKeyspaceEntry(definition);
    const revision = await compareAndSetKeyspace(c.env, name, entry, current?.revision ?? 0);
    if (revision === null) throw new ApiError(409, 'keyspace_exists', `keyspace '${name}' was created (or changed) by another request at the same time; this one changed nothing`);
    return json(c, describe({ name, entry, revision }), 201);
  });

  register(app, listKeyspacesRoute, async (c) => {
    const principal = c.var.principal;
    const config = clusterConfig(c.env.EDGEPAXOS_CONFIG);
    const configured = config.keyspaces.filter((k) => mayRead(principal, k.name)).map((k) => describeConfigured(k));
    let catalogError: string | null = null;
    let dynamic: ReturnType<typeof describe>[] = [];
    try {
      dynamic = (await listKeyspaceEntries(c.env)).filter((e) => e.entry.state !== 'deleted' && mayRead(principal, e.name)).map(describe);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      catalogError = e.message;
    }
    return json(c, { keyspaces: [...configured, ...dynamic], catalog_error: catalogError });
  });

  register(app, describeKeyspaceRoute, async (c, { params }) => {
    const name = params.keyspace;
    const t = await router.openKeyspace(c.env, c.var.principal, name, 'read');
    if (t.ks.kind === 'configured') return json(c, describeConfigured(t.ks.definition));
    const current = await readKeyspace(c.env, name);
    if (!current || current.entry.state === 'deleted') throw new ApiError(404, 'keyspace_not_found', `no keyspace '${name}'`);
    return json(c, describe(current));
  });

  register(app, deleteKeyspaceRoute, async (c, { params }) => {
    const name = params.keyspace;
    requireAdmin(c, name);
    if (findKeyspace(clusterConfig(c.env.EDGEPAXOS_CONFIG), name)) throw new ApiError(409, 'configured_keyspace', `keyspace '${name}' is defined in EDGEPAXOS_CONFIG; remove it there and redeploy`);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await readKeyspace(c.env, name);
      if (!current || current.entry.state === 'deleted' || !current.entry.definition || !current.entry.map) throw new ApiError(404, 'keyspace_not_found', `no keyspace '${name}' was created at run time`);
      let deleting = current;
      if (current.entry.state === 'active') {
        const entry = { ...current.entry, state: 'deleting' as const };
        const revision = await compareAndSetKeyspace(c.env, name, entry, current.revision);
        if (revision === null) continue;
        deleting = { name, entry, revision };
      }
      forgetKeyspace(name);
      const ks: Keyspace = { name, kind: 'dynamic', definition: deleting.entry.definition!, map: deleting.entry.map!, incarnation: deleting.entry.incarnation };
      const notReached = (await Promise.all(Array.from({ length: ks.definition.shards }, (_, i) => wipe(c.env, ks, i)))).flat();
      if (notReached.length === 0) {
        const { definition: _d, map: _m, ...kept } = deleting.entry;
        await compareAndSetKeyspace(c.env, name, { ...kept, state: 'deleted', deleted_at: new Date().toISOString() }, deleting.revision);
      }
      return json(c, { name, incarnation: deleting.entry.incarnation, state: notReached.length === 0 ? 'deleted' : 'deleting', not_reached: notReached });
    }
    throw new ApiError(409, 'conflict', `keyspace '${name}' kept changing while it was being deleted; try again`);
  });

  register(app, growRoute, async (c, { params, body }) => {
    requireAdmin(c, params.keyspace);
    return json(c, await growKeyspace(c.env, c.var.principal, params.keyspace, body.shards));
  });

  register(app, putRoute, async (c, { params, body }) =>
    json(c, await router.ksPut(await open(c, params.keyspace, 'write'), params.key, body.value, { ...(body.if_revision !== undefined ? { ifRevision: body.if_revision } : {}), ...idempotency(c) })),
  );
  register(app, getRoute, async (c, { params, query }) => {
    const item = await router.ksGet(await open(c, params.keyspace, 'read'), params.key, { consistency: query.consistency, ...continent(c) });
    if (!item) throw new ApiError(404, 'not_found', `no key '${params.key}' in keyspace '${params.keyspace}'`);
    return json(c, item);
  });
  register(app, deleteRoute, async (c, { params, query }) =>
    json(c, await router.ksDelete(await open(c, params.keyspace, 'write'), params.key, { ...(query.if_revision !== undefined ? { ifRevision: query.if_revision } : {}), ...idempotency(c) })),
  );
  app.on(['GET', 'PUT', 'DELETE'], '/v1/keyspaces/:keyspace/kv/', () => {
    throw new ApiError(400, 'invalid_key', 'the key must not be empty');
  });
  register(app, listRoute, async (c, { params, query }) =>
    json(
      c,
      await router.ksList(await open(c, params.keyspace, 'read'), {
        prefix: query.prefix,
        ...(query.limit !== undefined ? { limit: query.limit } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
        ...(query.start_after !== undefined ? { startAfter: query.start_after } : {}),
        consistency: query.consistency,
        ...continent(c),
      }),
    ),
  );
  // Read access opens it; each operation is authorised by the router (writes need write access on their keys).
  register(app, txnRoute, async (c, { params, body }) => json(c, await router.ksTxn(await open(c, params.keyspace, 'read'), body, idempotency(c))));
  register(app, statusRoute, async (c, { params }) => json(c, await router.ksStatus(await open(c, params.keyspace, 'read'))));
  return app;
}

/** The keyspace of the path for this caller; the resolves of a decided transaction outlive the response. */
function open(c: Context<AppEnv>, name: string, access: 'read' | 'write'): Promise<router.KeyspaceTarget> {
  return router.openKeyspace(c.env, c.var.principal, name, access, (work) => c.executionCtx.waitUntil(work), continent(c).continent);
}

function parseDefinition(raw: unknown): KeyspaceConfig {
  try {
    return parseKeyspaceDefinition(raw);
  } catch (e) {
    if (e instanceof DefinitionError) throw new ApiError(400, 'invalid_request', e.message);
    throw e;
  }
}

function describeConfigured(k: KeyspaceConfig) {
  return { name: k.name, kind: 'configured', map_version: 1, shards: Array.from({ length: k.shards }, (_, i) => shardName(k.name, i)), definition: k };
}

function describe(e: VersionedKeyspace) {
  const d = e.entry.definition;
  return {
    name: e.name,
    kind: 'dynamic',
    state: e.entry.state,
    incarnation: e.entry.incarnation,
    created_at: e.entry.created_at,
    map_version: e.entry.map?.version ?? 0,
    shards: d ? Array.from({ length: d.shards }, (_, i) => shardName(e.name, i)) : [],
    definition: d,
    ...(e.entry.grow ? { grow: e.entry.grow } : {}),
  };
}

function shardName(ks: string, i: number): string {
  return shardStreamName(ks, i);
}

/** Tell every replica of shard `i` to wipe itself; the `shard/replica` names of those that did not confirm. */
async function wipe(env: Cloudflare.Env, ks: Keyspace, i: number): Promise<string[]> {
  const client = shardClient(env, ks, i);
  const timeoutMs = timingWindows(client.stream).destroyWaitMs;
  const notReached: string[] = [];
  await Promise.all(
    client.knownIds().map(async (id) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
      const res = await Promise.race([client.stub(id).destroy(client.identity(id)), timeout]).catch(() => null);
      if (timer !== undefined) clearTimeout(timer);
      if (!res || isRpcError(res)) notReached.push(`${client.stream.name}/${id}`);
    }),
  );
  return notReached;
}

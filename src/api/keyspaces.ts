import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type KeyspaceConfig, KeyspaceConfigSchema } from '../host/config.ts';
import { ApiError } from './errors.ts';
import * as collection from './keyspace-collection.ts';
import { DEFINITION_BYTES_MAX } from './streams-service.ts';
import { growKeyspace } from './keyspace-grow.ts';
import * as router from './keyspace-service.ts';
import { ksWatch } from './keyspace-watch.ts';
import { continent, idempotency } from './kv.ts';
import { type App, type AppEnv, adminCaller, group, json, register, requireAdmin } from './route.ts';
import { IdempotencyHeader, body, errors, loose, ok } from './schemas.ts';
import { WATCH_MAX_DURATION_MS, WATCH_PROGRESS_MS } from './service.ts';
import { TxnBody } from './txn.ts';
import { LIST_LIMIT_MAX, bodyLimitFor, decimal, maxValueBytes } from './validation.ts';

const tags = ['keyspaces'];
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
  parseBody: (raw: unknown) => collection.parseDefinition(raw),
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

const WatchQuery = z
  .object({
    key: z.string().optional().openapi({ description: 'Watch this key (at its shard) ...' }),
    prefix: z.string().optional().openapi({ description: "... or every key under this prefix ('' for all), at every shard: give exactly one" }),
    from_revision: z
      .string()
      .max(64 * 1024)
      .optional()
      .openapi({ description: 'Resume from a cursor `SHARD:REVISION,...` (the `id:` of the last event received): each named shard from that revision on; a shard not named starts with the changes after the watch starts', example: '0:13,1:7,2:22,3:9' }),
    max_duration_ms: decimal(1000, WATCH_MAX_DURATION_MS).optional().openapi({ description: `The connection ends after this long (1000 to ${WATCH_MAX_DURATION_MS}, the default)` }),
    progress_ms: decimal(1000, 60_000).optional().openapi({ description: `A progress event per shard this often (1000 to 60000, default ${WATCH_PROGRESS_MS})` }),
  })
  .strict();
const WatchHeaders = z.object({ 'last-event-id': z.string().optional().openapi({ description: "An EventSource's reconnection: the cursor to resume from (from_revision wins)" }) });
const KsEventStream = z.string().openapi({
  description:
    'Server-Sent Events, each one `data:` line of JSON: a stream watch\'s events (`put`, `delete`, `progress`, `compacted`), each with the `shard` it comes from (its revision is that shard\'s); the last event of a shard\'s revision and every progress event carry `id: <cursor>`, the position to resume from. A `compacted` event ends the stream',
  example: 'id: 0:13,1:8\ndata: {"type":"put","key":"user/42","value":"ada","revision":7,"create_revision":7,"shard":1}\n\n',
});
const watchRoute = createRoute({
  method: 'get',
  path: '/v1/keyspaces/{keyspace}/watch',
  tags,
  summary: "Watch a key or a prefix over the keyspace's shards: every shard's changes merged, each event naming its shard, resumable from a per-shard cursor",
  request: { params: KeyspaceParams, query: WatchQuery, headers: WatchHeaders },
  responses: {
    200: { description: 'The event stream (each shard watched at one of its replicas)', content: { 'text/event-stream': { schema: KsEventStream } } },
    ...errors({ 400: ['invalid_request', 'invalid_key'], 403: ['forbidden'], 404: ['keyspace_not_found'], 410: ['compacted'], 503: ['unavailable', 'catalog_unavailable'] }),
  },
});

/** The keyspace collection and the router's routes (the service layer: keyspace-service.ts). */
export function keyspaceRoutes(): App {
  const app = group();
  register(app, createKeyspaceRoute, async (c, input) => json(c, await collection.createKeyspace(c.env, c.var.principal, input.body as KeyspaceConfig), 201));
  register(app, listKeyspacesRoute, async (c) => json(c, await collection.listKeyspaces(c.env, c.var.principal)));
  register(app, describeKeyspaceRoute, async (c, { params }) => json(c, await collection.describeKeyspace(c.env, c.var.principal, params.keyspace)));
  register(app, deleteKeyspaceRoute, async (c, { params }) => json(c, await collection.deleteKeyspace(c.env, c.var.principal, params.keyspace)));

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
  register(app, watchRoute, async (c, { params, query }) => {
    const from = query.from_revision ?? c.req.header('last-event-id');
    const body = await ksWatch(await open(c, params.keyspace, 'read'), {
      ...(query.key !== undefined ? { key: query.key } : {}),
      ...(query.prefix !== undefined ? { prefix: query.prefix } : {}),
      ...(from !== undefined ? { fromRevision: from } : {}),
      ...(query.max_duration_ms !== undefined ? { maxDurationMs: query.max_duration_ms } : {}),
      ...(query.progress_ms !== undefined ? { progressMs: query.progress_ms } : {}),
      ...continent(c),
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': c.get('requestId') } });
  });
  register(app, statusRoute, async (c, { params }) => json(c, await router.ksStatus(await open(c, params.keyspace, 'read'))));
  return app;
}

/** The keyspace of the path for this caller; the resolves of a decided transaction outlive the response. */
function open(c: Context<AppEnv>, name: string, access: 'read' | 'write'): Promise<router.KeyspaceTarget> {
  return router.openKeyspace(c.env, c.var.principal, name, access, (work) => c.executionCtx.waitUntil(work), continent(c).continent);
}

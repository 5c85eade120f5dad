import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError } from './errors.ts';
import { type App, type AppEnv, group, json, register, stream } from './route.ts';
import { DeleteResult, IdempotencyHeader, KvItem, ListResult, PutResult, StreamName, StreamParams, body, errors, ok } from './schemas.ts';
import * as service from './service.ts';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, bodyLimitFor, decimal, idempotencyKeyOf, maxValueBytes } from './validation.ts';

const KeyParams = z
  .object({
    stream: StreamName,
    key: z.string().openapi({
      description:
        'The key: the rest of the path, `/` included. URLs are normalised before the Worker sees them (`.` and `..` segments are resolved, so `x/%2e%2e/y` arrives as `y`): address such keys with `/key?key=`',
      example: 'config/a',
    }),
  })
  .strict();

/** The key form: any key at all, as a query parameter (etcd's JSON gateway takes keys in the body, base64-encoded). */
const KeyQuery = z.object({ key: z.string().openapi({ description: 'The key, percent-encoded: any bytes, `.` and `..` segments included', example: 'x/../y' }) }).strict();
const IfRevision = decimal(0, Number.MAX_SAFE_INTEGER).optional().openapi({ description: "Compare-and-delete: delete only if the key's revision is this" });
const DeleteQuery = z.object({ if_revision: IfRevision }).strict();
const DeleteByQueryQuery = z.object({ key: KeyQuery.shape.key, if_revision: IfRevision }).strict();
const KeyReadQuery = z.object({ key: KeyQuery.shape.key, consistency: z.enum(['linearizable', 'stale']).default('linearizable') }).strict();

const PutBody = z
  .object({
    value: z.string({ error: 'value must be a string' }).openapi({ description: 'Up to EDGEPAXOS_MAX_VALUE_BYTES (1 MiB) of UTF-8' }),
    if_revision: z.number().int().min(0, 'if_revision must be 0 or more').optional().openapi({ description: "Compare-and-set: write only if the key's revision is this (0: only if absent)" }),
    lease: z.string().optional().openapi({ description: 'Attach the key to this lease (a grant\'s id): it is deleted when the lease ends. Without it the key is attached to none' }),
  })
  .strict()
  .openapi('PutBody');

const GetQuery = z.object({ consistency: z.enum(['linearizable', 'stale']).default('linearizable') }).strict();

const ListQuery = z
  .object({
    prefix: z.string().max(1024).default('').openapi({ description: 'Only keys starting with this' }),
    limit: decimal(1, LIST_LIMIT_MAX).optional().openapi({ description: `1 to ${LIST_LIMIT_MAX}, default ${LIST_LIMIT_DEFAULT}` }),
    cursor: z.string().optional().openapi({ description: 'The `cursor` of the previous page: read on after it' }),
    start_after: z.string().optional().openapi({ description: 'Only keys after this one (instead of `cursor`)' }),
    consistency: z.enum(['linearizable', 'stale']).default('linearizable'),
  })
  .strict();

const WRITE_ERRORS = {
  400: ['invalid_json', 'invalid_request', 'invalid_key', 'invalid_idempotency_key'],
  403: ['reserved_stream'],
  404: ['stream_not_found'],
  413: ['value_too_large', 'payload_too_large'],
  422: ['idempotency_key_reused'],
  429: ['overloaded'],
  503: ['outcome_unknown', 'unavailable', 'catalog_unavailable'],
} as const;
const READ_ERRORS = { 400: ['invalid_request', 'invalid_key'], 404: ['stream_not_found', 'not_found'], 429: ['overloaded'], 503: ['unavailable', 'catalog_unavailable'] } as const;

const tags = ['key-value'];

const putRoute = createRoute({
  method: 'put',
  path: '/v1/streams/{stream}/kv/{key}',
  tags,
  summary: 'Write a value (optionally compare-and-set)',
  middleware: [stream('write')],
  bodyLimit: (env: Cloudflare.Env) => bodyLimitFor(maxValueBytes(env)),
  request: { params: KeyParams, headers: IdempotencyHeader, body: body(PutBody) },
  responses: { 200: ok(PutResult, 'Decided and applied'), ...errors({ ...WRITE_ERRORS, 404: ['stream_not_found', 'lease_not_found'], 409: ['revision_mismatch'] }) },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/kv/{key}',
  tags,
  summary: 'Read a key',
  middleware: [stream('read')],
  request: { params: KeyParams, query: GetQuery },
  responses: { 200: ok(KvItem, 'The value and the slot that wrote it'), ...errors(READ_ERRORS) },
});

const deleteRoute = createRoute({
  method: 'delete',
  path: '/v1/streams/{stream}/kv/{key}',
  tags,
  summary: 'Delete a key',
  middleware: [stream('write')],
  request: { params: KeyParams, query: DeleteQuery, headers: IdempotencyHeader },
  responses: { 200: ok(DeleteResult, '`deleted` is false if the key did not exist'), ...errors({ ...WRITE_ERRORS, 409: ['revision_mismatch'] }) },
});

const listRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/kv',
  tags,
  summary: 'List keys under a prefix, in key order',
  middleware: [stream('read')],
  request: { params: StreamParams, query: ListQuery },
  responses: { 200: ok(ListResult, 'A page of keys; `cursor` when more may follow'), ...errors({ ...READ_ERRORS, 403: ['forbidden'] }) },
});

const putByQueryRoute = createRoute({
  method: 'put',
  path: '/v1/streams/{stream}/key',
  tags,
  summary: 'Write a value, the key given as a query parameter',
  middleware: [stream('write')],
  bodyLimit: (env: Cloudflare.Env) => bodyLimitFor(maxValueBytes(env)),
  request: { params: StreamParams, query: KeyQuery, headers: IdempotencyHeader, body: body(PutBody) },
  responses: { 200: ok(PutResult, 'Decided and applied'), ...errors({ ...WRITE_ERRORS, 404: ['stream_not_found', 'lease_not_found'], 409: ['revision_mismatch'] }) },
});

const getByQueryRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/key',
  tags,
  summary: 'Read a key given as a query parameter',
  middleware: [stream('read')],
  request: { params: StreamParams, query: KeyReadQuery },
  responses: { 200: ok(KvItem, 'The value and the slot that wrote it'), ...errors(READ_ERRORS) },
});

const deleteByQueryRoute = createRoute({
  method: 'delete',
  path: '/v1/streams/{stream}/key',
  tags,
  summary: 'Delete a key given as a query parameter',
  middleware: [stream('write')],
  request: { params: StreamParams, query: DeleteByQueryQuery, headers: IdempotencyHeader },
  responses: { 200: ok(DeleteResult, '`deleted` is false if the key did not exist'), ...errors({ ...WRITE_ERRORS, 409: ['revision_mismatch'] }) },
});

/** The key-value routes: keys in the path (`/kv/{key}`) or, for any key at all, in the query (`/key?key=`). */
export function kvRoutes(): App {
  const app = group();
  register(app, putRoute, async (c, { params, body }) => json(c, await service.put(target(c), params.key, body.value, putOptions(c, body.if_revision, body.lease))));
  register(app, getRoute, async (c, { params, query }) => json(c, await getOr404(c, params.key, query.consistency)));
  register(app, deleteRoute, async (c, { params, query }) => json(c, await service.del(target(c), params.key, deleteOptions(c, query.if_revision))));
  // `/kv/` with nothing after it: a key was meant, and it is empty.
  app.on(['GET', 'PUT', 'DELETE'], '/v1/streams/:stream/kv/', stream('read'), () => {
    throw new ApiError(400, 'invalid_key', 'the key must not be empty');
  });
  register(app, listRoute, async (c, { query }) =>
    json(
      c,
      await service.list(target(c), {
        prefix: query.prefix,
        ...(query.limit !== undefined ? { limit: query.limit } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
        ...(query.start_after !== undefined ? { startAfter: query.start_after } : {}),
        consistency: query.consistency,
        ...continent(c),
      }),
    ),
  );
  register(app, putByQueryRoute, async (c, { query, body }) => json(c, await service.put(target(c), query.key, body.value, putOptions(c, body.if_revision, body.lease))));
  register(app, getByQueryRoute, async (c, { query }) => json(c, await getOr404(c, query.key, query.consistency)));
  register(app, deleteByQueryRoute, async (c, { query }) => json(c, await service.del(target(c), query.key, deleteOptions(c, query.if_revision))));
  return app;
}

async function getOr404(c: Context<AppEnv>, key: string, consistency: service.ConsistencyLevel) {
  const item = await service.get(target(c), key, { consistency, ...continent(c) });
  if (!item) throw new ApiError(404, 'not_found', `no key '${key}' in stream '${c.var.stream.stream.name}'`);
  return item;
}

/** The stream the middleware opened for this caller. */
export function target(c: Context<AppEnv>): service.Target {
  return { env: c.env, principal: c.var.principal, client: c.var.stream };
}

export function idempotency(c: Context<AppEnv>): { idempotencyKey?: string } {
  const key = idempotencyKeyOf(c.req.header('idempotency-key'));
  return key === undefined ? {} : { idempotencyKey: key };
}

function putOptions(c: Context<AppEnv>, ifRevision: number | undefined, lease: string | undefined): service.PutOptions {
  return { ...(ifRevision !== undefined ? { ifRevision } : {}), ...(lease !== undefined ? { lease } : {}), ...idempotency(c) };
}

function deleteOptions(c: Context<AppEnv>, ifRevision: number | undefined): service.DeleteOptions {
  return { ...(ifRevision !== undefined ? { ifRevision } : {}), ...idempotency(c) };
}

/** Where the request came from, for the nearest replica of a stale read. */
export function continent(c: Context<AppEnv>): { continent?: string } {
  const cf = (c.req.raw as Request & { cf?: { continent?: unknown } }).cf;
  return typeof cf?.continent === 'string' ? { continent: cf.continent } : {};
}

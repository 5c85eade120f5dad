import { createRoute, z } from '@hono/zod-openapi';
import { LEASE_TTL_MAX_MS, LEASE_TTL_MIN_MS } from '../kv/index.ts';
import { idempotency, target } from './kv.ts';
import { type App, group, json, register, stream } from './route.ts';
import { IdempotencyHeader, StreamName, StreamParams, body, errors, ok } from './schemas.ts';
import * as service from './service.ts';

const LeaseId = z.string().regex(/^[0-9a-f]{16}$/, 'a lease id is 16 hex digits, as a grant answers').openapi({ description: 'A lease id (16 hex digits)', example: '000000000000002a' });
const LeaseParams = z.object({ stream: StreamName, id: LeaseId }).strict();

const GrantBody = z
  .object({ ttl_ms: z.number().int().min(LEASE_TTL_MIN_MS).max(LEASE_TTL_MAX_MS).openapi({ description: `The time to live: ${LEASE_TTL_MIN_MS} to ${LEASE_TTL_MAX_MS} ms` }) })
  .strict()
  .openapi('LeaseGrantBody');

export const LeaseGrantResult = z.object({ id: z.string(), ttl_ms: z.number().int() }).openapi('LeaseGrantResult');
export const LeaseInfo = z
  .object({
    id: z.string(),
    ttl_ms: z.number().int(),
    remaining_ms: z.number().int().openapi({ description: "The leader's estimate of the time left; rely on your keep-alives instead (docs/coordination.md)" }),
    keys: z.array(z.string()).openapi({ description: 'The attached keys (those this token may read)' }),
  })
  .openapi('LeaseInfo');
export const LeaseRevokeResult = z
  .object({ revoked: z.literal(true), keys: z.array(z.string()).openapi({ description: 'The keys deleted with it' }), revision: z.number().int() })
  .openapi('LeaseRevokeResult');

const WRITE = {
  400: ['invalid_json', 'invalid_request', 'invalid_idempotency_key'],
  403: ['reserved_stream'],
  429: ['overloaded'],
  503: ['outcome_unknown', 'unavailable', 'catalog_unavailable'],
} as const;
const tags = ['leases'];

const grantRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/leases',
  tags,
  summary: 'Grant a lease: keys attached to it are deleted when it ends',
  middleware: [stream('write')],
  request: { params: StreamParams, headers: IdempotencyHeader, body: body(GrantBody) },
  responses: { 201: ok(LeaseGrantResult, 'Granted: keep it alive within its TTL'), ...errors({ ...WRITE, 404: ['stream_not_found'], 422: ['idempotency_key_reused'] }) },
});

const keepAliveRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/leases/{id}/keepalive',
  tags,
  summary: 'Keep a lease alive: its full TTL starts again',
  middleware: [stream('write')],
  request: { params: LeaseParams },
  responses: {
    200: ok(LeaseGrantResult, 'Kept alive: you may rely on it until the time you sent this + ttl_ms - the drift allowance (docs/coordination.md)'),
    ...errors({ ...WRITE, 403: ['reserved_stream', 'forbidden'], 404: ['stream_not_found', 'lease_not_found'] }),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/leases/{id}',
  tags,
  summary: 'A lease: its TTL, the time left by the leader, its keys',
  middleware: [stream('read')],
  request: { params: LeaseParams },
  responses: { 200: ok(LeaseInfo, 'Read through the leader'), ...errors({ 400: ['invalid_request'], 404: ['stream_not_found', 'lease_not_found'], 429: ['overloaded'], 503: ['unavailable', 'catalog_unavailable'] }) },
});

const revokeRoute = createRoute({
  method: 'delete',
  path: '/v1/streams/{stream}/leases/{id}',
  tags,
  summary: 'Revoke a lease now, deleting its keys',
  middleware: [stream('write')],
  request: { params: LeaseParams, headers: IdempotencyHeader },
  responses: { 200: ok(LeaseRevokeResult, 'Revoked'), ...errors({ ...WRITE, 403: ['reserved_stream', 'forbidden'], 404: ['stream_not_found', 'lease_not_found'], 422: ['idempotency_key_reused'] }) },
});

/** The lease routes: grant, keep alive, read, revoke. */
export function leaseRoutes(): App {
  const app = group();
  register(app, grantRoute, async (c, { body }) => json(c, await service.leaseGrant(target(c), body.ttl_ms, idempotency(c)), 201));
  register(app, keepAliveRoute, async (c, { params }) => json(c, await service.leaseKeepAlive(target(c), params.id)));
  register(app, getRoute, async (c, { params }) => json(c, await service.leaseGet(target(c), params.id)));
  register(app, revokeRoute, async (c, { params }) => json(c, await service.leaseRevoke(target(c), params.id, idempotency(c))));
  return app;
}

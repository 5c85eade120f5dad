import { createRoute, z } from '@hono/zod-openapi';
import { ApiError } from './errors.ts';
import { target } from './kv.ts';
import * as locks from './lock-service.ts';
import { type App, group, json, register, stream } from './route.ts';
import { StreamName, body, errors, ok } from './schemas.ts';

const Name = z.string().min(1).openapi({ description: 'The lock or election: its keys are `<name>/<lease id>` (percent-encode a `/` in a name)', example: 'nightly-job' });
const NameParams = z.object({ stream: StreamName, name: Name }).strict();
const LeaseId = z.string().openapi({ description: 'The lease (16 hex digits) that holds it: it is released when the lease ends' });
const WaitMs = z
  .number()
  .int()
  .min(0)
  .max(locks.WAIT_MS_MAX)
  .optional()
  .openapi({ description: `How long to wait in line (0 to ${locks.WAIT_MS_MAX} ms, default ${locks.WAIT_MS_DEFAULT}); then the waiter leaves the queue` });
const Revision = z.number().int().min(1).openapi({ description: 'The fencing token the lock or campaign returned (the key\'s create revision)' });

const LockBody = z.object({ lease: LeaseId, wait_ms: WaitMs }).strict().openapi('LockBody');
const UnlockBody = z
  .object({ key: z.string().openapi({ description: 'The key the lock returned' }), revision: Revision.optional().openapi({ description: 'Release only if the key still has this create revision' }) })
  .strict()
  .openapi('UnlockBody');
const CampaignBody = z.object({ lease: LeaseId, value: z.string().openapi({ description: 'What the leader proclaims (its address, say)' }), wait_ms: WaitMs }).strict().openapi('CampaignBody');
const ProclaimBody = z.object({ key: z.string(), revision: Revision, value: z.string() }).strict().openapi('ProclaimBody');
const ResignBody = z.object({ key: z.string(), revision: Revision }).strict().openapi('ResignBody');

const Held = z
  .object({
    key: z.string().openapi({ description: 'The holder\'s key: give it to release' }),
    revision: z.number().int().openapi({ description: 'The fencing token: the key\'s create revision, strictly increasing per name' }),
  })
  .openapi('LockResult');
const Released = z.object({ released: z.boolean().openapi({ description: 'False when the key was gone already' }), revision: z.number().int() }).openapi('UnlockResult');
const Leader = z
  .object({
    key: z.string(),
    value: z.string(),
    revision: z.number().int().openapi({ description: 'The leadership\'s fencing token (its key\'s create revision)' }),
    mod_revision: z.number().int().openapi({ description: 'The revision of its latest proclaim' }),
  })
  .openapi('ElectionLeader');
const Proclaimed = z.object({ revision: z.number().int() }).openapi('ProclaimResult');
const Resigned = z.object({ resigned: z.boolean(), revision: z.number().int() }).openapi('ResignResult');

const WRITE = {
  400: ['invalid_json', 'invalid_request', 'invalid_key'],
  403: ['reserved_stream'],
  413: ['value_too_large'],
  429: ['overloaded'],
  503: ['outcome_unknown', 'unavailable', 'catalog_unavailable'],
} as const;

const lockRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/locks/{name}',
  tags: ['locks'],
  summary: 'Acquire a lock (waiting in line); the answer\'s revision is a fencing token',
  middleware: [stream('write')],
  request: { params: NameParams, body: body(LockBody) },
  responses: { 200: ok(Held, 'Held until released or until the lease ends'), ...errors({ ...WRITE, 404: ['stream_not_found', 'lease_not_found'], 409: ['lock_held'] }) },
});

const unlockRoute = createRoute({
  method: 'delete',
  path: '/v1/streams/{stream}/locks/{name}',
  tags: ['locks'],
  summary: 'Release a lock',
  middleware: [stream('write')],
  request: { params: NameParams, body: body(UnlockBody) },
  responses: { 200: ok(Released, 'Released (the next waiter gets it)'), ...errors({ ...WRITE, 404: ['stream_not_found'] }) },
});

const campaignRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/elections/{name}/campaign',
  tags: ['elections'],
  summary: 'Campaign: wait (in line) to become the leader',
  middleware: [stream('write')],
  request: { params: NameParams, body: body(CampaignBody) },
  responses: { 200: ok(Held, 'Elected: leader until resigning or until the lease ends'), ...errors({ ...WRITE, 404: ['stream_not_found', 'lease_not_found'], 409: ['not_elected'] }) },
});

const leaderRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/elections/{name}',
  tags: ['elections'],
  summary: 'The current leader (observe changes by watching the prefix `<name>/`)',
  middleware: [stream('read')],
  request: { params: NameParams },
  responses: { 200: ok(Leader, 'Read through the leader'), ...errors({ 400: ['invalid_request'], 404: ['stream_not_found', 'not_found'], 429: ['overloaded'], 503: ['unavailable', 'catalog_unavailable'] }) },
});

const proclaimRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/elections/{name}/proclaim',
  tags: ['elections'],
  summary: 'The leader announces a new value',
  middleware: [stream('write')],
  request: { params: NameParams, body: body(ProclaimBody) },
  responses: { 200: ok(Proclaimed, 'Proclaimed'), ...errors({ ...WRITE, 404: ['stream_not_found'], 409: ['not_elected'] }) },
});

const resignRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/elections/{name}/resign',
  tags: ['elections'],
  summary: 'Resign leadership (or a candidacy)',
  middleware: [stream('write')],
  request: { params: NameParams, body: body(ResignBody) },
  responses: { 200: ok(Resigned, '`resigned` is false when the key was gone already'), ...errors({ ...WRITE, 404: ['stream_not_found'] }) },
});

/** Locks and leader elections (etcd's concurrency API), on transactions, leases and watches (lock-service.ts). */
export function lockRoutes(): App {
  const app = group();
  register(app, lockRoute, async (c, { params, body }) => json(c, await locks.lock(target(c), params.name, { lease: body.lease, ...(body.wait_ms !== undefined ? { waitMs: body.wait_ms } : {}) })));
  register(app, unlockRoute, async (c, { params, body }) =>
    json(c, await locks.unlock(target(c), params.name, body.key, body.revision !== undefined ? { revision: body.revision } : {})),
  );
  register(app, campaignRoute, async (c, { params, body }) =>
    json(c, await locks.campaign(target(c), params.name, { lease: body.lease, value: body.value, ...(body.wait_ms !== undefined ? { waitMs: body.wait_ms } : {}) })),
  );
  register(app, leaderRoute, async (c, { params }) => {
    const leader = await locks.leader(target(c), params.name);
    if (!leader) throw new ApiError(404, 'not_found', `election '${params.name}' has no leader`);
    return json(c, leader);
  });
  register(app, proclaimRoute, async (c, { params, body }) => json(c, await locks.proclaim(target(c), params.name, body.key, body.revision, body.value)));
  register(app, resignRoute, async (c, { params, body }) => json(c, await locks.resign(target(c), params.name, body.key, body.revision)));
  return app;
}

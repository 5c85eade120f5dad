import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import type { KvItem, KvResult } from '../kv/index.ts';
import { ConfigError, clusterConfig } from '../host/config.ts';
import { ApiError } from './errors.ts';
import { requireAdmin } from './admin.ts';
import { resolveStream } from './catalog.ts';
import { registerMembership } from './membership.ts';
import { registerOperations } from './operations.ts';
import { streamStatus } from './status.ts';
import type { StreamClient } from './stream-client.ts';
import { registerStreams } from './streams.ts';
import { checkKey, checkValueSize, idempotencyKey, maxValueBytes, readJson, readQuery } from './validation.ts';

type AppEnv = { Bindings: Cloudflare.Env };

const PutBody = z
  .object({
    value: z.string({ error: 'value must be a string' }),
    if_revision: z.number().int().min(0, 'if_revision must be 0 or more').optional(),
  })
  .strict();

const LogBody = z.object({ data: z.string({ error: 'data must be a string' }) }).strict();

const Consistency = z.enum(['linearizable', 'stale']).default('linearizable');

const GetQuery = z.object({ consistency: Consistency }).strict();

const ListQuery = z
  .object({
    prefix: z.string().max(1024).default(''),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    consistency: Consistency,
  })
  .strict();

const LogQuery = z
  .object({
    from: z.coerce.number().int().min(1).default(1),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

const ChaosBody = z.discriminatedUnion('action', [
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
]);

export const app = new Hono<AppEnv>();

app.get('/', (c) =>
  c.json({
    name: 'edgepaxos',
    description: 'Multi-Paxos consensus on Cloudflare Durable Objects',
    streams: configOf(c.env).streams.map((s) => s.name),
    docs: 'see README.md: /v1/streams/{stream}/kv/{key}, /v1/streams/{stream}/log, /v1/streams/{stream}/status',
  }),
);

// ------------------------------------------------------------------ key-value

app.put('/v1/streams/:stream/kv/:key{.+}', async (c) => {
  const client = await streamClient(c.env, c.req.param('stream'));
  refuseSystemWrite(client);
  const key = checkKey(c.req.param('key'));
  const max = maxValueBytes(c.env);
  const body = await readJson(c, PutBody, max);
  checkValueSize(body.value, max, 'value');
  const result = await client.write({
    kind: 'put',
    key,
    value: body.value,
    ...(body.if_revision !== undefined ? { ifRevision: body.if_revision } : {}),
    idempotencyKey: idempotencyKey(c) ?? crypto.randomUUID(),
  });
  refuseReusedKey(result);
  if (result.kind !== 'put') throw unexpected(result);
  if (!result.ok) {
    throw new ApiError(409, 'revision_mismatch', `the key's revision is ${result.currentRevision}, not ${body.if_revision}`, {
      current_revision: result.currentRevision,
    });
  }
  return c.json({ revision: result.revision });
});

app.get('/v1/streams/:stream/kv/:key{.+}', async (c) => {
  const client = await streamClient(c.env, c.req.param('stream'));
  const key = checkKey(c.req.param('key'));
  const { consistency } = readQuery(c, GetQuery);
  const item: KvItem | null =
    consistency === 'stale'
      ? await client.readStale(continentOf(c.req.raw), (stub, id) => stub.get(id, key, 'stale', 0))
      : await client.readLinearizable((stub, id, timeoutMs) => stub.get(id, key, 'linearizable', timeoutMs));
  if (!item) throw new ApiError(404, 'not_found', `no key '${key}' in stream '${client.stream.name}'`);
  return c.json({ key: item.key, value: item.value, revision: item.revision });
});

app.delete('/v1/streams/:stream/kv/:key{.+}', async (c) => {
  const client = await streamClient(c.env, c.req.param('stream'));
  refuseSystemWrite(client);
  const key = checkKey(c.req.param('key'));
  const result = await client.write({ kind: 'delete', key, idempotencyKey: idempotencyKey(c) ?? crypto.randomUUID() });
  refuseReusedKey(result);
  if (result.kind !== 'delete') throw unexpected(result);
  return c.json({ deleted: result.deleted, revision: result.revision });
});

// `/kv/` with nothing after it: a key was meant, and it is empty.
app.on(['GET', 'PUT', 'DELETE'], '/v1/streams/:stream/kv/', async (c) => {
  await streamClient(c.env, c.req.param('stream'));
  throw new ApiError(400, 'invalid_key', 'the key must not be empty');
});

app.get('/v1/streams/:stream/kv', async (c) => {
  const client = await streamClient(c.env, c.req.param('stream'));
  const q = readQuery(c, ListQuery);
  const items: KvItem[] =
    q.consistency === 'stale'
      ? await client.readStale(continentOf(c.req.raw), (stub, id) => stub.list(id, q.prefix, q.limit, 'stale', 0))
      : await client.readLinearizable((stub, id, timeoutMs) => stub.list(id, q.prefix, q.limit, 'linearizable', timeoutMs));
  return c.json({ items: items.map((i) => ({ key: i.key, value: i.value, revision: i.revision })) });
});

// ------------------------------------------------------------------ log

app.post('/v1/streams/:stream/log', async (c) => {
  const client = await streamClient(c.env, c.req.param('stream'));
  refuseSystemWrite(client);
  const max = maxValueBytes(c.env);
  const body = await readJson(c, LogBody, max);
  checkValueSize(body.data, max, 'data');
  const result = await client.write({ kind: 'opaque', data: body.data, idempotencyKey: idempotencyKey(c) ?? crypto.randomUUID() });
  refuseReusedKey(result);
  if (result.kind !== 'opaque') throw unexpected(result);
  return c.json({ index: result.index });
});

app.get('/v1/streams/:stream/log', async (c) => {
  const client = await streamClient(c.env, c.req.param('stream'));
  const q = readQuery(c, LogQuery);
  const entries = await client.readLinearizable((stub, id, timeoutMs) => stub.readLog(id, q.from, q.limit, timeoutMs));
  return c.json({ entries });
});

// ------------------------------------------------------------------ operations

app.get('/v1/streams/:stream/status', async (c) => {
  const client = await streamClient(c.env, c.req.param('stream'));
  return c.json(await streamStatus(client));
});

app.post('/v1/streams/:stream/chaos', async (c) => {
  requireAdmin(c);
  if (c.env.EDGEPAXOS_CHAOS !== 'on') {
    throw new ApiError(403, 'chaos_disabled', 'fault injection is off; start the dev cluster with `npm run dev:chaos` (var EDGEPAXOS_CHAOS=on)');
  }
  const client = await streamClient(c.env, c.req.param('stream'));
  const body = await readJson(c, ChaosBody, 64 * 1024);
  const ids = client.stream.replicas.map((r) => r.id);
  switch (body.action) {
    case 'crash': {
      if (!ids.includes(body.replica)) throw new ApiError(400, 'invalid_request', `stream '${client.stream.name}' has no replica ${body.replica}`);
      await client
        .stub(body.replica)
        .crash(client.identity(body.replica), body.down_ms)
        .catch(() => undefined);
      return c.json({ crashed: body.replica, down_ms: body.down_ms });
    }
    case 'partition': {
      const seen = new Set<number>();
      for (const id of body.groups.flat()) {
        if (!ids.includes(id)) throw new ApiError(400, 'invalid_request', `stream '${client.stream.name}' has no replica ${id}`);
        if (seen.has(id)) throw new ApiError(400, 'invalid_request', `replica ${id} is in more than one group`);
        seen.add(id);
      }
      await Promise.all(ids.map((id) => client.stub(id).partition(client.identity(id), body.groups).catch(() => undefined)));
      return c.json({ partitioned: body.groups });
    }
    case 'unreliable': {
      const u = { duplicateRate: body.duplicate_rate, delayMsMax: body.delay_ms_max };
      await Promise.all(ids.map((id) => client.stub(id).unreliable(client.identity(id), u).catch(() => undefined)));
      return c.json({ unreliable: { duplicate_rate: u.duplicateRate, delay_ms_max: u.delayMsMax } });
    }
    case 'heal':
      await Promise.all(
        ids.map(async (id) => {
          await client.stub(id).partition(client.identity(id), null).catch(() => undefined);
          await client.stub(id).unreliable(client.identity(id), null).catch(() => undefined);
        }),
      );
      return c.json({ healed: true });
  }
});

registerOperations(app, streamClient);
registerMembership(app, streamClient);

registerStreams(app);

// ------------------------------------------------------------------ errors

app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` } }, 404));

app.onError((err, c) => {
  if (err instanceof ApiError) return c.json(err.body(), err.status);
  if (err instanceof ConfigError) return c.json({ error: { code: 'invalid_configuration', message: err.message } }, 500);
  if (err instanceof HTTPException) return c.json({ error: { code: 'http_error', message: err.message } }, err.status);
  console.error('edgepaxos: unexpected error', err);
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
});

// ------------------------------------------------------------------ helpers

function configOf(env: Cloudflare.Env) {
  return clusterConfig(env.EDGEPAXOS_CONFIG);
}

/** The client of a configured stream, the catalog, or a stream created at run time; 404 for any other name. */
function streamClient(env: Cloudflare.Env, name: string): Promise<StreamClient> {
  return resolveStream(env, name);
}

/** The catalog is written only through the stream endpoints (compare-and-set on its entries); it can be read and operated. */
function refuseSystemWrite(client: StreamClient): void {
  if (client.placement.kind === 'system') {
    throw new ApiError(403, 'reserved_stream', `stream '${client.stream.name}' is edgepaxos's stream catalog; create and delete streams with POST /v1/streams and DELETE /v1/streams/{name}`);
  }
}

function continentOf(req: Request): string | undefined {
  const cf = (req as Request & { cf?: { continent?: unknown } }).cf;
  return typeof cf?.continent === 'string' ? cf.continent : undefined;
}

/** An Idempotency-Key already used for a different request: 422, and nothing was applied. */
function refuseReusedKey(result: KvResult): void {
  if (result.kind === 'rejected') {
    throw new ApiError(422, 'idempotency_key_reused', `this Idempotency-Key was first used for a different request (at slot ${result.firstSlot}); nothing was applied`, {
      first_slot: result.firstSlot,
    });
  }
}

function unexpected(result: KvResult): Error {
  return new Error(`unexpected result for this request: ${JSON.stringify(result)}`);
}

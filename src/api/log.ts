import { createRoute, z } from '@hono/zod-openapi';
import { idempotency, target } from './kv.ts';
import { type App, group, json, register, stream } from './route.ts';
import { AppendResult, IdempotencyHeader, ReadResult, StreamParams, body, errors, ok } from './schemas.ts';
import * as service from './service.ts';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, bodyLimitFor, decimal, maxValueBytes } from './validation.ts';

const AppendBody = z
  .object({ data: z.string({ error: 'data must be a string' }).openapi({ description: 'The record: up to EDGEPAXOS_MAX_VALUE_BYTES (1 MiB) of UTF-8' }) })
  .strict()
  .openapi('AppendBody');

const ReadQuery = z
  .object({
    from: decimal(1, Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'The first slot to read (default 1)' }),
    limit: decimal(1, LIST_LIMIT_MAX).optional().openapi({ description: `1 to ${LIST_LIMIT_MAX}, default ${LIST_LIMIT_DEFAULT}` }),
  })
  .strict();

const tags = ['log'];

const appendRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/log',
  tags,
  summary: 'Append a record to the log',
  middleware: [stream('write')],
  bodyLimit: (env: Cloudflare.Env) => bodyLimitFor(maxValueBytes(env)),
  request: { params: StreamParams, headers: IdempotencyHeader, body: body(AppendBody) },
  responses: {
    200: ok(AppendResult, 'Decided and applied'),
    ...errors({
      400: ['invalid_json', 'invalid_request', 'invalid_idempotency_key'],
      403: ['reserved_stream'],
      404: ['stream_not_found'],
      413: ['value_too_large', 'payload_too_large'],
      422: ['idempotency_key_reused'],
      429: ['overloaded'],
      503: ['outcome_unknown', 'unavailable', 'catalog_unavailable'],
    }),
  },
});

const readRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/log',
  tags,
  summary: 'Read appended records from a slot on',
  middleware: [stream('read')],
  request: { params: StreamParams, query: ReadQuery },
  responses: {
    200: ok(ReadResult, 'Records that were appended (a retry appears once; a refused record never), in slot order'),
    ...errors({ 400: ['invalid_request'], 404: ['stream_not_found'], 410: ['compacted'], 429: ['overloaded'], 503: ['unavailable', 'catalog_unavailable'] }),
  },
});

/** The log routes: append records, read them back from a slot on. */
export function logRoutes(): App {
  const app = group();
  register(app, appendRoute, async (c, { body }) => json(c, await service.append(target(c), body.data, idempotency(c))));
  register(app, readRoute, async (c, { query }) =>
    json(c, await service.read(target(c), { ...(query.from !== undefined ? { from: query.from } : {}), ...(query.limit !== undefined ? { limit: query.limit } : {}) })),
  );
  return app;
}

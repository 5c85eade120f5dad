import { createRoute, z } from '@hono/zod-openapi';
import { ApiError } from './errors.ts';
import { continent, target } from './kv.ts';
import { type App, group, register, stream } from './route.ts';
import { StreamParams, errors } from './schemas.ts';
import * as service from './service.ts';
import { decimal } from './validation.ts';

const WatchQuery = z
  .object({
    key: z.string().optional().openapi({ description: 'Watch this key ...' }),
    prefix: z.string().optional().openapi({ description: "... or every key under this prefix ('' for all): give exactly one" }),
    from_revision: decimal(1, Number.MAX_SAFE_INTEGER)
      .optional()
      .openapi({ description: 'Replay the changes from this revision on (default: only changes after the watch starts). Reconnect with the last `id:` + 1' }),
    max_duration_ms: decimal(1000, service.WATCH_MAX_DURATION_MS)
      .optional()
      .openapi({ description: `The connection ends after this long, with a progress event (1000 to ${service.WATCH_MAX_DURATION_MS}, the default)` }),
    progress_ms: decimal(1000, 60_000).optional().openapi({ description: `A progress event this often (1000 to 60000, default ${service.WATCH_PROGRESS_MS})` }),
  })
  .strict();

const WatchHeaders = z.object({
  'last-event-id': z.string().optional().openapi({ description: "An EventSource's reconnection: the same as from_revision = this + 1 (from_revision wins)" }),
});

const EventStream = z.string().openapi({
  description:
    'Server-Sent Events: each event one `data:` line of JSON, `{"type":"put","key","value","revision","create_revision"}`, `{"type":"delete","key","revision"}` (either with `"moved":true` when a grow copied the key into this shard or dropped it from here: not a write), `{"type":"progress","revision"}` (nothing at or below it follows) or `{"type":"compacted","first_revision"}` (the stream ends); the last event of a revision and every progress event carry `id: <revision>`',
  example: 'id: 12\ndata: {"type":"put","key":"config/a","value":"1","revision":12,"create_revision":12}\n\n',
});

const watchRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/watch',
  tags: ['watches'],
  summary: 'Watch a key or a prefix: its changes in revision order, each once, as Server-Sent Events',
  middleware: [stream('read')],
  request: { params: StreamParams, query: WatchQuery, headers: WatchHeaders },
  responses: {
    200: { description: 'The event stream, from the first replica that took the watch (a follower if one is current)', content: { 'text/event-stream': { schema: EventStream } } },
    ...errors({ 400: ['invalid_request', 'invalid_key'], 404: ['stream_not_found'], 410: ['compacted'], 503: ['unavailable', 'catalog_unavailable'] }),
  },
});

/** The watch route: an SSE stream answered by one replica, which pushes the changes as it applies them. */
export function watchRoutes(): App {
  const app = group();
  register(app, watchRoute, async (c, { query }) => {
    let from = query.from_revision;
    const lastEventId = c.req.header('last-event-id');
    if (from === undefined && lastEventId !== undefined) {
      if (!/^[0-9]{1,15}$/.test(lastEventId)) throw new ApiError(400, 'invalid_request', 'Last-Event-ID must be a revision');
      from = Number(lastEventId) + 1;
    }
    const body = await service.watch(target(c), {
      ...(query.key !== undefined ? { key: query.key } : {}),
      ...(query.prefix !== undefined ? { prefix: query.prefix } : {}),
      ...(from !== undefined ? { fromRevision: from } : {}),
      ...(query.max_duration_ms !== undefined ? { maxDurationMs: query.max_duration_ms } : {}),
      ...(query.progress_ms !== undefined ? { progressMs: query.progress_ms } : {}),
      ...continent(c),
    });
    return new Response(body, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': c.get('requestId') },
    });
  });
  return app;
}

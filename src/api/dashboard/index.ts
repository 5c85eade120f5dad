import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { visibleStreams } from '../catalog.ts';
import { type App, group, register } from '../route.ts';
import { errors } from '../schemas.ts';
import * as service from '../service.ts';
import { DASHBOARD_CSP, DASHBOARD_CSS, dashboardHtml } from './page.ts';
import { DASHBOARD_JS } from './script.ts';

/** How often a feed asks the replicas for their status. */
export const EVENTS_POLL_MS = 500;
/** How often a feed lists the streams again (streams created or deleted meanwhile). */
const EVENTS_LIST_MS = 5_000;
/** A comment line this often when nothing changed, so that proxies keep the connection. */
const EVENTS_KEEPALIVE_MS = 15_000;
/**
 * One feed ends after this many replica calls or this long, whichever comes
 * first, and the client reconnects: a Worker invocation may make only so many
 * calls (1 000 on Workers Paid), and no invocation should live for ever.
 */
export const EVENTS_CALLS_MAX = 900;
const EVENTS_FEED_MS = 5 * 60_000;

const statusEventsRoute = createRoute({
  method: 'get',
  path: '/v1/status/events',
  tags: ['operations'],
  summary: 'The status of every stream the caller may read, live (server-sent events)',
  description:
    'A `status` event with the same body as `GET /v1/status` at once, then one whenever anything in it changes (asked every 500 ms). ' +
    'A feed ends after 900 replica calls or 5 minutes (a Worker request may only make so many calls): reconnect. The dashboard reads it.',
  request: {},
  responses: {
    200: { description: '`event: status` with a ClusterStatus as `data`', content: { 'text/event-stream': { schema: z.string() } } },
    ...errors({}),
  },
});

/**
 * The live dashboard (`GET /dashboard`: a page, its script and style, all
 * served from here, nothing from elsewhere) and its feed, `GET
 * /v1/status/events`. The page is public (it holds no data); the feed is a
 * read, by grant, like `GET /v1/status`; the controls are the admin routes.
 */
export function dashboardRoutes(): App {
  const app = group();
  app.get('/dashboard', (c) => {
    c.header('content-security-policy', DASHBOARD_CSP);
    return c.html(dashboardHtml());
  });
  app.get('/dashboard/app.js', (c) => c.body(DASHBOARD_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/dashboard/app.css', (c) => c.body(DASHBOARD_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }));

  register(app, statusEventsRoute, async (c) => {
    const env = c.env;
    const principal = c.var.principal;
    // Refused (401, 403) before the feed starts, as the usual JSON error.
    let visible = await visibleStreams(env, principal);
    return streamSSE(c, async (sse) => {
      const started = Date.now();
      let listedAt = started;
      let wroteAt = started;
      let calls = 0;
      let last = '';
      while (!sse.aborted && !sse.closed) {
        if (Date.now() - listedAt >= EVENTS_LIST_MS) {
          visible = await visibleStreams(env, principal);
          listedAt = Date.now();
          calls += 1;
        }
        const status = await service.statusOf(visible.streams, visible.catalogError);
        calls += visible.streams.reduce((n, s) => n + (s.client ? s.replicas.length : 0), 0);
        const data = JSON.stringify(status);
        if (data !== last) {
          await sse.writeSSE({ event: 'status', data });
          last = data;
          wroteAt = Date.now();
        } else if (Date.now() - wroteAt >= EVENTS_KEEPALIVE_MS) {
          await sse.write(': keep-alive\n\n');
          wroteAt = Date.now();
        }
        if (calls >= EVENTS_CALLS_MAX || Date.now() - started >= EVENTS_FEED_MS) break;
        await sse.sleep(EVENTS_POLL_MS);
      }
    });
  });
  return app;
}

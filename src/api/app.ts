import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { ConfigError, clusterConfig } from '../host/config.ts';
import { logEvent } from '../host/log.ts';
import { backupRoutes } from './backup.ts';
import { dashboardRoutes } from './dashboard/index.ts';
import { DOCS_CSP, renderDocs } from './docs.ts';
import { ApiError } from './errors.ts';
import { keyspaceRoutes } from './keyspaces.ts';
import { kvRoutes } from './kv.ts';
import { leaseRoutes } from './leases.ts';
import { lockRoutes } from './locks.ts';
import { logRoutes } from './log.ts';
import { membershipRoutes } from './membership.ts';
import { measureRequests } from './metrics/requests.ts';
import { metricsRoutes } from './metrics/index.ts';
import { operationRoutes } from './operations.ts';
import { type AppEnv, authenticate, json, register } from './route.ts';
import { ok } from './schemas.ts';
import { streamRoutes } from './streams.ts';
import { txnRoutes } from './txn.ts';
import { watchRoutes } from './watch.ts';

/**
 * The Worker's HTTP API: route groups (key-value, log, operations,
 * membership, streams), each route described by the zod schemas that
 * validate it, which also make `GET /openapi.json`. Every request gets a
 * request id (`X-Request-Id`); every /v1 request is authenticated
 * (`authenticate`) and every stream route authorised and resolved once
 * (`stream(access)`, route by route). Errors become
 * `{"error":{"code","message",...}}` in one place, `onError`.
 */
export const app = new OpenAPIHono<AppEnv>();

app.use('*', requestId());
app.use('*', measureRequests);

const Index = z
  .object({ name: z.string(), description: z.string(), streams: z.array(z.string()), docs: z.string(), openapi: z.string() })
  .openapi('Index');

register(
  app,
  createRoute({ method: 'get', path: '/', tags: ['about'], summary: 'What this is, its configured streams, and where the reference is', security: [], responses: { 200: ok(Index, 'Always public') } }),
  (c) =>
    json(c, {
      name: 'edgepaxos',
      description: 'Multi-Paxos consensus on Cloudflare Durable Objects',
      streams: clusterConfig(c.env.EDGEPAXOS_CONFIG).streams.map((s) => s.name),
      docs: '/docs (the API reference), /dashboard (the live dashboard), README.md',
      openapi: '/openapi.json',
    }),
);

app.use('/v1/*', authenticate);
app.route('/', kvRoutes());
app.route('/', logRoutes());
app.route('/', txnRoutes());
app.route('/', leaseRoutes());
app.route('/', watchRoutes());
app.route('/', lockRoutes());
app.route('/', operationRoutes());
app.route('/', membershipRoutes());
app.route('/', streamRoutes());
app.route('/', keyspaceRoutes());
app.route('/', backupRoutes());
app.route('/', dashboardRoutes());
app.route('/', metricsRoutes());

app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  description: 'A token of EDGEPAXOS_TOKENS or EDGEPAXOS_ADMIN_TOKEN (see docs/security.md). Not needed when the data plane is public (EDGEPAXOS_PUBLIC_DATA=on).',
});

let document: Record<string, unknown> | null = null;
let docsHtml: string | null = null;

/** The OpenAPI 3.1 document of every route above, made once per isolate from the routes' schemas. */
export function openApiDocument(): Record<string, unknown> {
  document ??= app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'edgepaxos',
      version: '1',
      description:
        'Multi-Paxos consensus on Cloudflare Durable Objects: a strongly consistent key-value store and log per stream. Semantics, limits and every error code: docs/api.md; who may call what: docs/security.md.',
    },
    security: [{ bearer: [] }],
  }) as unknown as Record<string, unknown>;
  return document;
}

app.get('/openapi.json', (c) => c.json(openApiDocument()));
app.get('/docs', (c) => {
  docsHtml ??= renderDocs(openApiDocument());
  c.header('content-security-policy', DOCS_CSP);
  return c.html(docsHtml);
});

app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` } }, 404));

app.onError((err, c) => {
  if (err instanceof ApiError) {
    if (err.status === 401 || err.status === 403) {
      // Who was refused what, and why (never the token): one line per refusal.
      logEvent({ event: 'auth_refused', request_id: c.get('requestId'), method: c.req.method, path: new URL(c.req.url).pathname, status: err.status, code: err.code, why: err.message });
    }
    for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
    return c.json(err.body(), err.status);
  }
  if (err instanceof ConfigError) return c.json({ error: { code: 'invalid_configuration', message: err.message } }, 500);
  if (err instanceof HTTPException) return c.json({ error: { code: 'http_error', message: err.message } }, err.status);
  console.error('edgepaxos: unexpected error', err);
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
});

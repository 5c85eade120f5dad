import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';

/**
 * The Worker entry point. The replicated API (Durable Object replicas, routing
 * to the leader, the KV and log endpoints) is not built yet; until it is, this
 * Worker answers what it is and refuses everything else with a JSON error.
 */
const app = new Hono();

app.get('/', (c) =>
  c.json({
    name: 'edgepaxos',
    description: 'Multi-Paxos consensus on Cloudflare Durable Objects',
    api: 'not available yet: the replicated HTTP API is under construction',
  }),
);

app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` } }, 404));

app.onError((err, c) => {
  if (err instanceof HTTPException) {
    return c.json({ error: { code: 'http_error', message: err.message } }, err.status);
  }
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
});

export default app;

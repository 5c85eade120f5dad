import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/api/app.ts';
import { admin } from './helpers.ts';

// The other two modes of the data plane, on the same Worker code with other
// variables: closed (no EDGEPAXOS_TOKENS, no EDGEPAXOS_PUBLIC_DATA, as a fresh
// `wrangler deploy`) and public (EDGEPAXOS_PUBLIC_DATA=on without tokens, as
// `npm run dev` with .dev.vars). The token mode is auth.test.ts.

const S = 'api';
const closed = { ...env, EDGEPAXOS_TOKENS: undefined, EDGEPAXOS_PUBLIC_DATA: undefined };
const open = { ...env, EDGEPAXOS_TOKENS: undefined, EDGEPAXOS_PUBLIC_DATA: 'on' };

const DATA: [string, string, unknown?][] = [
  ['PUT', `/v1/streams/${S}/kv/modes`, { value: 'v' }],
  ['GET', `/v1/streams/${S}/kv/modes`],
  ['DELETE', `/v1/streams/${S}/kv/modes`],
  ['PUT', `/v1/streams/${S}/key?key=modes`, { value: 'v' }],
  ['GET', `/v1/streams/${S}/kv`],
  ['POST', `/v1/streams/${S}/log`, { data: 'x' }],
  ['GET', `/v1/streams/${S}/log`],
  ['GET', `/v1/streams/${S}/status`],
  ['GET', `/v1/streams/${S}/members`],
  ['GET', `/v1/streams/${S}/replicas/1/health`],
  ['GET', `/v1/streams/${S}`],
  ['GET', '/v1/streams'],
];

async function call(bindings: object, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await app.request(path, init, bindings);
  return { status: res.status, body: (await res.json()) as any };
}

describe('access modes', () => {
  it('access modes: with neither tokens nor public data the data plane is closed: 403 data_access_disabled saying how to open it', async () => {
    for (const [method, path, body] of DATA) {
      const res = await call(closed, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe('data_access_disabled');
      expect(res.body.error.message).toContain('EDGEPAXOS_TOKENS');
      expect(res.body.error.message).toContain('EDGEPAXOS_PUBLIC_DATA=on');
    }
    // The admin token is still an admin grant on every stream, data included; the index is public.
    expect((await call(closed, 'GET', `/v1/streams/${S}/status`, undefined, admin)).status).toBe(200);
    expect((await call(closed, 'GET', '/')).status).toBe(200);
    expect((await call(closed, 'GET', '/openapi.json')).status).toBe(200);
  });

  it('access modes: with EDGEPAXOS_PUBLIC_DATA=on and no tokens anyone reads and writes data, and admin routes still need the admin token', async () => {
    // (The stream list is left out here: it wakes every configured stream, which is slow and says nothing more.)
    for (const [method, path, body] of DATA.filter(([, path]) => path !== '/v1/streams')) {
      const res = await call(open, method, path, body);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    }
    const anonymousAdmin = await call(open, 'PUT', `/v1/streams/${S}/run-mode`, { mode: 'automatic' });
    expect(anonymousAdmin.status).toBe(401);
    expect((await call(open, 'PUT', `/v1/streams/${S}/run-mode`, { mode: 'automatic' }, admin)).status).toBe(200);
    // A token nobody knows is refused even here: a caller that sends one expects it to count.
    expect((await call(open, 'GET', `/v1/streams/${S}/status`, undefined, { authorization: 'Bearer stale' })).status).toBe(401);
  });

  it('access modes: EDGEPAXOS_PUBLIC_DATA does not open a Worker that has tokens', async () => {
    const both = { ...env, EDGEPAXOS_PUBLIC_DATA: 'on' };
    const res = await call(both, 'GET', `/v1/streams/${S}/status`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });
});

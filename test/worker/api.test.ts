import { describe, expect, it } from 'vitest';
import { app } from '../../src/api/app.ts';
import { env, exports } from 'cloudflare:workers';
import { admin, api, status, writer } from './helpers.ts';
import { TEST_MAX_VALUE_BYTES } from './test-config.ts';

const S = 'api';

describe('api: the key-value contract', () => {
  it('puts, gets, compares-and-sets, lists and deletes with revisions', async () => {
    const put = await api('PUT', `/v1/streams/${S}/kv/app/color`, { value: 'blue' });
    expect(put.status).toBe(200);
    const rev = put.body.revision as number;
    expect(rev).toBeGreaterThan(0);
    expect(await api('GET', `/v1/streams/${S}/kv/app/color`)).toEqual({ status: 200, body: { key: 'app/color', value: 'blue', revision: rev } });

    const stale = await api('PUT', `/v1/streams/${S}/kv/app/color`, { value: 'red', if_revision: rev - 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'revision_mismatch', current_revision: rev });
    const cas = await api('PUT', `/v1/streams/${S}/kv/app/color`, { value: 'red', if_revision: rev });
    expect(cas.status).toBe(200);
    expect(cas.body.revision).toBeGreaterThan(rev);

    const create = await api('PUT', `/v1/streams/${S}/kv/app/size`, { value: 'L', if_revision: 0 });
    expect(create.status).toBe(200);
    expect((await api('PUT', `/v1/streams/${S}/kv/app/size`, { value: 'M', if_revision: 0 })).status).toBe(409);

    const list = await api('GET', `/v1/streams/${S}/kv?prefix=app/&limit=10`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((i: { key: string }) => i.key)).toEqual(['app/color', 'app/size']);
    expect((await api('GET', `/v1/streams/${S}/kv?prefix=app/&limit=1`)).body.items).toHaveLength(1);

    const del = await api('DELETE', `/v1/streams/${S}/kv/app/color`);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ deleted: true, revision: expect.any(Number) });
    expect((await api('DELETE', `/v1/streams/${S}/kv/app/color`)).body.deleted).toBe(false);
    const gone = await api('GET', `/v1/streams/${S}/kv/app/color`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
    expect((await api('GET', `/v1/streams/${S}/kv/app/size?consistency=stale`)).body.value).toBe('L');
  });

  it('applies a write once per Idempotency-Key and answers the retry with the first result', async () => {
    const h = { 'idempotency-key': 'order-42' };
    const first = await api('PUT', `/v1/streams/${S}/kv/order`, { value: 'first' }, h);
    await api('PUT', `/v1/streams/${S}/kv/order`, { value: 'other' });
    const retry = await api('PUT', `/v1/streams/${S}/kv/order`, { value: 'first' }, h);
    expect(retry).toEqual(first);
    expect((await api('GET', `/v1/streams/${S}/kv/order`)).body.value).toBe('other');
  });

  it('refuses an Idempotency-Key reused for a different request with 422, applying nothing', async () => {
    const h = { 'idempotency-key': 'reused-1' };
    expect((await api('PUT', `/v1/streams/${S}/kv/reuse`, { value: 'first' }, h)).status).toBe(200);
    const reuse = await api('PUT', `/v1/streams/${S}/kv/reuse`, { value: 'second' }, h);
    expect(reuse.status).toBe(422);
    expect(reuse.body.error).toMatchObject({ code: 'idempotency_key_reused', first_slot: expect.any(Number) });
    expect((await api('GET', `/v1/streams/${S}/kv/reuse`)).body.value).toBe('first');
  });

  it('appends opaque records to the log and reads them back in order, a retried append once', async () => {
    const a = await api('POST', `/v1/streams/${S}/log`, { data: 'event-a' }, { 'idempotency-key': 'ev-a' });
    const again = await api('POST', `/v1/streams/${S}/log`, { data: 'event-a' }, { 'idempotency-key': 'ev-a' });
    const b = await api('POST', `/v1/streams/${S}/log`, { data: 'event-b' });
    expect(a.status).toBe(200);
    expect(again.body).toEqual(a.body);
    const log = await api('GET', `/v1/streams/${S}/log?from=${a.body.index}&limit=10`);
    expect(log.body.entries).toEqual([
      { index: a.body.index, data: 'event-a' },
      { index: b.body.index, data: 'event-b' },
    ]);
  });
});

describe('api: bad input gets a clear error and reaches nothing', () => {
  const cases: [string, string, string, unknown, Record<string, string>, number, string][] = [
    ['an unknown stream', 'PUT', '/v1/streams/nope/kv/k', { value: 'v' }, {}, 404, 'stream_not_found'],
    ['malformed JSON', 'PUT', `/v1/streams/${S}/kv/k`, '{"value": ', {}, 400, 'invalid_json'],
    ['an empty body', 'PUT', `/v1/streams/${S}/kv/k`, '', {}, 400, 'invalid_json'],
    ['a value that is not a string', 'PUT', `/v1/streams/${S}/kv/k`, { value: 5 }, {}, 400, 'invalid_request'],
    ['an unknown field', 'PUT', `/v1/streams/${S}/kv/k`, { value: 'v', ttl: 3 }, {}, 400, 'invalid_request'],
    ['a negative if_revision', 'PUT', `/v1/streams/${S}/kv/k`, { value: 'v', if_revision: -1 }, {}, 400, 'invalid_request'],
    ['a fractional if_revision', 'PUT', `/v1/streams/${S}/kv/k`, { value: 'v', if_revision: 1.5 }, {}, 400, 'invalid_request'],
    ['an empty key', 'PUT', `/v1/streams/${S}/kv/`, { value: 'v' }, {}, 400, 'invalid_key'],
    ['an over-long key', 'PUT', `/v1/streams/${S}/kv/${'k'.repeat(1025)}`, { value: 'v' }, {}, 400, 'invalid_key'],
    ['a value over the size limit', 'PUT', `/v1/streams/${S}/kv/k`, { value: 'x'.repeat(TEST_MAX_VALUE_BYTES + 1) }, {}, 413, 'value_too_large'],
    // A body may be six times the value limit (JSON escaping); one larger cannot hold a value within it.
    ['a body far over the size limit', 'PUT', `/v1/streams/${S}/kv/k`, { value: 'x'.repeat(6 * TEST_MAX_VALUE_BYTES + 20_000) }, {}, 413, 'payload_too_large'],
    ['a log record over the size limit', 'POST', `/v1/streams/${S}/log`, { data: 'x'.repeat(TEST_MAX_VALUE_BYTES + 1) }, {}, 413, 'value_too_large'],
    ['a log body without data', 'POST', `/v1/streams/${S}/log`, {}, {}, 400, 'invalid_request'],
    ['an over-long Idempotency-Key', 'PUT', `/v1/streams/${S}/kv/k`, { value: 'v' }, { 'idempotency-key': 'i'.repeat(257) }, 400, 'invalid_idempotency_key'],
    ['an unknown consistency', 'GET', `/v1/streams/${S}/kv/k?consistency=eventual`, undefined, {}, 400, 'invalid_request'],
    ['a zero list limit', 'GET', `/v1/streams/${S}/kv?limit=0`, undefined, {}, 400, 'invalid_request'],
    ['a list limit that is not a number', 'GET', `/v1/streams/${S}/kv?limit=ten`, undefined, {}, 400, 'invalid_request'],
    ['a log read from slot 0', 'GET', `/v1/streams/${S}/log?from=0`, undefined, {}, 400, 'invalid_request'],
    ['an unknown route', 'GET', '/v2/anything', undefined, {}, 404, 'not_found'],
  ];

  it('answers every bad request with the stated status and code, and nothing reaches the log', async () => {
    await api('PUT', `/v1/streams/${S}/kv/baseline`, { value: 'b' });
    const before = (await status(S)).commit_index as number;
    for (const [what, method, path, body, headers, code, errorCode] of cases) {
      const res = await api(method, path, body, headers);
      expect(res.status, what).toBe(code);
      expect(res.body?.error?.code, what).toBe(errorCode);
      expect(typeof res.body.error.message, what).toBe('string');
      expect(res.body.error.message.length, what).toBeGreaterThan(10);
    }
    expect((await status(S)).commit_index).toBe(before);
  });
});

describe('api: admin endpoints', () => {
  it('refuse a missing or wrong bearer token', async () => {
    const none = await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, { authorization: '' });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    const wrong = await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect((await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin)).status).toBe(200);
  });

  it('a Worker with no admin token set refuses every admin call', async () => {
    const noTokens = { ...env, EDGEPAXOS_ADMIN_TOKEN: undefined, EDGEPAXOS_TOKENS: undefined };
    const call = (headers: Record<string, string>) =>
      app.request(`/v1/streams/${S}/chaos`, { method: 'POST', body: JSON.stringify({ action: 'heal' }), headers: { ...headers, 'content-type': 'application/json' } }, noTokens);
    const anonymous = await call({});
    expect(anonymous.status).toBe(403);
    expect(((await anonymous.json()) as any).error.code).toBe('admin_disabled');
    // The old admin token is now a token nobody knows.
    const stale = await call(admin);
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as any).error.code).toBe('unauthorized');
  });

  it('fault injection is refused unless EDGEPAXOS_CHAOS is on', async () => {
    const res = await app.request(
      `/v1/streams/${S}/chaos`,
      { method: 'POST', body: JSON.stringify({ action: 'heal' }), headers: { ...admin, 'content-type': 'application/json' } },
      { ...env, EDGEPAXOS_CHAOS: 'off' },
    );
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.code).toBe('chaos_disabled');
  });

  it('an invalid configuration is refused with a message naming the problem', async () => {
    const bad = { streams: [{ name: 'x', replicas: [{ id: 1, region: 'mars' }] }] };
    const res = await app.request('/v1/streams/x/status', { headers: writer }, { ...env, EDGEPAXOS_CONFIG: JSON.stringify(bad) });
    expect(res.status).toBe(500);
    const body = (await res.json()) as any;
    expect(body.error.code).toBe('invalid_configuration');
    expect(body.error.message).toContain('streams[0].replicas[0].region');
  });
});

describe('api: status', () => {
  it('shows the DCF fields: leader, term, modes, timings, indexes and every node', async () => {
    await api('PUT', `/v1/streams/${S}/kv/status-probe`, { value: 'x' });
    const s = await status(S);
    expect(s).toMatchObject({
      leader_id: expect.any(Number),
      term: expect.any(Number),
      run_mode: 'automatic',
      work_mode: 'normal',
      hb_interval_ms: 40,
      elc_timeout_ms: 200,
      commit_index: expect.any(Number),
      cluster_min_apply_idx: expect.any(Number),
    });
    expect(s.nodes.map((n: any) => [n.node_id, n.region, n.priority])).toEqual([
      [1, 'wnam', 3],
      [2, 'weur', 2],
      [3, 'apac', 1],
    ]);
    for (const n of s.nodes) {
      expect(Object.keys(n)).toEqual(
        expect.arrayContaining(['node_id', 'region', 'role', 'priority', 'group', 'applied_index', 'commit_index', 'first_index', 'last_index', 'healthy']),
      );
    }
    expect(s.nodes.filter((n: any) => n.role === 'leader').map((n: any) => n.node_id)).toEqual([s.leader_id]);
  });
});

describe('api: request ids', () => {
  it('every answer carries an X-Request-Id: the one the request sent, or a new one', async () => {
    const given = await exports.default.fetch('https://edgepaxos.test/', { headers: { 'x-request-id': 'trace-42' } });
    expect(given.headers.get('x-request-id')).toBe('trace-42');
    const made = await exports.default.fetch('https://edgepaxos.test/v1/streams/nope/kv/k', { headers: writer });
    expect(made.status).toBe(404);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

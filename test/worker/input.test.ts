import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { api, status, writer } from './helpers.ts';
import { TEST_MAX_VALUE_BYTES } from './test-config.ts';

// Strict input: each case is one of the wrong answers found by throwing
// hostile requests at `npm run dev` (issue 13), now answered right.

const S = 'input';

async function raw(method: string, path: string, body: Uint8Array | string): Promise<{ status: number; body: any }> {
  const res = await exports.default.fetch(`https://edgepaxos.test${path}`, { method, body, headers: { ...writer, 'content-type': 'application/json' } });
  return { status: res.status, body: await res.json() };
}

describe('input: strict', () => {
  it('input: a log append refused for a reused Idempotency-Key is never readable, after a put or after another record', async () => {
    expect((await api('PUT', `/v1/streams/${S}/kv/a`, { value: '1' }, { 'idempotency-key': 'k1' })).status).toBe(200);
    const refused = await api('POST', `/v1/streams/${S}/log`, { data: 'x' }, { 'idempotency-key': 'k1' });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('idempotency_key_reused');
    const first = await api('POST', `/v1/streams/${S}/log`, { data: 'y' }, { 'idempotency-key': 'k2' });
    expect(first.status).toBe(200);
    expect((await api('POST', `/v1/streams/${S}/log`, { data: 'z' }, { 'idempotency-key': 'k2' })).status).toBe(422);
    expect((await api('POST', `/v1/streams/${S}/log`, { data: 'y' }, { 'idempotency-key': 'k2' })).body).toEqual(first.body); // a true retry
    const log = await api('GET', `/v1/streams/${S}/log?from=1`);
    expect(log.body.entries).toEqual([{ index: first.body.index, data: 'y' }]);
  });

  it('input: a body that is not valid UTF-8 is refused with 400 invalid_json, not stored as U+FFFD', async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"value":"a'), 0xff, ...new TextEncoder().encode('"}')]);
    const res = await raw('PUT', `/v1/streams/${S}/kv/utf8`, bytes);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_json', message: 'the body is not valid UTF-8' });
    expect((await api('GET', `/v1/streams/${S}/kv/utf8`)).status).toBe(404);
  });

  it('input: the size limit applies to the value, however much its JSON escaping weighs', async () => {
    // Quotes escape to two bytes each, control characters to six: both bodies are far over the value limit.
    for (const ch of ['"', '\u0001']) {
      const value = ch.repeat(TEST_MAX_VALUE_BYTES);
      const res = await api('PUT', `/v1/streams/${S}/kv/escaped`, { value });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect((await api('GET', `/v1/streams/${S}/kv/escaped`)).body.value).toBe(value);
    }
    const over = await api('PUT', `/v1/streams/${S}/kv/escaped`, { value: '"'.repeat(TEST_MAX_VALUE_BYTES + 1) });
    expect(over.status).toBe(413);
    expect(over.body.error.code).toBe('value_too_large');
  });

  it('input: numbers in the query and the path are plain decimal digits, and a parameter given twice must agree', async () => {
    await api('PUT', `/v1/streams/${S}/kv/n/1`, { value: '1' });
    const before = (await status(S)).commit_index as number;
    for (const path of [
      `/v1/streams/${S}/kv?limit=0x10`,
      `/v1/streams/${S}/kv?limit=1e2`,
      `/v1/streams/${S}/kv?limit=1.0`,
      `/v1/streams/${S}/kv?limit=%205`,
      `/v1/streams/${S}/kv?limit=+5`,
      `/v1/streams/${S}/kv?limit=`,
      `/v1/streams/${S}/log?from=0x1`,
      `/v1/streams/${S}/replicas/0x1/health`,
      `/v1/streams/${S}/replicas/1.0/health`,
      `/v1/streams/${S}/replicas/1/replica?lag=1e1`,
      `/v1/streams/${S}/kv?limit=5&limit=-1`,
      `/v1/streams/${S}/kv?prefix=a&prefix=b`,
    ]) {
      const res = await api('GET', path);
      expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.code, path).toBe('invalid_request');
    }
    expect((await api('GET', `/v1/streams/${S}/kv?limit=5&limit=5`)).status).toBe(200); // repeated, but agreeing
    expect((await api('GET', `/v1/streams/${S}/replicas/1/health`)).status).toBe(200);
    expect((await status(S)).commit_index).toBe(before);
  });

  it('input: an unknown query parameter is named as a query parameter, on every route', async () => {
    for (const [method, path, body] of [
      ['GET', `/v1/streams/${S}/kv?bogus=1`],
      ['GET', `/v1/streams/${S}/kv/k?bogus=1`],
      ['PUT', `/v1/streams/${S}/kv/k?bogus=1`, { value: 'v' }],
      ['POST', `/v1/streams/${S}/log?bogus=1`, { data: 'd' }],
    ] as const) {
      const res = await api(method, path, body);
      expect(res.status, path).toBe(400);
      expect(res.body.error.message, path).toBe("unknown query parameter 'bogus'");
    }
    const field = await api('PUT', `/v1/streams/${S}/kv/k`, { value: 'v', ttl: 3 });
    expect(field.body.error.message).toBe("unknown field 'ttl'");
  });

  it('input: any key can be addressed with the key query parameter, dot segments included (the path form is normalised by URL rules)', async () => {
    const key = 'x/../y';
    expect((await api('PUT', `/v1/streams/${S}/key?key=${encodeURIComponent(key)}`, { value: 'dots' })).status).toBe(200);
    expect((await api('GET', `/v1/streams/${S}/key?key=${encodeURIComponent(key)}`)).body).toEqual({ key, value: 'dots', revision: expect.any(Number) });
    expect((await api('GET', `/v1/streams/${S}/kv?prefix=x/`)).body.items.map((i: any) => i.key)).toEqual([key]);
    // The path form: URL normalisation turns x/%2e%2e/y into y before the Worker sees it.
    expect((await api('PUT', `/v1/streams/${S}/kv/x/%2e%2e/y`, { value: 'normalised' })).status).toBe(200);
    expect((await api('GET', `/v1/streams/${S}/key?key=y`)).body.value).toBe('normalised');
    expect((await api('GET', `/v1/streams/${S}/key?key=${encodeURIComponent(key)}`)).body.value).toBe('dots');
    expect((await api('DELETE', `/v1/streams/${S}/key?key=${encodeURIComponent(key)}`)).body.deleted).toBe(true);
    expect((await api('GET', `/v1/streams/${S}/key`)).status).toBe(400); // the key parameter is required
  });

  it('input: a list is read whole page by page with its cursor (or start_after), and a forged cursor is refused', async () => {
    const keys = ['page/a', 'page/b', 'page/c', 'page/d', 'page/e'];
    for (const k of keys) await api('PUT', `/v1/streams/${S}/kv/${k}`, { value: k });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await api('GET', `/v1/streams/${S}/kv?prefix=page/&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((i: any) => i.key));
      cursor = res.body.cursor;
      pages += 1;
    } while (cursor !== undefined);
    expect(seen).toEqual(keys);
    expect(pages).toBe(3);
    expect((await api('GET', `/v1/streams/${S}/kv?prefix=page/&start_after=page/c`)).body).toEqual({ items: keys.slice(3).map((k) => ({ key: k, value: k, revision: expect.any(Number) })) });
    for (const bad of ['nonsense', 'k1.%%%', 'k1._w']) {
      const res = await api('GET', `/v1/streams/${S}/kv?prefix=page/&cursor=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
    }
  });
});

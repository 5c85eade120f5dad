import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/api/app.ts';
import { admin, api, status, writer } from './helpers.ts';
import { TEAM_A_DIGEST, TEST_GRANTS, TEST_TOKENS } from './test-config.ts';

// The workers tests run with EDGEPAXOS_TOKENS set (test-config.ts): every
// request here is checked against the grants.

const S = 'auth';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const reader = bearer(TEST_TOKENS.reader);
const teamA = bearer(TEST_TOKENS.teamA);
const streamAdmin = bearer(TEST_TOKENS.streamAdmin);
const none = { authorization: '' };

async function expectError(res: { status: number; body: any }, httpStatus: number, code: string, what: string): Promise<void> {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(httpStatus);
  expect(res.body.error.code, what).toBe(code);
}

describe('auth: grants on the data plane', () => {
  it('auth: a request without a token, with an unknown one or with a malformed header is 401 and reaches no replica', async () => {
    await api('PUT', `/v1/streams/${S}/kv/baseline`, { value: 'b' });
    const before = (await status(S)).commit_index as number;
    for (const headers of [none, bearer('nobody-has-this'), { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: `Bearer ${TEAM_A_DIGEST}` }]) {
      for (const [method, path, body] of [
        ['PUT', `/v1/streams/${S}/kv/k`, { value: 'v' }],
        ['GET', `/v1/streams/${S}/kv/k`],
        ['POST', `/v1/streams/${S}/log`, { data: 'x' }],
        ['GET', `/v1/streams/${S}/status`],
        ['GET', `/v1/streams/${S}/replicas/1/health`],
        ['GET', '/v1/streams'],
      ] as const) {
        await expectError(await api(method, path, body, headers), 401, 'unauthorized', `${method} ${path} with ${JSON.stringify(headers)}`);
      }
    }
    expect((await status(S)).commit_index).toBe(before);
  });

  it('auth: a read grant reads and is refused writes with 403 naming what is missing', async () => {
    await api('PUT', `/v1/streams/${S}/kv/shared`, { value: 'one' });
    expect((await api('GET', `/v1/streams/${S}/kv/shared`, undefined, reader)).body.value).toBe('one');
    expect((await api('GET', `/v1/streams/${S}/status`, undefined, reader)).status).toBe(200);
    expect((await api('GET', `/v1/streams/${S}/log`, undefined, reader)).status).toBe(200);
    const put = await api('PUT', `/v1/streams/${S}/kv/shared`, { value: 'two' }, reader);
    await expectError(put, 403, 'forbidden', 'a write with a read grant');
    expect(put.body.error.message).toContain('needs write access');
    await expectError(await api('POST', `/v1/streams/${S}/log`, { data: 'x' }, reader), 403, 'forbidden', 'an append with a read grant');
    const other = await api('GET', '/v1/streams/default/kv/shared', undefined, reader);
    await expectError(other, 403, 'forbidden', 'a stream the grant does not name');
    expect(other.body.error.message).toContain("no grant on stream 'default'");
    expect((await api('GET', `/v1/streams/${S}/kv/shared`)).body.value).toBe('one');
  });

  it('auth: a prefix grant (given as the sha256 of its token) covers its keys and its log, and refuses other keys and wider lists', async () => {
    expect((await api('PUT', `/v1/streams/${S}/kv/team-a/x`, { value: 'a' }, teamA)).status).toBe(200);
    expect((await api('GET', `/v1/streams/${S}/kv/team-a/x`, undefined, teamA)).body.value).toBe('a');
    expect((await api('GET', `/v1/streams/${S}/kv?prefix=team-a/`, undefined, teamA)).body.items.map((i: any) => i.key)).toEqual(['team-a/x']);
    expect((await api('POST', `/v1/streams/${S}/log`, { data: 'from team a' }, teamA)).status).toBe(200);

    const outside = await api('PUT', `/v1/streams/${S}/kv/team-b/x`, { value: 'b' }, teamA);
    await expectError(outside, 403, 'forbidden', 'a key outside the prefix');
    expect(outside.body.error.message).toContain("key 'team-b/x' is outside");
    expect((await api('GET', `/v1/streams/${S}/kv/team-b/x`)).status).toBe(404); // nothing was written
    await expectError(await api('GET', `/v1/streams/${S}/key?key=shared`, undefined, teamA), 403, 'forbidden', 'a read outside the prefix');
    await expectError(await api('DELETE', `/v1/streams/${S}/kv/shared`, undefined, teamA), 403, 'forbidden', 'a delete outside the prefix');
    // A list wider than the grant is refused, not silently filtered.
    for (const prefix of ['', 'team', 'team-b/']) {
      const wide = await api('GET', `/v1/streams/${S}/kv?prefix=${prefix}`, undefined, teamA);
      await expectError(wide, 403, 'forbidden', `a list of '${prefix}'`);
      expect(wide.body.error.message).toContain(`the list prefix '${prefix}' is not inside`);
    }
    // The grant has no admin access, and a prefix grant never covers admin routes.
    await expectError(await api('POST', `/v1/streams/${S}/snapshot`, {}, teamA), 403, 'forbidden', 'an admin route with a write grant');
  });

  it('auth: an admin grant on one stream operates that stream only; the admin token operates every stream', async () => {
    expect((await api('PUT', `/v1/streams/${S}/run-mode`, { mode: 'automatic' }, streamAdmin)).status).toBe(200);
    expect((await api('PUT', `/v1/streams/${S}/kv/by-admin`, { value: 'x' }, streamAdmin)).status).toBe(200); // admin includes write
    await expectError(await api('PUT', '/v1/streams/api/run-mode', { mode: 'automatic' }, streamAdmin), 403, 'forbidden', 'another stream');
    await expectError(await api('PUT', `/v1/streams/${S}/run-mode`, { mode: 'automatic' }, writer), 403, 'forbidden', 'a write grant on an admin route');
    expect((await api('PUT', '/v1/streams/api/run-mode', { mode: 'automatic' }, admin)).status).toBe(200);
    // Creating a stream needs admin on its name: this grant names only 'auth'.
    await expectError(await api('POST', '/v1/streams', { name: 'auth-made', replicas: [{ id: 1, region: 'wnam' }] }, streamAdmin), 403, 'forbidden', 'creating another name');
  });

  it('auth: the stream list shows only the streams a token may read', async () => {
    const res = await api('GET', '/v1/streams', undefined, reader);
    expect(res.status).toBe(200);
    expect(res.body.streams.map((s: any) => s.name).sort()).toEqual(['api', 'auth']);
  });

  it('auth: the index, the OpenAPI document and the reference page need no token', async () => {
    for (const path of ['/', '/openapi.json', '/docs']) expect((await api('GET', path, undefined, none)).status, path).toBe(200);
  });

  it('auth: a token matched before keeps its grants exactly, and is refused once the secret no longer holds it', async () => {
    // The isolate remembers matched tokens (grants.ts, `known`): the remembered answer must be the same
    // answer, request after request, and must go with the secret it came from.
    for (let i = 0; i < 3; i++) {
      expect((await api('PUT', `/v1/streams/${S}/kv/team-a/remembered`, { value: `v${i}` }, teamA)).status, `inside the prefix, request ${i}`).toBe(200);
      await expectError(await api('PUT', `/v1/streams/${S}/kv/elsewhere`, { value: 'x' }, teamA), 403, 'forbidden', `outside the prefix, request ${i}`);
      await expectError(await api('PUT', `/v1/streams/${S}/kv/team-a/r`, { value: 'x' }, reader), 403, 'forbidden', `a reader writing, request ${i}`);
    }
    const withoutTeamA = JSON.stringify(TEST_GRANTS.filter((g) => g.token !== TEAM_A_DIGEST));
    const res = await app.request(`/v1/streams/${S}/kv/team-a/remembered`, { headers: teamA }, { ...env, EDGEPAXOS_TOKENS: withoutTeamA });
    expect(res.status, 'the same token once the secret dropped it').toBe(401);
    expect(((await res.json()) as any).error.code).toBe('unauthorized');
    // And the secret as configured again: the token counts again.
    expect((await api('GET', `/v1/streams/${S}/kv/team-a/remembered`, undefined, teamA)).status).toBe(200);
    // The admin token is its own secret: replaced, the old one is refused at once, the new one counts.
    expect((await api('GET', `/v1/streams/${S}/status`, undefined, admin)).status, 'the admin token, remembered').toBe(200);
    const replaced = { ...env, EDGEPAXOS_ADMIN_TOKEN: 'a-new-admin-token' };
    expect((await app.request(`/v1/streams/${S}/status`, { headers: admin }, replaced)).status, 'the old admin token once replaced').toBe(401);
    expect((await app.request(`/v1/streams/${S}/status`, { headers: bearer('a-new-admin-token') }, replaced)).status, 'the new admin token').toBe(200);
  });

  it('auth: an invalid EDGEPAXOS_TOKENS refuses every data request with 500 and never quotes a token', async () => {
    const broken = [{ token: 'very-secret-value', streams: '*' }]; // no access
    for (const tokens of [JSON.stringify(broken), '[{"token": "very-secret-value",']) {
      const res = await app.request(`/v1/streams/${S}/kv/k`, { headers: writer }, { ...env, EDGEPAXOS_TOKENS: tokens });
      expect(res.status).toBe(500);
      const body = (await res.json()) as any;
      expect(body.error.code).toBe('invalid_configuration');
      expect(body.error.message).toContain('EDGEPAXOS_TOKENS');
      expect(body.error.message).not.toContain('very-secret-value');
    }
  });
});

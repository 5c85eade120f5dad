import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/api/app.ts';
import { admin, api, crash, eventually, put, replica, sleep, stableLeader, status, writer } from './helpers.ts';

/**
 * Streams created and deleted at run time (POST /v1/streams, DELETE
 * /v1/streams/{name}), recorded in the replicated catalog stream. Every test
 * uses names of its own: the catalog is shared by the whole file.
 *
 * Created streams go quiet after 300 ms without requests, so the streams of
 * earlier tests do not load the machine under later ones. The stream list
 * asks every replica of every stream, which wakes all the configured test
 * streams (they never go quiet), so only the last test lists.
 */

const FAST = { tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 300 };
const REPLICAS = [
  { id: 1, region: 'wnam', priority: 3 },
  { id: 2, region: 'weur', priority: 2 },
  { id: 3, region: 'apac', priority: 1 },
];

function definition(name: string, extra: Record<string, unknown> = {}) {
  return { name, ...FAST, replicas: REPLICAS, ...extra };
}

async function create(name: string, extra: Record<string, unknown> = {}): Promise<{ incarnation: string }> {
  const res = await api('POST', '/v1/streams', definition(name, extra), admin);
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** What a replica's SQLite database holds: its meta keys and how many log entries. */
async function stored(stream: string, id: number, incarnation: string): Promise<{ meta: string[]; entries: number; alarm: number | null }> {
  // A replica that just wiped itself ends its instance a moment later: retry a call that met that end.
  return eventually(`the storage of ${stream}~${incarnation}/${id}`, () => storedOnce(stream, id, incarnation), 2000);
}

async function storedOnce(stream: string, id: number, incarnation: string): Promise<{ meta: string[]; entries: number; alarm: number | null }> {
  return runInDurableObject(replica(stream, id, incarnation), async (_instance, state) => {
    const tables = state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ep_%'`).toArray().map((t) => t.name);
    const meta = tables.includes('ep_meta') ? state.storage.sql.exec<{ key: string }>('SELECT key FROM ep_meta ORDER BY key').toArray().map((r) => r.key) : [];
    const entries = tables.includes('ep_entries') ? state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM ep_entries').one().n : 0;
    return { meta, entries, alarm: await state.storage.getAlarm() };
  });
}

async function listed(name: string): Promise<any> {
  const res = await api('GET', '/v1/streams');
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.catalog_error).toBeNull();
  return res.body.streams.find((s: any) => s.name === name);
}

describe('streams: created at run time', () => {
  it('streams: a created stream serves every data endpoint, answers 404 everywhere once deleted, and a recreated one starts empty', async () => {
    const S = 'orders';
    const created = await api('POST', '/v1/streams', definition(S), admin);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ name: S, kind: 'dynamic', state: 'active', incarnation: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect(created.body.definition).toMatchObject({ ...definition(S), log: { snapshot_every_slots: 1000, retain_slots: 100, scale_with_state: true } }); // defaults filled as in EDGEPAXOS_CONFIG
    const first = created.body.incarnation as string;
    expect((await api('GET', `/v1/streams/${S}`)).body).toEqual(created.body);

    // Data endpoints, exactly as on a configured stream.
    const rev = await put(S, 'greeting', 'hello');
    expect(await api('GET', `/v1/streams/${S}/kv/greeting`)).toEqual({ status: 200, body: { key: 'greeting', value: 'hello', revision: rev } });
    expect((await api('PUT', `/v1/streams/${S}/kv/greeting`, { value: 'x', if_revision: rev - 1 })).status).toBe(409);
    const appended = await api('POST', `/v1/streams/${S}/log`, { data: 'order #1 shipped' });
    expect(appended.status).toBe(200);
    expect((await api('GET', `/v1/streams/${S}/log?from=${appended.body.index}`)).body.entries).toEqual([{ index: appended.body.index, data: 'order #1 shipped' }]);
    expect((await api('GET', `/v1/streams/${S}/kv?prefix=gr`)).body.items).toHaveLength(1);
    expect((await api('GET', `/v1/streams/${S}/kv/greeting?consistency=stale`)).status).toBe(200);
    expect(await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1)).toBe(true);
    expect((await status(S)).nodes.map((n: any) => n.region)).toEqual(['wnam', 'weur', 'apac']);
    expect((await api('GET', `/v1/streams/${S}/replicas/1/leader`)).status).toBe(200);

    // Deleted: every endpoint answers like an unknown stream, and the replicas are wiped.
    expect((await stored(S, 1, first)).entries).toBeGreaterThan(0);
    const deleted = await api('DELETE', `/v1/streams/${S}`, undefined, admin);
    expect(deleted).toEqual({ status: 200, body: { name: S, incarnation: first, state: 'deleted', not_reached: [] } });
    for (const [method, path, body] of [
      ['GET', `/v1/streams/${S}/kv/greeting`],
      ['PUT', `/v1/streams/${S}/kv/greeting`, { value: 'again' }],
      ['POST', `/v1/streams/${S}/log`, { data: 'late' }],
      ['GET', `/v1/streams/${S}/log`],
      ['GET', `/v1/streams/${S}/status`],
      ['GET', `/v1/streams/${S}`],
      ['DELETE', `/v1/streams/${S}`],
    ] as const) {
      const res = await api(method, path, body, admin);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(404);
      expect(res.body.error.code).toBe('stream_not_found');
    }
    for (const id of [1, 2, 3]) expect(await stored(S, id, first)).toEqual({ meta: ['deleted'], entries: 0, alarm: null });

    // Recreated: a new incarnation, new replicas, none of the old data.
    const again = await create(S);
    expect(again.incarnation).not.toBe(first);
    expect((await api('GET', `/v1/streams/${S}/kv/greeting`)).status).toBe(404);
    expect((await api('GET', `/v1/streams/${S}/kv`)).body.items).toEqual([]);
    expect((await api('GET', `/v1/streams/${S}/log`)).body.entries).toEqual([]);
    await put(S, 'greeting', 'bonjour');
    expect((await api('GET', `/v1/streams/${S}/kv/greeting`)).body.value).toBe('bonjour');
    expect((await stored(S, 1, first)).meta).toEqual(['deleted']); // the old incarnation stays wiped
  });

  it('streams: of concurrent creates of one name exactly one wins; the others are refused with 409 and change nothing', async () => {
    const S = 'race';
    const attempts = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => api('POST', '/v1/streams', definition(S, { heartbeat_interval_ms: 40 + n }), admin)),
    );
    const won = attempts.filter((r) => r.status === 201);
    const lost = attempts.filter((r) => r.status !== 201);
    expect(won, JSON.stringify(attempts.map((a) => a.body))).toHaveLength(1);
    for (const r of lost) {
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('stream_exists');
    }
    const now = await api('GET', `/v1/streams/${S}`);
    expect(now.body.incarnation).toBe(won[0]!.body.incarnation);
    expect(now.body.definition.heartbeat_interval_ms).toBe(won[0]!.body.definition.heartbeat_interval_ms);
    await put(S, 'k', 'v');
    // A later create of an existing name is refused too, naming the existing incarnation.
    const late = await api('POST', '/v1/streams', definition(S), admin);
    expect(late.status).toBe(409);
    expect(late.body.error.message).toContain(won[0]!.body.incarnation);
  });

  it('streams: invalid definitions are refused with a JSON error naming the reason, and nothing is stored', async () => {
    const cases: [string, unknown, number, string, string][] = [
      ['an empty body', '', 400, 'invalid_json', 'the body is empty'],
      ['not JSON', '{name:', 400, 'invalid_json', 'not valid JSON'],
      ['not an object', '[1]', 400, 'invalid_request', 'expected object'],
      ['no name', { replicas: REPLICAS }, 400, 'invalid_request', 'name:'],
      ['no replicas', { name: 'bad-a' }, 400, 'invalid_request', 'replicas:'],
      ['an upper-case name', definition('Bad'), 400, 'invalid_request', 'stream names are 1-63 characters'],
      ['a reserved name', definition('_mine'), 400, 'invalid_request', "names starting with '_' are reserved"],
      ['the catalog name', definition('_catalog'), 400, 'invalid_request', "names starting with '_' are reserved"],
      ['an unknown region', definition('bad-b', { replicas: [{ id: 1, region: 'mars' }] }), 400, 'invalid_request', 'replicas[0].region'],
      ['a duplicate replica id', definition('bad-c', { replicas: [...REPLICAS, { id: 2, region: 'oc' }] }), 400, 'invalid_request', 'replica id 2 appears twice'],
      ['a policy that can never decide', definition('bad-d', { policy: { require_regions: ['oc'] } }), 400, 'invalid_request', 'region oc has no voter'],
      ['an election timeout under two heartbeats', definition('bad-e', { election_timeout_ms: 50 }), 400, 'invalid_request', 'election_timeout_ms: must be at least twice'],
      ['an unknown field', definition('bad-f', { colour: 'red' }), 400, 'invalid_request', 'colour'],
      ['a configured name', definition('default'), 409, 'stream_exists', 'configured in EDGEPAXOS_CONFIG'],
    ];
    for (const [what, body, code, error, message] of cases) {
      const res = await api('POST', '/v1/streams', body, admin);
      expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(code);
      expect(res.body.error.code, what).toBe(error);
      expect(res.body.error.message, what).toContain(message);
    }
    for (const name of ['bad-a', 'bad-b', 'bad-c', 'bad-d', 'bad-e', 'bad-f']) {
      expect((await api('GET', `/v1/streams/${name}`)).status, name).toBe(404);
      expect((await api('GET', `/v1/streams/${name}/status`)).status, name).toBe(404);
    }
  });

  it('streams: creating and deleting need the admin token', async () => {
    const S = 'guarded';
    for (const headers of [{ authorization: '' }, { authorization: 'Bearer wrong' }, { authorization: 'test-admin-token' }] as Record<string, string>[]) {
      const res = await api('POST', '/v1/streams', definition(S), headers);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    expect((await api('GET', `/v1/streams/${S}`)).status).toBe(404); // nothing was created
    await create(S);
    await put(S, 'k', 'v');
    const refused = await api('DELETE', `/v1/streams/${S}`, undefined, { authorization: 'Bearer wrong' });
    expect(refused.status).toBe(401);
    // A token with no admin grant (the tests' writer) is refused both.
    for (const res of [await api('POST', '/v1/streams', definition('guarded-2'), writer), await api('DELETE', `/v1/streams/${S}`, undefined, writer)]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    // A Worker with no token configured at all refuses both.
    const noToken = { ...env, EDGEPAXOS_ADMIN_TOKEN: undefined, EDGEPAXOS_TOKENS: undefined };
    const disabled = [
      await app.request('/v1/streams', { method: 'POST', body: JSON.stringify(definition('guarded-2')) }, noToken),
      await app.request(`/v1/streams/${S}`, { method: 'DELETE' }, noToken),
    ];
    for (const res of disabled) {
      expect(res.status).toBe(403);
      expect(((await res.json()) as any).error.code).toBe('admin_disabled');
    }
    expect((await api('GET', `/v1/streams/${S}/kv/k`)).body.value).toBe('v'); // still there
    expect((await api('GET', '/v1/streams/guarded-2')).status).toBe(404);
  });

  it('streams: configured streams and the catalog cannot be deleted or written through the data API', async () => {
    for (const name of ['default', '_catalog']) {
      const res = await api('DELETE', `/v1/streams/${name}`, undefined, admin);
      expect(res.status, name).toBe(409);
      expect(res.body.error.code).toBe('configured_stream');
    }
    expect((await api('GET', '/v1/streams/default')).body).toMatchObject({ name: 'default', kind: 'configured' });
    const write = await api('PUT', '/v1/streams/_catalog/kv/streams/evil', { value: '{}' });
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('reserved_stream');
    expect((await api('POST', '/v1/streams/_catalog/log', { data: 'x' })).status).toBe(403);
    expect((await api('DELETE', '/v1/streams/_catalog/kv/streams/orders')).status).toBe(403);
    expect((await api('GET', '/v1/streams/_catalog/status')).status).toBe(200); // it can be watched and operated
    const unknown = await api('DELETE', '/v1/streams/never-created', undefined, admin);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('stream_not_found');
  });
});

describe('streams: durability and deletion under faults', () => {
  it('streams: a created stream survives crashes of its leader and of every replica without losing an acknowledged write', async () => {
    const S = 'sturdy';
    const { incarnation } = await create(S);
    await put(S, 'before', '1');
    const leader = await stableLeader(S);
    await crash(S, leader, incarnation);
    await put(S, 'after-leader-crash', '2');
    for (const id of [1, 2, 3]) await crash(S, id, incarnation);
    expect((await api('GET', `/v1/streams/${S}/kv/before`)).body.value).toBe('1');
    expect((await api('GET', `/v1/streams/${S}/kv/after-leader-crash`)).body.value).toBe('2');
    await stableLeader(S); // every replica restarted and follows a leader again
    expect((await stored(S, 2, incarnation)).meta).toContain('definition');
  });

  it('streams: a restarted replica takes its definition from its own storage, not from the call', async () => {
    // One replica, so no peer brings the definition along while it restarts.
    const S = 'solo';
    const { incarnation } = await create(S, { replicas: [{ id: 1, region: 'weur' }] });
    await put(S, 'k', 'v');
    await crash(S, 1, incarnation);
    const bare = { stream: S, replicaId: 1, generation: incarnation };
    expect(await replica(S, 1, incarnation).status(bare)).toMatchObject({ kind: 'ok', view: { node_id: 1 } });
    // Its decided prefix may trail its log after a crash (it rides on the next storage transaction): the value is
    // there once it has re-decided its own log, without any call bringing the definition along.
    await eventually('the restarted replica serves its own data', async () => {
      const res = await replica(S, 1, incarnation).get(bare, 'k', 'stale', 0);
      return res.kind === 'ok' && (res as any).value?.value === 'v';
    });
  });

  it('streams: a replica that stored its identity before the stream generation had that name (as incarnation) still knows which stream it is', async () => {
    const S = 'legacy-identity';
    const { incarnation } = await create(S, { replicas: [{ id: 1, region: 'weur' }] });
    await put(S, 'k', 'v');
    // Rewrite the stored identity as the earlier code stored it, then restart the replica from storage.
    await runInDurableObject(replica(S, 1, incarnation), async (_instance, state) => {
      state.storage.sql.exec("UPDATE ep_meta SET value = ? WHERE key = 'identity'", JSON.stringify({ stream: S, replicaId: 1, incarnation }));
    });
    await crash(S, 1, incarnation);
    const bare = { stream: S, replicaId: 1, generation: incarnation };
    // Not misrouted: the stored incarnation is read as the generation this call names.
    expect(await replica(S, 1, incarnation).status(bare)).toMatchObject({ kind: 'ok', view: { node_id: 1 } });
    await eventually('the restarted replica serves its own data', async () => {
      const res = await replica(S, 1, incarnation).get(bare, 'k', 'stale', 0);
      return res.kind === 'ok' && res.value?.value === 'v';
    });
  });

  it('streams: the catalog is replicated: with its leader down, streams are still created and found', async () => {
    const leader = await stableLeader('_catalog');
    const down = await api('POST', '/v1/streams/_catalog/chaos', { action: 'crash', replica: leader, down_ms: 8000 }, admin);
    expect(down.status).toBe(200);
    const { incarnation } = await create('after-catalog-crash');
    expect((await status('_catalog')).nodes.find((n: any) => n.node_id === leader).role).toBe('unreachable'); // it really was down
    expect(incarnation).toMatch(/^[0-9a-f]{12}$/);
    await put('after-catalog-crash', 'k', 'v');
    expect((await api('GET', '/v1/streams/after-catalog-crash/kv/k')).body.value).toBe('v');
  });

  it('streams: a replica of a deleted stream refuses every later call, even one carrying its definition, and sets no alarm', async () => {
    const S = 'tomb';
    const { incarnation } = await create(S);
    await put(S, 'k', 'v');
    expect((await api('DELETE', `/v1/streams/${S}`, undefined, admin)).body.state).toBe('deleted');
    const def = (await api('POST', '/v1/streams', definition('tomb-probe'), admin)).body.definition; // a valid, normalised definition
    const late = { stream: S, replicaId: 1, generation: incarnation, definition: { ...def, name: S } };
    await sleep(50); // the wiped instance ends itself; the next call meets a fresh one that reads the tombstone
    expect(await replica(S, 1, incarnation).write(late, { kind: 'put', id: 'x', key: 'k', value: 'resurrected' }, 500)).toMatchObject({ kind: 'error', code: 'stream_deleted' });
    expect(await replica(S, 1, incarnation).deliver(late, 2, [])).toMatchObject({ kind: 'error', code: 'stream_deleted' });
    expect(await stored(S, 1, incarnation)).toEqual({ meta: ['deleted'], entries: 0, alarm: null });
  });

  it('streams: a Worker that still has a deleted stream cached answers 404, because the wiped replicas refuse', async () => {
    // As if another Worker deleted it: this isolate's catalog cache still holds the stream.
    const S = 'cached';
    const { incarnation } = await create(S);
    await put(S, 'k', 'v');
    for (const id of [1, 2, 3]) expect(await replica(S, id, incarnation).destroy({ stream: S, replicaId: id, generation: incarnation })).toEqual({ kind: 'ok' });
    for (const [method, path, body] of [
      ['GET', `/v1/streams/${S}/kv/k`],
      ['PUT', `/v1/streams/${S}/kv/k`, { value: 'again' }],
      ['GET', `/v1/streams/${S}/status`],
    ] as const) {
      const res = await api(method, path, body);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(404);
      expect(res.body.error).toEqual({ code: 'stream_not_found', message: `stream '${S}' was deleted` });
    }
  });

  it('streams: a replica the delete could not reach leaves the stream deleting, wipes itself once a wiped peer tells it, and a repeated delete finishes', async () => {
    const S = 'partial';
    const { incarnation } = await create(S);
    await put(S, 'k', 'v');
    await stableLeader(S);
    expect((await api('POST', `/v1/streams/${S}/chaos`, { action: 'crash', replica: 3, down_ms: 4000 }, admin)).status).toBe(200);
    const first = await api('DELETE', `/v1/streams/${S}`, undefined, admin);
    expect(first.body).toEqual({ name: S, incarnation, state: 'deleting', not_reached: [3] });
    expect((await api('GET', `/v1/streams/${S}/kv/k`)).status).toBe(404); // gone for clients already
    expect((await api('GET', `/v1/streams/${S}`)).body).toMatchObject({ kind: 'dynamic', state: 'deleting', incarnation });
    const recreate = await api('POST', '/v1/streams', definition(S), admin);
    expect(recreate.status).toBe(409);
    expect(recreate.body.error.message).toContain('is being deleted');
    // Replica 3 comes back (its alarm), campaigns, hears from its wiped peers that the stream is gone, and wipes itself.
    await eventually('replica 3 wiped itself', async () => (await stored(S, 3, incarnation)).meta.join() === 'deleted', 15_000);
    const second = await api('DELETE', `/v1/streams/${S}`, undefined, admin);
    expect(second.body).toEqual({ name: S, incarnation, state: 'deleted', not_reached: [] });
    expect((await api('GET', `/v1/streams/${S}`)).status).toBe(404);
    expect((await create(S)).incarnation).not.toBe(incarnation);
  });
});

describe('streams: the list', () => {
  // Last in the file: listing wakes every configured test stream (see the top of the file).
  it('streams: the list shows configured streams, the catalog and created streams (active with their leader, deleting without), and no deleted one', async () => {
    const { incarnation, created_at } = (await api('POST', '/v1/streams', definition('listed'), admin)).body;
    await put('listed', 'k', 'v');
    const going = await create('listed-going');
    await stableLeader('listed-going');
    await api('POST', '/v1/streams/listed-going/chaos', { action: 'crash', replica: 2, down_ms: 4000 }, admin);
    expect((await api('DELETE', '/v1/streams/listed-going', undefined, admin)).body.state).toBe('deleting');
    await create('listed-gone');
    expect((await api('DELETE', '/v1/streams/listed-gone', undefined, admin)).body.state).toBe('deleted');

    const row = await eventually('listed with its leader', async () => {
      const found = await listed('listed');
      return found?.leader_id === 1 && found;
    }, 30_000);
    expect(row).toEqual({ name: 'listed', kind: 'dynamic', state: 'active', incarnation, created_at, replicas: [1, 2, 3], leader_id: 1, leader_region: 'wnam' });
    expect(await listed('listed-going')).toMatchObject({ kind: 'dynamic', state: 'deleting', incarnation: going.incarnation, leader_id: null });
    expect(await listed('listed-gone')).toBeUndefined();
    expect(await listed('default')).toMatchObject({ kind: 'configured', replicas: [1, 2, 3] });
    expect(await listed('_catalog')).toMatchObject({ kind: 'system', replicas: [1, 2, 3] });
  });
});

describe('streams: without the catalog', () => {
  // Last of all: it leaves two catalog replicas down for the rest of the file.
  it('streams: while the catalog has no quorum, creates are refused with 503, a cached stream keeps serving, and the list shows the configured streams and why', async () => {
    await create('survivor');
    // The list test before this one woke every configured stream, and they heartbeat for the rest of
    // the file: on a loaded machine the new stream's first election can outlast one write's deadline.
    await stableLeader('survivor', 20_000);
    await put('survivor', 'k', '1'); // this Worker now has it cached
    const leader = await stableLeader('_catalog');
    for (const id of [leader, leader === 1 ? 2 : 1]) {
      expect((await api('POST', '/v1/streams/_catalog/chaos', { action: 'crash', replica: id, down_ms: 30_000 }, admin)).status).toBe(200);
    }
    const refused = await api('POST', '/v1/streams', definition('too-late'), admin);
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body.error.code).toBe('catalog_unavailable');
    await put('survivor', 'k', '2');
    const list = await api('GET', '/v1/streams');
    expect(list.status).toBe(200);
    expect(list.body.catalog_error).toContain('the stream catalog could not be read');
    expect(list.body.streams.find((s: any) => s.name === 'default')).toMatchObject({ kind: 'configured' });
    expect(list.body.streams.filter((s: any) => s.kind === 'dynamic')).toEqual([]);
  });
});

import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EdgePaxosClient } from '../../src/client/index.ts';
import { parseWatchCursor, watchKeyspaceForever } from '../../src/client/keyspace-watch.ts';
import type { KeyspaceApi, KeyspaceWatchEvent } from '../../src/client/types.ts';
import { readSse } from '../../src/client/watch.ts';
import { type ClientWrite, type WatchedEvent, checkWatchAgainstWrites } from '../../sim/checker/watch-checker.ts';
import { BINDING, type Principal } from '../../src/api/grants.ts';
import { ksWatch } from '../../src/api/keyspace-watch.ts';
import { type Keyspace, cacheKeyspace, compareAndSetKeyspace, readKeyspace, resolveKeyspace } from '../../src/api/keyspace-catalog.ts';
import * as router from '../../src/api/keyspace-service.ts';
import { HASH_SPACE, evenMap, shardOfKey } from '../../src/kv/index.ts';
import { admin, api, eventually } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

const client = new EdgePaxosClient({ url: 'https://edgepaxos.test', token: TEST_TOKENS.writer, fetch: (input, init) => exports.default.fetch(input, init) });

/** Keys `prefix0`, `prefix1`, ... until there is one on each of `shards` shards of an even map: key per shard. */
function keysPerShard(prefix: string, shards: number): string[] {
  const map = evenMap(shards);
  const out: string[] = new Array(shards);
  for (let i = 0; out.filter(Boolean).length < shards; i++) {
    const s = shardOfKey(map, `${prefix}${i}`);
    out[s] ??= `${prefix}${i}`;
  }
  return out;
}

describe('keyspaces: a configured keyspace served through the router', () => {
  it('puts, gets and deletes keys on their shards, each answer naming its shard', async () => {
    const keys = keysPerShard('kv-', 4);
    for (const [shard, key] of keys.entries()) {
      const put = await api('PUT', `/v1/keyspaces/users/kv/${key}`, { value: `v-${key}` });
      expect(put.status).toBe(200);
      expect(put.body.shard).toBe(shard);
    }
    for (const [shard, key] of keys.entries()) {
      const get = await api('GET', `/v1/keyspaces/users/kv/${key}`);
      expect(get.body).toMatchObject({ key, value: `v-${key}`, shard });
      // The key lives on its shard's stream and nowhere else.
      expect((await api('GET', `/v1/streams/users_s${String(shard).padStart(4, '0')}/kv/${key}`)).status).toBe(200);
      expect((await api('GET', `/v1/streams/users_s${String((shard + 1) % 4).padStart(4, '0')}/kv/${key}`)).status).toBe(404);
    }
    expect((await api('DELETE', `/v1/keyspaces/users/kv/${keys[2]}`)).body).toMatchObject({ deleted: true, shard: 2 });
    expect((await api('GET', `/v1/keyspaces/users/kv/${keys[2]}`)).status).toBe(404);
    expect((await api('PUT', `/v1/keyspaces/users/kv/${keys[0]}`, { value: 'x', if_revision: 1 })).body.error.code).toBe('revision_mismatch');
    expect((await api('GET', '/v1/keyspaces/nope/kv/a')).body.error.code).toBe('keyspace_not_found');
    // A shard's stream is read and operated as any other, but written only through its keyspace.
    expect((await api('PUT', `/v1/streams/users_s0000/kv/${keys[0]}`, { value: 'bypass' })).body.error.code).toBe('reserved_stream');
  });

  it('lists every shard merged in key order, page by page with a cursor', async () => {
    const keys = Array.from({ length: 9 }, (_, i) => `list/${i}`);
    for (const key of keys) await client.ksPut('users', key, key);
    const first = await client.ksList('users', { prefix: 'list/', limit: 4 });
    expect(first.items.map((i) => i.key)).toEqual(keys.slice(0, 4));
    expect(new Set(first.items.map((i) => i.shard)).size).toBeGreaterThan(1);
    const second = await client.ksList('users', { prefix: 'list/', limit: 4, cursor: first.cursor! });
    const third = await client.ksList('users', { prefix: 'list/', limit: 4, cursor: second.cursor! });
    expect([...second.items, ...third.items].map((i) => i.key)).toEqual(keys.slice(4));
    expect(third.cursor).toBeUndefined();
  });

  it('spreads the shards\' leaders over the regions (leaders: spread) and reports each shard in the status', async () => {
    const status = await eventually('every shard led from its preferred region', async () => {
      const s = (await api('GET', '/v1/keyspaces/users/status')).body;
      return s.shards?.every((x: { leader_region: string | null }, i: number) => x.leader_region === ['wnam', 'weur', 'apac'][i % 3]) ? s : undefined;
    });
    expect(status).toMatchObject({ name: 'users', map_version: 1 });
    expect(status.shards.map((s: { stream: string }) => s.stream)).toEqual(['users_s0000', 'users_s0001', 'users_s0002', 'users_s0003']);
    expect(status.shards.every((s: { healthy: boolean; commit_index: number }) => s.healthy && s.commit_index > 0)).toBe(true);
  });

  it('runs a one-shard transaction as one command (its revision) and a cross-shard one by two-phase commit, all or nothing', async () => {
    const [a, b, c] = keysPerShard('txn-', 4);
    const one = await client.ksTxn('users', { compare: [{ key: a!, target: 'revision', op: '==', value: 0 }], success: [{ put: { key: a!, value: '1' } }] });
    expect(one).toMatchObject({ succeeded: true, shards: [0] });
    expect(one.revision).toBeGreaterThan(0);
    expect(one.txid).toBeUndefined();
    const cross = await client.ksTxn('users', {
      compare: [{ key: a!, target: 'value', op: '==', value: '1' }],
      success: [{ put: { key: b!, value: 'B' } }, { put: { key: c!, value: 'C' } }, { get: { key: a! } }],
      failure: [{ put: { key: b!, value: 'never' } }],
    });
    expect(cross).toMatchObject({ succeeded: true, shards: [0, 1, 2], results: [{ shard: 1 }, { shard: 2 }, { shard: 0, key: a, value: '1' }] });
    expect(cross.txid).toMatch(/^[0-9a-f]{16}$/);
    // Read at once: an intent a background resolve has not reached yet is settled by the read itself.
    expect((await client.ksGet('users', b!))?.value).toBe('B');
    expect((await client.ksGet('users', c!))?.value).toBe('C');
    const failed = await client.ksTxn('users', {
      compare: [{ key: a!, target: 'value', op: '==', value: 'not-1' }],
      success: [{ put: { key: b!, value: 'no' } }, { put: { key: c!, value: 'no' } }],
      failure: [{ delete: { key: c! } }, { put: { key: a!, value: '2' } }],
    });
    expect(failed).toMatchObject({ succeeded: false, results: [{ shard: 2, deleted: 1 }, { shard: 0 }] });
    expect(await client.ksGet('users', c!)).toBeNull();
    expect((await client.ksGet('users', b!))?.value).toBe('B');
    expect((await client.ksGet('users', a!))?.value).toBe('2');
    const refused = await api('POST', '/v1/keyspaces/users/txn', { success: [{ delete_prefix: { prefix: 'x' } }] });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/delete_prefix/);
  });

  it('settles an intent left by a coordinator that crashed after phase 1: aborted once its deadline passed, then the key is free', async () => {
    const [a, b] = keysPerShard('orphan-', 4);
    const t = await router.openKeyspace(env, BINDING, 'users', 'write');
    await client.ksPut('users', a!, 'before');
    // Phase 1 only, as a Worker that died right after it would leave it: an intent on a (shard 0) whose deadline is now.
    const shard0 = (await import('../../src/api/keyspace-catalog.ts')).shardClient(env, t.ks, 0);
    const vote = await shard0.write({ kind: 'txn-prepare', txid: 'feedfacecafebeef', coordinator: 'users_s0000', deadlineMs: Date.now() + 300, mapVersion: 1, compare: [], success: [{ put: { key: a!, value: 'half' } }], failure: [] });
    expect(vote).toMatchObject({ vote: 'yes' });
    // A write meets the intent (locked), the router settles it (abort, at the deadline) and the write applies; the half never shows.
    expect((await client.ksPut('users', a!, 'after')).shard).toBe(0);
    expect((await client.ksGet('users', a!))?.value).toBe('after');
    const outcome = await shard0.write({ kind: 'txn-decide', txid: 'feedfacecafebeef', outcome: 'commit-success' });
    expect(outcome).toEqual({ kind: 'txn-outcome', txid: 'feedfacecafebeef', outcome: 'abort' });
    void b;
  });
});

describe('keyspaces: created at run time in the catalog', () => {
  it('is created by an admin, described, listed, served, and deleted with its shards', async () => {
    const definition = { name: 'orders', shards: 2, leaders: 'weur', tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 300, replicas: [{ region: 'wnam' }, { region: 'weur' }, { region: 'apac' }] };
    expect((await api('POST', '/v1/keyspaces', definition)).status).toBe(403);
    const created = await api('POST', '/v1/keyspaces', definition, admin);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'orders', kind: 'dynamic', map_version: 1, shards: ['orders_s0000', 'orders_s0001'] });
    expect((await api('POST', '/v1/keyspaces', definition, admin)).body.error.code).toBe('keyspace_exists');
    expect((await api('POST', '/v1/keyspaces', { ...definition, name: 'bad', leaders: 'oc' }, admin)).body.error.message).toMatch(/leaders/);
    expect((await api('POST', '/v1/streams', { name: 'orders_s0000', replicas: [{ id: 1, region: 'wnam' }] }, admin)).body.error.message).toMatch(/reserved/);
    const keys = keysPerShard('o-', 2);
    for (const key of keys) expect((await client.ksPut('orders', key, key)).revision).toBeGreaterThan(0);
    expect((await client.ksList('orders')).items.map((i) => i.key)).toEqual([...keys].sort());
    // leaders: weur puts every shard's leader there.
    await eventually('both shards led from weur', async () => {
      const s = await client.ksStatus('orders');
      return s.shards.every((x) => x.leader_region === 'weur');
    });
    expect((await api('GET', '/v1/keyspaces')).body.keyspaces.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['users', 'orders']));
    const deleted = await api('DELETE', '/v1/keyspaces/orders', undefined, admin);
    expect(deleted.body).toMatchObject({ state: 'deleted', not_reached: [] });
    expect((await api('GET', `/v1/keyspaces/orders/kv/${keys[0]}`)).body.error.code).toBe('keyspace_not_found');
    expect((await api('DELETE', '/v1/keyspaces/users', undefined, admin)).body.error.code).toBe('configured_keyspace');
  });

  it('corrects a Worker whose cached shard map is stale: the old owner refuses (wrong_shard), the router re-reads the map and no write is misrouted', async () => {
    const definition = { name: 'moving', shards: 2, tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 300, replicas: [{ region: 'wnam' }, { region: 'weur' }, { region: 'apac' }] };
    expect((await api('POST', '/v1/keyspaces', definition, admin)).status).toBe(201);
    const [k0, k1] = keysPerShard('m-', 2);
    await client.ksPut('moving', k0!, 'v1');
    await client.ksPut('moving', k1!, 'v1');
    const stale: Keyspace = await resolveKeyspace(env, 'moving', true);
    expect(stale.map.version).toBe(1);
    // The map changes in the catalog (version 2: the halves swapped), as a change of the keyspace would make it.
    const entry = (await readKeyspace(env, 'moving'))!;
    const swapped = { version: 2, ranges: [{ from: 0, to: HASH_SPACE / 2, shard: 1 }, { from: HASH_SPACE / 2, to: HASH_SPACE, shard: 0 }] };
    expect(await compareAndSetKeyspace(env, 'moving', { ...entry.entry, map: swapped }, entry.revision)).not.toBeNull();
    // A fresh Worker writes under version 2: each shard is behind (version 1), so the router assigns it version 2 first.
    const fresh = await router.openKeyspace(env, BINDING, 'moving', 'write');
    expect(fresh.ks.map.version).toBe(2);
    expect((await router.ksPut(fresh, k0!, 'v2')).shard).toBe(1);
    expect((await router.ksPut(fresh, k1!, 'v2')).shard).toBe(0);
    // A Worker that still holds version 1 routes k0 to shard 0, which now refuses it; it reads the map again and writes at shard 1.
    cacheKeyspace(stale);
    const staleTarget = await router.openKeyspace(env, BINDING, 'moving', 'write');
    expect(staleTarget.ks.map.version).toBe(1);
    expect(await router.ksPut(staleTarget, k0!, 'from-stale')).toMatchObject({ shard: 1 });
    expect(staleTarget.ks.map.version).toBe(2);
    // Shard 0 never took the misrouted write: its k0 is still the version-1 value.
    expect((await api('GET', `/v1/streams/moving_s0000/kv/${k0}`)).body.value).toBe('v1');
    expect((await api('GET', `/v1/streams/moving_s0001/kv/${k0}`)).body.value).toBe('from-stale');
    // Reads are corrected the same way.
    cacheKeyspace(stale);
    expect(await router.ksGet(await router.openKeyspace(env, BINDING, 'moving', 'read'), k0!)).toMatchObject({ value: 'from-stale', shard: 1 });
  });
});

describe('keyspaces: the service binding', () => {
  it('offers every keyspace operation as an RPC method, over the same code as the HTTP routes', async () => {
    const rpc = (exports as unknown as { EdgePaxos: KeyspaceApi }).EdgePaxos;
    const [a, b] = keysPerShard('rpc-', 4);
    expect(await rpc.ksPut('users', a!, 'A')).toMatchObject({ shard: 0 });
    expect(await rpc.ksGet('users', a!)).toMatchObject({ value: 'A', shard: 0 });
    const t = await rpc.ksTxn('users', { success: [{ put: { key: a!, value: 'A2' } }, { put: { key: b!, value: 'B2' } }] });
    expect(t).toMatchObject({ succeeded: true, shards: [0, 1] });
    expect((await rpc.ksList('users', { prefix: 'rpc-' })).items.map((i) => i.value)).toEqual(expect.arrayContaining(['A2', 'B2']));
    expect(await rpc.ksDelete('users', b!)).toMatchObject({ deleted: true, shard: 1 });
    expect((await rpc.ksStatus('users')).shards).toHaveLength(4);
  });
});

/** One keyspace watch connection, read in steps: every event kept, and the last `id:` (the cursor). */
class Connection {
  readonly events: KeyspaceWatchEvent[] = [];
  cursor: string | null = null;
  private readonly sse: AsyncIterator<{ data: KeyspaceWatchEvent; id: string | null }>;

  constructor(body: ReadableStream<Uint8Array>, events?: KeyspaceWatchEvent[]) {
    this.sse = readSse<KeyspaceWatchEvent>(body)[Symbol.asyncIterator]();
    if (events) this.events = events;
  }

  /** Read until `until` holds at the end of a complete revision (the test's timeout bounds it). */
  async until(until: () => boolean): Promise<string | null> {
    for (;;) {
      const next = await this.sse.next();
      if (next.done) throw new Error(`the watch ended; it had ${JSON.stringify(this.events)}`);
      this.events.push(next.value.data);
      if (next.value.id !== null) {
        this.cursor = next.value.id;
        if (until()) return this.cursor;
      }
    }
  }

  /** Hang up (the server cancels every shard's watch). */
  async close(): Promise<void> {
    await this.sse.return?.();
  }
}

/** Check a keyspace watch shard by shard with the stream watch checker (revisions are per shard). */
function checkPerShard(shards: number, filter: { prefix: string }, from: ReadonlyMap<number, number>, events: readonly KeyspaceWatchEvent[], writes: readonly (ClientWrite & { shard: number })[]): number {
  let delivered = 0;
  for (let s = 0; s < shards; s++) {
    const mine = events.filter((e) => e.shard === s).map(({ shard: _s, ...e }) => e as WatchedEvent);
    const verdict = checkWatchAgainstWrites({ filter, from: from.get(s), events: mine }, writes.filter((w) => w.shard === s));
    expect(verdict, `shard ${s}`).toMatchObject({ ok: true });
    if (verdict.ok) delivered += verdict.delivered;
  }
  return delivered;
}

describe('keyspaces: watches over a keyspace prefix', () => {
  it('merges every shard\'s changes, each event naming its shard; resuming from the cursor after a disconnect loses none and repeats none', async () => {
    for (const shard of [0, 1, 2, 3]) await eventually(`users_s000${shard} leads`, async () => (await api('GET', `/v1/keyspaces/users/status`)).body.shards[shard].healthy);
    const keys = keysPerShard('w1/', 4);
    const writes: (ClientWrite & { shard: number })[] = [];
    const write = async (key: string, value: string): Promise<void> => {
      const r = await client.ksPut('users', key, value);
      writes.push({ type: 'put', key, value, revision: r.revision, shard: r.shard });
    };
    const events: KeyspaceWatchEvent[] = [];
    const first = new Connection(await client.ksWatch('users', { prefix: 'w1/' }), events);
    // Every shard's watch starts with a progress event: then the cursor names all four.
    const progressed = new Set<number>();
    let cursor = await first.until(() => {
      for (const e of events) if (e.type === 'progress') progressed.add(e.shard);
      return progressed.size === 4;
    });
    const start = parseWatchCursor(cursor!)!;
    expect([...start.keys()]).toEqual([0, 1, 2, 3]);
    for (const [i, key] of keys.entries()) await write(key, `a${i}`);
    // A cross-shard transaction: its puts get their revisions at each shard's resolve (read them back).
    const t = await client.ksTxn('users', { success: [{ put: { key: keys[0]!, value: 'txn0' } }, { put: { key: keys[3]!, value: 'txn3' } }] });
    expect(t).toMatchObject({ succeeded: true, shards: [0, 3] });
    for (const key of [keys[0]!, keys[3]!]) {
      const item = await eventually(`${key} resolved`, async () => {
        const got = await client.ksGet('users', key);
        return got?.value.startsWith('txn') ? got : null;
      });
      writes.push({ type: 'put', key, value: item!.value, revision: item!.revision, shard: item!.shard });
    }
    const puts = (): number => events.filter((e) => e.type === 'put').length;
    cursor = await first.until(() => puts() >= 3);
    await first.close();
    // Disconnected (the reader went away after `cursor`): more writes, then a new connection from the cursor.
    for (const [i, key] of keys.entries()) await write(key, `b${i}`);
    await client.ksDelete('users', keys[1]!).then((r) => writes.push({ type: 'delete', key: keys[1]!, revision: r.revision, deleted: r.deleted, shard: r.shard }));
    const second = new Connection(await client.ksWatch('users', { prefix: 'w1/', fromRevision: cursor! }), events);
    const covered = (): boolean => writes.every((w) => events.some((e) => e.type === w.type && e.shard === w.shard && 'key' in e && e.key === w.key && e.revision === w.revision));
    await second.until(covered);
    await second.close();
    // Each shard's projection is a correct stream watch (once each, in revision order, none missing up to its progress).
    expect(checkPerShard(4, { prefix: 'w1/' }, start, events, writes)).toBe(writes.length);
    expect(new Set(events.filter((e) => e.type === 'put').map((e) => e.shard))).toEqual(new Set([0, 1, 2, 3]));
    // A key's events all come from its shard, in revision order.
    for (const key of keys) {
      const mine = events.filter((e): e is Extract<KeyspaceWatchEvent, { key: string }> => 'key' in e && e.key === key);
      expect(new Set(mine.map((e) => e.shard)).size).toBe(1);
      expect(mine.map((e) => e.revision)).toEqual([...mine.map((e) => e.revision)].sort((a, b) => a - b));
    }
  });

  it('watchKeyspaceForever reconnects each time the server ends a connection and delivers every change exactly once', async () => {
    const keys = keysPerShard('w2/', 4);
    const stop = new AbortController();
    let reconnects = 0;
    const got: KeyspaceWatchEvent[] = [];
    const watching = (async () => {
      for await (const e of watchKeyspaceForever(client, 'users', { prefix: 'w2/', maxDurationMs: 1000, progressMs: 1000, signal: stop.signal, onReconnect: () => void reconnects++ })) got.push(e);
    })();
    await eventually('the watch started on every shard', async () => new Set(got.filter((e) => e.type === 'progress').map((e) => e.shard)).size === 4);
    const writes: { key: string; value: string; revision: number; shard: number }[] = [];
    // Writes spread over at least two connections (each ends after about a second), a round every 300 ms.
    for (let round = 0; reconnects < 2 || round < 3; round++) {
      for (const key of keys) {
        const value = `${key}#${round}`;
        writes.push({ key, value, ...(await client.ksPut('users', key, value)) });
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    await eventually('every write watched', async () => writes.every((w) => got.some((e) => e.type === 'put' && e.value === w.value)));
    stop.abort();
    await watching;
    expect(reconnects).toBeGreaterThanOrEqual(2);
    const puts = got.filter((e) => e.type === 'put');
    expect(puts.map((e) => `${e.shard}:${e.revision}:${e.key}`)).toEqual([...new Set(puts.map((e) => `${e.shard}:${e.revision}:${e.key}`))]);
    expect(puts.map((e) => ({ key: e.key, value: e.value, revision: e.revision, shard: e.shard })).sort((a, b) => a.value.localeCompare(b.value))).toEqual(
      [...writes].sort((a, b) => a.value.localeCompare(b.value)),
    );
  });

  it('watches one key at its shard alone, over the service binding too, and refuses bad cursors and keys outside a grant\'s prefix', async () => {
    const [key] = keysPerShard('w3/', 4);
    const shard = shardOfKey(evenMap(4), key!);
    const rpc = env.PAXOS as unknown as KeyspaceApi;
    const watch = new Connection(await rpc.ksWatch('users', { key: key! }));
    const events = watch.events;
    const cursor0 = await watch.until(() => events.some((e) => e.type === 'progress'));
    expect(parseWatchCursor(cursor0!)).toEqual(new Map([[shard, expect.any(Number)]]));
    const w = await rpc.ksPut('users', key!, 'over-rpc');
    await watch.until(() => events.some((e) => e.type === 'put'));
    await watch.close();
    expect(events.find((e) => e.type === 'put')).toEqual({ type: 'put', key, value: 'over-rpc', revision: w.revision, create_revision: expect.any(Number), shard });
    // The cursor names shards; one the watch does not cover, or no cursor at all, is refused.
    const other = (shard + 1) % 4;
    for (const bad of [`${other}:1`, 'zero', '0:0', '0:1,0:2']) {
      const res = await api('GET', `/v1/keyspaces/users/watch?key=${encodeURIComponent(key!)}&from_revision=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect((await api('GET', '/v1/keyspaces/users/watch?prefix=a&key=b')).body.error.code).toBe('invalid_request');
    expect((await api('GET', '/v1/keyspaces/nope/watch?prefix=')).body.error.code).toBe('keyspace_not_found');
    // A key-prefix grant applies: a watch under the prefix is opened, one over the whole keyspace is refused.
    const team: Principal = { kind: 'token', grants: [{ streams: ['users'], prefix: 'w3/', access: 'read' }] };
    const allowed = await ksWatch(await router.openKeyspace(env, team, 'users', 'read'), { prefix: 'w3/' });
    await allowed.cancel();
    await expect(ksWatch(await router.openKeyspace(env, team, 'users', 'read'), { prefix: '' })).rejects.toMatchObject({ code: 'forbidden', status: 403 });
  });
});

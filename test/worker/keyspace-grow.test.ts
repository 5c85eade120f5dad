import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ADMIN_BINDING, BINDING } from '../../src/api/grants.ts';
import { compareAndSetKeyspace, readKeyspace, resolveKeyspace } from '../../src/api/keyspace-catalog.ts';
import { assign, copy, startGrow } from '../../src/api/keyspace-grow.ts';
import * as router from '../../src/api/keyspace-service.ts';
import type { KeyspaceTarget } from '../../src/api/keyspace-service.ts';
import { keyspaceOf } from '../../src/api/keyspace-catalog.ts';
import { EdgePaxosClient } from '../../src/client/index.ts';
import { watchKeyspaceForever } from '../../src/client/keyspace-watch.ts';
import type { KeyspaceItem, KeyspaceWatchEvent } from '../../src/client/types.ts';
import { shardStreamName } from '../../src/host/config.ts';
import { type ShardMap, shardOfKey } from '../../src/kv/index.ts';
import { admin, api, eventually, sleep } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

const fetcher = (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(input, init);
const client = new EdgePaxosClient({ url: 'https://edgepaxos.test', token: TEST_TOKENS.writer, fetch: fetcher });
const definition = (name: string) => ({ name, shards: 2, tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 300, replicas: [{ region: 'wnam' }, { region: 'weur' }, { region: 'apac' }] });

/** Every key of the keyspace, over every shard (a list page of up to 1000). */
async function everything(ks: string): Promise<readonly KeyspaceItem[]> {
  const page = await client.ksList(ks, { limit: 1000 });
  expect(page.cursor).toBeUndefined();
  return page.items;
}

/** Shard `shard`'s own stream holds `key` (read through the stream route, which sees what the shard stores, owned or frozen). */
async function storedAt(ks: string, shard: number, key: string): Promise<boolean> {
  const r = await api('GET', `/v1/streams/${shardStreamName(ks, shard)}/kv/${encodeURIComponent(key)}`);
  if (r.status !== 200 && r.status !== 404) throw new Error(`stream read: ${r.status} ${JSON.stringify(r.body)}`);
  return r.status === 200;
}

/** Each key on exactly the shard `map` gives it, and on no other of `shards`. */
async function expectPlacedOnce(ks: string, map: ShardMap, shards: number, keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    const at: number[] = [];
    for (let s = 0; s < shards; s++) if (await storedAt(ks, s, key)) at.push(s);
    expect(at, key).toEqual([shardOfKey(map, key)]);
  }
}

/**
 * POST the grow, repeating it while it answers 503 (a new shard still electing its first leader under
 * load: the documented remedy is to repeat the call, which resumes the grow); the last answer.
 */
async function grow(ks: string, shards: number): Promise<{ status: number; body: any }> {
  for (let attempt = 1; ; attempt++) {
    const r = await api('POST', `/v1/keyspaces/${ks}/grow`, { shards }, admin);
    if (r.status !== 503 || attempt === 6) return r;
  }
}

describe('keyspaces: growing online', () => {
  it('grows a keyspace from 2 to 4 shards under concurrent writes through the router: every acknowledged write is read afterwards, once, from its new shard', async () => {
    expect((await api('POST', '/v1/keyspaces', definition('growing'), admin)).status).toBe(201);
    const before = Array.from({ length: 40 }, (_, i) => `pre-${i}`);
    for (const key of before) await client.ksPut('growing', key, `v0-${key}`);
    const oldRevision = new Map((await everything('growing')).map((i) => [i.key, i.revision]));

    // Writers: one writes new keys, one overwrites the existing ones in turn; each remembers what was acknowledged.
    let growing = true;
    let duringGrow = 0;
    const acknowledged = new Map<string, string>();
    const attempted = new Map<string, Set<string>>();
    const writer = async (name: string, keyOf: (i: number) => string) => {
      for (let i = 0; growing || i < 5; i++) {
        const key = keyOf(i);
        const value = `${name}-${i}`;
        if (!attempted.has(key)) attempted.set(key, new Set());
        attempted.get(key)!.add(value);
        try {
          await client.ksPut('growing', key, value);
          acknowledged.set(key, value);
          if (growing) duringGrow += 1;
        } catch (e) {
          // A 503 (the key's range moving past the request's patience, a shard electing, or an unknown outcome) or a 429 (a busy
          // leader): the next round writes on; whatever may have been applied is checked below.
          const status = (e as { status?: number }).status;
          if (status !== 503 && status !== 429) throw e;
        }
      }
    };
    const writers = Promise.all([writer('new', (i) => `new-${i}`), writer('over', (i) => before[i % before.length]!)]);
    const grown = await grow('growing', 4);
    growing = false;
    await writers;
    expect(grown.status).toBe(200);
    expect(duringGrow).toBeGreaterThan(0);
    expect(grown.body).toMatchObject({ name: 'growing', map_version: 2, shards: 4, state: 'grown', moves: [] });

    const described = (await api('GET', '/v1/keyspaces/growing')).body;
    expect(described).toMatchObject({ map_version: 2, shards: ['growing_s0000', 'growing_s0001', 'growing_s0002', 'growing_s0003'] });
    expect(described.grow).toBeUndefined();
    const map = (await resolveKeyspace(env, 'growing', true)).map;
    const items = await everything('growing');
    const byKey = new Map(items.map((i) => [i.key, i]));
    // Exactly once: no key listed twice, none lost.
    expect(byKey.size).toBe(items.length);
    for (const key of before) expect(byKey.has(key), key).toBe(true);
    for (const [key, value] of acknowledged) {
      const item = byKey.get(key);
      // The last acknowledged write, or a later attempt whose answer was lost (an unknown outcome): never an older value.
      const later = [...attempted.get(key)!].filter((v) => Number(v.split('-').pop()) > Number(value.split('-').pop()));
      expect([value, ...later], key).toContain(item?.value);
      expect(item!.shard, key).toBe(shardOfKey(map, key));
    }
    // Keys moved to the new shards (2 and 3), and their revisions there are above any they had at their source.
    const moved = before.filter((k) => shardOfKey(map, k) >= 2);
    expect(moved.length).toBeGreaterThan(0);
    for (const key of moved) expect(byKey.get(key)!.revision, key).toBeGreaterThan(oldRevision.get(key)!);
    // The sources dropped what they handed off: each key is stored on its own shard only.
    await expectPlacedOnce('growing', map, 4, [...before, ...acknowledged.keys()]);
    // A transaction across an old and a new shard works under the new map.
    const [a, b] = [before.find((k) => shardOfKey(map, k) === 0)!, moved[0]!];
    const txn = await client.ksTxn('growing', { compare: [], success: [{ put: { key: a, value: 'T' } }, { put: { key: b, value: 'T' } }] });
    expect([...txn.shards].sort()).toEqual([0, shardOfKey(map, b)].sort());
  });

  it('keeps a keyspace watch open across a grow from 2 to 3 shards under writes: across its reconnections it sees every acknowledged write to each key, in order, and no delete', async () => {
    expect((await api('POST', '/v1/keyspaces', definition('watched'), admin)).status).toBe(201);
    const keys = Array.from({ length: 12 }, (_, i) => `k-${i}`);
    for (const key of keys) await client.ksPut('watched', key, `${key}#0`);
    const stop = new AbortController();
    const got: KeyspaceWatchEvent[] = [];
    let reconnects = 0;
    const watching = (async () => {
      for await (const e of watchKeyspaceForever(client, 'watched', { prefix: '', progressMs: 1000, signal: stop.signal, onReconnect: () => void reconnects++ })) got.push(e);
    })();
    await eventually('the watch started on both shards', async () => new Set(got.filter((e) => e.type === 'progress').map((e) => e.shard)).size === 2);

    // Writers, one per half of the keys, each writing its keys in turn (one write of a key at a time): what was acknowledged, what attempted.
    let growing = true;
    const acknowledged: { key: string; value: string }[] = [];
    // The first values too: a watch at a follower behind their writes sees them.
    const attempted = new Set<string>(keys.map((k) => `${k}#0`));
    const writer = async (mine: readonly string[]) => {
      for (let round = 1; growing || round < 4; round++) {
        for (const key of mine) {
          const value = `${key}#${round}`;
          attempted.add(value);
          try {
            await client.ksPut('watched', key, value);
            acknowledged.push({ key, value });
          } catch (e) {
            // A 503 or 429 (a moving range past the request's patience, a busy or electing shard): an unknown outcome, written on.
            const status = (e as { status?: number }).status;
            if (status !== 503 && status !== 429) throw e;
          }
        }
        // A breath between rounds: an answer that needs no I/O (a 429) must not starve the grow and the watch.
        await sleep(20);
      }
    };
    const writers = Promise.all([writer(keys.slice(0, 6)), writer(keys.slice(6))]);
    const grown = await grow('watched', 3);
    growing = false;
    await writers;
    expect(grown.body).toMatchObject({ map_version: 2, shards: 3, state: 'grown' });
    const map = (await resolveKeyspace(env, 'watched', true)).map;
    const movedKeys = keys.filter((k) => shardOfKey(map, k) === 2);
    expect(movedKeys.length).toBeGreaterThan(0);
    await eventually(
      'every acknowledged write watched',
      async () => acknowledged.every((w) => got.some((e) => e.type === 'put' && e.key === w.key && e.value === w.value)),
      30_000,
    );
    stop.abort();
    await watching;

    // The watch reconnected under the grown map and heard from the new shard (the writes made there after the move).
    expect(reconnects).toBeGreaterThan(0);
    expect(got.some((e) => e.type === 'put' && e.shard === 2 && movedKeys.includes(e.key))).toBe(true);
    // No delete (none was made) and no move: the copy and drop of the grow are left out.
    expect(got.filter((e) => e.type === 'delete')).toEqual([]);
    expect(got.filter((e) => (e.type === 'put' || e.type === 'delete') && e.moved)).toEqual([]);
    const puts = got.filter((e) => e.type === 'put');
    for (const key of keys) {
      const seen = puts.filter((e) => e.key === key);
      // Each value once, each one written (acknowledged or of unknown outcome), at increasing revisions (its new shard's are above its old one's).
      expect(seen.map((e) => e.value).every((v) => attempted.has(v)), key).toBe(true);
      expect(new Set(seen.map((e) => e.value)).size, key).toBe(seen.length);
      expect(seen.map((e) => e.revision), key).toEqual([...seen.map((e) => e.revision)].sort((a, b) => a - b));
      // The acknowledged writes of a key, in the order they were acknowledged, are seen in that order.
      const acked = acknowledged.filter((w) => w.key === key).map((w) => w.value);
      expect(seen.map((e) => e.value).filter((v) => acked.includes(v)), key).toEqual(acked);
      // After the grow, the key's events come from its shard under the new map.
      expect(seen.at(-1)!.shard, key).toBe(shardOfKey(map, key));
    }
  });

  it('resumes an interrupted grow (catalog recorded, shards assigned, a copy cut short) to the same end state, through the admin binding', async () => {
    expect((await api('POST', '/v1/keyspaces', definition('resumed'), admin)).status).toBe(201);
    const keys = Array.from({ length: 40 }, (_, i) => `r-${i}`);
    const valueOf = (key: string) => `v-${key}`;
    for (const key of keys) await client.ksPut('resumed', key, valueOf(key));
    // Step 1 and 2, then the copy of the first moving range stops after one chunk (a Worker that died there).
    const started = await startGrow(env, 'resumed', 3);
    expect(started.entry.grow?.moves).toHaveLength(1);
    const t: KeyspaceTarget = { env, principal: ADMIN_BINDING, ks: keyspaceOf(started) };
    for (let s = 0; s < 3; s++) await assign(t, s);
    await copy(t, t.ks.moving![0]!, 1, 4); // one chunk of 4 keys
    const move = t.ks.moving![0]!;
    const movingKeys = keys.filter((k) => shardOfKey(t.ks.map, k) === move.target);
    expect(movingKeys.length).toBeGreaterThan(4); // more than that chunk
    // Meanwhile: the move shows in the catalog and a different count is refused.
    const described = (await api('GET', '/v1/keyspaces/resumed')).body;
    expect(described.grow.moves).toEqual([{ ...move, done: false }]);
    expect((await api('POST', '/v1/keyspaces/resumed/grow', { shards: 4 }, admin)).body.error.code).toBe('grow_in_progress');
    // Repeating the call (here through EdgePaxosAdmin) finishes it; repeating it again changes nothing.
    const paxosAdmin = env.PAXOS_ADMIN!;
    const viaRpc = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await paxosAdmin.growKeyspace('resumed', 3);
        } catch (e) {
          if ((e as { status?: number }).status !== 503 || attempt === 6) throw e;
        }
      }
    };
    expect(await viaRpc()).toMatchObject({ map_version: 2, shards: 3, state: 'grown', moves: [] });
    expect(await paxosAdmin.growKeyspace('resumed', 3)).toMatchObject({ map_version: 2, shards: 3, state: 'grown' });
    const items = await everything('resumed');
    expect(items.map((i) => [i.key, i.value]).sort()).toEqual(keys.map((k) => [k, valueOf(k)]).sort());
    for (const i of items) expect(i.shard, i.key).toBe(shardOfKey(t.ks.map, i.key));
    await expectPlacedOnce('resumed', t.ks.map, 3, movingKeys.slice(0, 8));
    expect((await readKeyspace(env, 'resumed'))!.entry.grow).toBeUndefined();
  });

  it('is finished by a router whose request meets a moving range of a grow that looks stalled (its Worker died after the catalog step)', async () => {
    expect((await api('POST', '/v1/keyspaces', definition('stalled'), admin)).status).toBe(201);
    const keys = Array.from({ length: 12 }, (_, i) => `s-${i}`);
    for (const key of keys) await client.ksPut('stalled', key, `v-${key}`);
    const started = await startGrow(env, 'stalled', 3);
    // The grow started a minute ago, as far as the catalog tells: longer than GROW_STALL_MS.
    const old = { ...started.entry, grow: { ...started.entry.grow!, started_at: new Date(Date.now() - 60_000).toISOString() } };
    expect(await compareAndSetKeyspace(env, 'stalled', old, started.revision)).not.toBeNull();
    const map = keyspaceOf(started).map;
    const moved = keys.find((k) => shardOfKey(map, k) === 2)!;
    const background: Promise<unknown>[] = [];
    const t = await router.openKeyspace(env, BINDING, 'stalled', 'read', (work) => background.push(work));
    // The new shard answers `moving`; the router drives the grow in the background and reads the key once it is served.
    expect(await router.ksGet(t, moved)).toMatchObject({ value: `v-${moved}`, shard: 2 });
    expect(background.length).toBe(1);
    await Promise.all(background);
    expect((await readKeyspace(env, 'stalled'))!.entry.grow).toBeUndefined();
  });

  it('refuses what it cannot do: no shrinking, no configured keyspace, no caller without an admin grant, no bad count', async () => {
    expect((await api('POST', '/v1/keyspaces', definition('refusing'), admin)).status).toBe(201);
    expect((await api('POST', '/v1/keyspaces/refusing/grow', { shards: 1 }, admin)).body.error.code).toBe('invalid_request');
    expect((await api('POST', '/v1/keyspaces/refusing/grow', { shards: 257 }, admin)).body.error.code).toBe('invalid_request');
    expect((await api('POST', '/v1/keyspaces/refusing/grow', { shards: 3, more: 1 }, admin)).body.error.code).toBe('invalid_request');
    expect((await api('POST', '/v1/keyspaces/refusing/grow', { shards: 3 })).status).toBe(403);
    expect((await api('POST', '/v1/keyspaces/users/grow', { shards: 8 }, admin)).body.error.code).toBe('configured_keyspace');
    expect((await api('POST', '/v1/keyspaces/nope/grow', { shards: 8 }, admin)).body.error.code).toBe('keyspace_not_found');
    // The same count as now: nothing to do.
    expect((await api('POST', '/v1/keyspaces/refusing/grow', { shards: 2 }, admin)).body).toMatchObject({ state: 'grown', shards: 2, map_version: 1 });
    expect((await grow('refusing', 3)).body).toMatchObject({ state: 'grown', shards: 3, map_version: 2 });
    expect((await api('POST', '/v1/keyspaces/refusing/grow', { shards: 2 }, admin)).body.error.message).toMatch(/only grow/);
  });
});

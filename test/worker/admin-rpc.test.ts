import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { EdgePaxos } from '../../src/api/rpc.ts';
import { EdgePaxos as DataEntrypoint } from '../../src/api/rpc.ts';
import { EdgePaxosAdmin } from '../../src/api/admin-rpc.ts';
import { BINDING } from '../../src/api/grants.ts';
import * as keyspaces from '../../src/api/keyspace-collection.ts';
import * as operations from '../../src/api/operations-service.ts';
import { openStream } from '../../src/api/service.ts';
import type { AdminApi, DataApi, KeyspaceApi } from '../../src/client/types.ts';
import { admin as adminToken, api, eventually, put, stableLeader, status } from './helpers.ts';

// PAXOS_ADMIN and PAXOS are real service bindings (vitest.config.ts) from this Worker to its own
// EdgePaxosAdmin and EdgePaxos entrypoints, as an operator's Worker binds them: every call below
// crosses RPC, arguments and errors included. The HTTP API checks what each call did.

const S = 'admin';
const paxosAdmin = env.PAXOS_ADMIN!;

/** What a caller catches: the error's name, code and status, as they survive RPC. */
async function refusal(call: Promise<unknown>): Promise<{ name: string; code: unknown; status: unknown; message: string }> {
  try {
    await call;
  } catch (e) {
    const err = e as Error & { code?: unknown; status?: unknown };
    return { name: err.name, code: err.code, status: err.status, message: err.message };
  }
  throw new Error('the call was expected to fail, and succeeded');
}

/** The operator controls a data binding must not have: every method of AdminApi that DataApi does not share. */
const ADMIN_ONLY = [
  'switchover',
  'stepDown',
  'failover',
  'setRunMode',
  'setWorkMode',
  'truncate',
  'health',
  'leaderCheck',
  'replicaCheck',
  'members',
  'addMember',
  'updateMember',
  'removeMember',
  'rebuild',
  'streams',
  'stream',
  'createStream',
  'deleteStream',
  'growKeyspace',
  'createKeyspace',
  'deleteKeyspace',
  'restore',
  'chaos',
] as const satisfies readonly Exclude<keyof AdminApi, keyof DataApi | keyof KeyspaceApi>[];
// The list is complete: a method added to AdminApi and not listed here fails the typecheck (the keyspace
// collection's reads, `keyspaces` and `keyspace`, are on both entrypoints).
const complete: [Exclude<Exclude<keyof AdminApi, keyof DataApi | keyof KeyspaceApi>, (typeof ADMIN_ONLY)[number]>] extends [never] ? true : false = true;

describe('admin rpc: operator controls through a service binding to EdgePaxosAdmin', () => {
  it('admin rpc: a switchover through the binding moves the leader; step-down, pause, failover and resume follow; health checks answer', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    const before = await put(S, 'before-switchover', 'b');
    expect(await paxosAdmin.switchover(S, 3)).toMatchObject({ leader_id: 3, changed: true });
    expect((await status(S)).leader_id).toBe(3);
    expect(await paxosAdmin.switchover(S, 3, { timeoutMs: 5000 })).toEqual({ leader_id: 3, changed: false, took_ms: 0 });
    expect((await api('GET', `/v1/streams/${S}/kv/before-switchover`)).body.revision).toBe(before);

    expect(await paxosAdmin.leaderCheck(S, 3)).toEqual({ node_id: 3, leader: true, term: expect.any(Number) });
    expect(await refusal(paxosAdmin.leaderCheck(S, 2))).toMatchObject({ name: 'EdgePaxosError', code: 'not_leader', status: 503 });
    expect(await paxosAdmin.health(S, 2)).toMatchObject({ node_id: 2, alive: true, leader_id: 3 });
    await eventually('replica 1 is a replica within lag 0', async () => (await paxosAdmin.replicaCheck(S, 1, { lag: 0 }).catch(() => null))?.replica === true);
    expect(await refusal(paxosAdmin.replicaCheck(S, 3))).toMatchObject({ code: 'not_a_healthy_replica', message: 'not_a_healthy_replica: replica 3 is the leader' });
    expect(await refusal(paxosAdmin.health(S, 7))).toMatchObject({ code: 'replica_not_found', status: 404 });

    const down = await paxosAdmin.stepDown(S);
    expect(down.previous_leader_id).toBe(3);
    expect(down.leader_id).not.toBe(3);

    expect(await paxosAdmin.setRunMode(S, 'manual')).toEqual({ run_mode: 'manual', not_reached: [] });
    expect((await status(S)).run_mode).toBe('manual');
    expect(await paxosAdmin.failover(S, 2)).toMatchObject({ leader_id: 2, elected: true });
    await put(S, 'manual-mode', 'm');
    expect(await paxosAdmin.setRunMode(S, 'automatic')).toEqual({ run_mode: 'automatic', not_reached: [] });
    await eventually('fail-back to replica 1', async () => (await stableLeader(S)) === 1);
    expect((await api('GET', `/v1/streams/${S}/kv/manual-mode`)).body.value).toBe('m');
  });

  it('admin rpc: work mode refusals, bad arguments and unknown streams arrive with their codes; fault injection answers', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    // Each call is made when its turn comes (a rejected promise left waiting would be reported as unhandled).
    const cases: [() => Promise<unknown>, number, string][] = [
      [() => paxosAdmin.setWorkMode(S, { mode: 'minority', replicas: [3], voteNum: 1 }), 409, 'quorum_available'],
      [() => paxosAdmin.setWorkMode(S, { mode: 'minority', replicas: [3], voteNum: 2 }), 400, 'invalid_request'],
      [() => paxosAdmin.setWorkMode(S, { mode: 'minority', replicas: [7], voteNum: 1 }), 400, 'invalid_request'],
      [() => paxosAdmin.setWorkMode(S, { mode: 'minority', replicas: [1, 2, 3], voteNum: 1 }), 422, 'invalid_change'],
      [() => paxosAdmin.setWorkMode(S, { mode: 'emergency' } as never), 400, 'invalid_request'],
      [() => paxosAdmin.switchover(S, 9), 400, 'invalid_target'],
      [() => paxosAdmin.switchover(S, 2, { timeoutMs: 5 }), 400, 'invalid_request'],
      [() => paxosAdmin.updateMember(S, 2, {}), 400, 'invalid_request'],
      [() => paxosAdmin.updateMember(S, 2, { role: 'logger' }), 422, 'invalid_change'],
      [() => paxosAdmin.addMember(S, { id: 2, region: 'weur' }), 409, 'member_exists'],
      [() => paxosAdmin.addMember(S, { id: 5, region: 'mars' }), 400, 'invalid_request'],
      [() => paxosAdmin.removeMember(S, 9), 404, 'member_not_found'],
      [() => paxosAdmin.rebuild(S, 9), 404, 'member_not_found'],
      [() => paxosAdmin.failover('no-such-stream', 1), 404, 'stream_not_found'],
      [() => paxosAdmin.deleteStream(S), 409, 'configured_stream'],
      [() => paxosAdmin.createStream({ name: '_mine', replicas: [{ id: 1, region: 'wnam' }] }), 400, 'invalid_request'],
      // The HTTP route's 16 KiB body limit holds over RPC too (the definition is measured in the service).
      [() => paxosAdmin.createStream({ name: 'too-big', replicas: [{ id: 1, region: 'wnam' }], padding: 'x'.repeat(17 * 1024) } as never), 413, 'payload_too_large'],
    ];
    for (const [call, code, error] of cases) expect(await refusal(call())).toMatchObject({ name: 'EdgePaxosError', status: code, code: error });
    expect((await status(S)).work_mode).toBe('normal');

    // The workers tests run with EDGEPAXOS_CHAOS=on; without it the same call is refused (chaos_disabled).
    expect(await paxosAdmin.chaos(S, { action: 'unreliable', duplicate_rate: 0, delay_ms_max: 0 })).toEqual({ unreliable: { duplicate_rate: 0, delay_ms_max: 0 } });
    expect(await paxosAdmin.chaos(S, { action: 'heal' })).toEqual({ healed: true });
    expect(await refusal(paxosAdmin.chaos(S, { action: 'crash', replica: 9 }))).toMatchObject({ code: 'invalid_request', status: 400 });
    const off = await refusal(operations.chaos({ ...(await openStream({ ...env, EDGEPAXOS_CHAOS: 'off' }, BINDING, S, 'read')), principal: { kind: 'binding', entrypoint: 'EdgePaxosAdmin' } }, { action: 'heal' }));
    expect(off).toMatchObject({ code: 'chaos_disabled', status: 403 });
  });

  it('admin rpc: members are added, promoted, changed, rebuilt and removed through the binding', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    for (let i = 0; i < 5; i++) await put(S, `m${i}`, `v${i}`);
    const added = await paxosAdmin.addMember(S, { id: 4, region: 'eeur', waitMs: 20_000 });
    expect(added).toMatchObject({ member: 4, role: 'follower', policy: 'weight 3 of 4 to decide, 3 to elect' });
    expect(added.members).toContainEqual({ node_id: 4, region: 'eeur', role: 'follower', priority: 0, weight: 1, group: 0, incarnation: 1 });
    expect((await paxosAdmin.members(S)).members.map((m) => m.node_id)).toEqual([1, 2, 3, 4]);
    const changed = await paxosAdmin.updateMember(S, 4, { group: 2, priority: undefined });
    expect(changed.members).toContainEqual(expect.objectContaining({ node_id: 4, group: 2, priority: 0 }));
    const rebuilt = await paxosAdmin.rebuild(S, 4, { waitMs: 20_000 });
    expect(rebuilt).toMatchObject({ rebuilt: 4, incarnation: 2, role: 'follower' });
    const removed = await paxosAdmin.removeMember(S, 4);
    expect(removed).toMatchObject({ removed: 4, policy: 'weight 2 of 3 to decide, 2 to elect' });
    // The HTTP API sees the same configuration.
    const listed = await api('GET', `/v1/streams/${S}/members`);
    expect(listed.body.members.map((m: any) => m.node_id)).toEqual([1, 2, 3]);
    expect(listed.body.configuration_index).toBe(removed.configuration_index);
  });

  it('admin rpc: streams are created, listed, described, snapshotted, truncated, restored and deleted through the binding', async () => {
    const definition = { name: 'admin-src', tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 300, replicas: [1, 2, 3].map((id) => ({ id, region: ['wnam', 'weur', 'apac'][id - 1]!, priority: 4 - id })) };
    const created = await paxosAdmin.createStream(definition);
    expect(created).toMatchObject({ name: 'admin-src', kind: 'dynamic', state: 'active', definition: { name: 'admin-src' } });
    expect(await refusal(paxosAdmin.createStream(definition))).toMatchObject({ code: 'stream_exists', status: 409 });
    expect(await paxosAdmin.stream('admin-src')).toEqual(created);
    expect((await paxosAdmin.streams()).streams.map((s) => s.name)).toContain('admin-src');
    await stableLeader('admin-src');
    for (const [k, v] of [['a', '1'], ['b', 'two']]) await put('admin-src', k!, v!);

    const truncated = await paxosAdmin.truncate('admin-src');
    expect(truncated.not_reached).toEqual([]);
    expect(Object.keys(truncated.first_index)).toEqual(['1', '2', '3']);

    const doc = await paxosAdmin.snapshot('admin-src');
    expect(doc).toMatchObject({ format: 'edgepaxos-snapshot', stream: 'admin-src', slot: expect.any(Number) });
    expect(await refusal(paxosAdmin.restore('admin-copy', { ...doc, sha256: '0'.repeat(64) }))).toMatchObject({ code: 'invalid_snapshot', status: 400 });
    expect((await api('GET', '/v1/streams/admin-copy', undefined, adminToken)).status).toBe(404); // a refused restore creates nothing
    const restored = await paxosAdmin.restore('admin-copy', doc);
    expect(restored).toMatchObject({ name: 'admin-copy', state: 'active', restored_slot: doc.slot });
    await stableLeader('admin-copy');
    const items = async (stream: string) => (await api('GET', `/v1/streams/${stream}/kv?limit=1000`)).body.items;
    expect(await items('admin-copy')).toEqual(await items('admin-src'));

    for (const name of ['admin-copy', 'admin-src']) expect(await paxosAdmin.deleteStream(name)).toMatchObject({ name, state: 'deleted', not_reached: [] });
    expect(await refusal(paxosAdmin.stream('admin-src'))).toMatchObject({ code: 'stream_not_found', status: 404 });
  });
});

describe('admin rpc: keyspaces', () => {
  it('admin rpc: a keyspace is created, listed, described, served, shown in the stream list with its shards, and deleted through the binding', async () => {
    const definition = { name: 'admin-ks', shards: 2, tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 300, replicas: [{ region: 'wnam' }, { region: 'weur' }, { region: 'apac' }] };
    const created = await paxosAdmin.createKeyspace(definition);
    expect(created).toMatchObject({ name: 'admin-ks', kind: 'dynamic', state: 'active', map_version: 1, shards: ['admin-ks_s0000', 'admin-ks_s0001'], definition: { name: 'admin-ks', shards: 2 } });
    expect(await refusal(paxosAdmin.createKeyspace(definition))).toMatchObject({ code: 'keyspace_exists', status: 409 });
    expect(await refusal(paxosAdmin.createKeyspace({ ...definition, name: 'admin-bad', shards: 0 }))).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(await refusal(paxosAdmin.createKeyspace('not a definition' as never))).toMatchObject({ code: 'invalid_request', status: 400 });
    // The HTTP route's 16 KiB body limit holds over RPC too.
    expect(await refusal(paxosAdmin.createKeyspace({ ...definition, name: 'admin-huge', padding: 'x'.repeat(17 * 1024) } as never))).toMatchObject({ code: 'payload_too_large', status: 413 });
    // The HTTP route answers the same entry (one code path).
    expect(await paxosAdmin.keyspace('admin-ks')).toEqual(created);
    expect((await api('GET', '/v1/keyspaces/admin-ks')).body).toEqual(created);
    expect((await paxosAdmin.keyspaces()).keyspaces.map((k) => k.name)).toEqual(expect.arrayContaining(['users', 'admin-ks']));
    // The data binding reads the collection too, and serves the keyspace.
    const data = env.PAXOS as unknown as Service<EdgePaxos>;
    expect(await data.keyspace('admin-ks')).toEqual(created);
    expect((await data.keyspaces()).keyspaces.map((k) => k.name)).toContain('admin-ks');
    // A new keyspace's shards elect at their first request: wait for both leaders, as for a new stream.
    for (const shard of ['admin-ks_s0000', 'admin-ks_s0001']) await stableLeader(shard, 30_000);
    expect(await data.ksPut('admin-ks', 'k', 'v')).toMatchObject({ revision: expect.any(Number) });
    // Its shards are streams of kind `shard` in the stream list, as the configured keyspace's are.
    // (A catalog that lost its leader under a loaded machine lists no run-time keyspace for a moment: catalog_error says so.)
    const list = await eventually('the catalog read for the stream list', async () => {
      const l = await paxosAdmin.streams();
      return l.catalog_error === null && l;
    });
    const shards = list.streams.filter((s) => s.kind === 'shard');
    expect(shards.filter((s) => s.keyspace === 'admin-ks'), JSON.stringify(list)).toEqual([
      expect.objectContaining({ name: 'admin-ks_s0000', kind: 'shard', keyspace: 'admin-ks', shard: 0, replicas: [1, 2, 3], state: 'active' }),
      expect.objectContaining({ name: 'admin-ks_s0001', kind: 'shard', keyspace: 'admin-ks', shard: 1, replicas: [1, 2, 3], state: 'active' }),
    ]);
    expect(shards.filter((s) => s.keyspace === 'users').map((s) => s.name)).toEqual(['users_s0000', 'users_s0001', 'users_s0002', 'users_s0003']);
    expect(await paxosAdmin.stream('admin-ks_s0001')).toMatchObject({ name: 'admin-ks_s0001', kind: 'shard', keyspace: 'admin-ks', shard: 1, definition: { name: 'admin-ks_s0001' } });

    expect(await paxosAdmin.deleteKeyspace('admin-ks')).toMatchObject({ name: 'admin-ks', state: 'deleted', not_reached: [] });
    expect(await refusal(paxosAdmin.keyspace('admin-ks'))).toMatchObject({ code: 'keyspace_not_found', status: 404 });
    expect(await refusal(paxosAdmin.deleteKeyspace('admin-ks'))).toMatchObject({ code: 'keyspace_not_found', status: 404 });
    expect(await refusal(paxosAdmin.deleteKeyspace('users'))).toMatchObject({ code: 'configured_keyspace', status: 409 });
    // A deleted keyspace's shards are not listed any more.
    expect((await paxosAdmin.streams()).streams.filter((s) => s.name.startsWith('admin-ks_'))).toEqual([]);
    expect((await paxosAdmin.keyspaces()).keyspaces.map((k) => k.name)).not.toContain('admin-ks');
  });
});

describe('admin rpc: capability separation', () => {
  it('admin rpc: the EdgePaxos (data) entrypoint has no operator method, over the binding or on the class', async () => {
    expect(complete).toBe(true);
    for (const name of ADMIN_ONLY) {
      expect(name in DataEntrypoint.prototype, `EdgePaxos.${name}`).toBe(false);
      expect(typeof (EdgePaxosAdmin.prototype as unknown as Record<string, unknown>)[name], `EdgePaxosAdmin.${name}`).toBe('function');
    }
    // Through a real binding to EdgePaxos, an operator method does not exist.
    const data = env.PAXOS! as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const missing = await data.switchover!(S, 3).then(
      () => 'called',
      (e: Error) => e.message,
    );
    expect(missing).toMatch(/does not (exist|implement)|not a function|no such method/i);
    // Its data methods work (the binding itself is alive).
    expect((await (env.PAXOS as unknown as Service<EdgePaxos>).status(S)).stream).toBe(S);
  });

  it('admin rpc: the operator services refuse a data binding even if a method reached them', async () => {
    const t = await openStream(env, BINDING, S, 'read');
    for (const call of [() => operations.switchover(t, 2), () => operations.setRunMode(t, 'manual'), () => operations.truncate(t), () => operations.chaos(t, { action: 'heal' })]) {
      expect(await refusal(call())).toMatchObject({ name: 'ApiError', code: 'forbidden', status: 403 });
    }
    // Creating and deleting keyspaces too: a data binding only reads the collection.
    const definition = keyspaces.parseDefinition({ name: 'data-made', shards: 1, replicas: [{ region: 'wnam' }] });
    for (const call of [() => keyspaces.createKeyspace(env, BINDING, definition), () => keyspaces.deleteKeyspace(env, BINDING, 'users')]) {
      expect(await refusal(call())).toMatchObject({ name: 'ApiError', code: 'forbidden', status: 403 });
    }
    expect(await refusal(keyspaces.describeKeyspace(env, BINDING, 'data-made'))).toMatchObject({ code: 'keyspace_not_found', status: 404 });
    expect((await status(S)).run_mode).toBe('automatic');
  });
});

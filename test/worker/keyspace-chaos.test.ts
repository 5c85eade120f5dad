import { describe, expect, it } from 'vitest';
import type { TxnCompare, TxnOp } from '../../src/core/index.ts';
import { type KeyspaceInput, type KeyspaceOutput, keyspaceModel } from '../../sim/checker/keyspace-model.ts';
import { type Operation, checkLinearizability } from '../../sim/checker/linearizability.ts';
import { admin, api, sleep } from './helpers.ts';

/**
 * Writes and transactions across the shards of a keyspace created at run time,
 * while leaders of several shards crash, shard leaders are partitioned from
 * their followers, and the catalog's leader is partitioned too; the history
 * of every client, with final reads after healing, must be linearizable as
 * one object (sim/checker/keyspace-model.ts).
 */
const KS = 'kschaos';
const SHARDS = 3;
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f'];
const RUN_MS = 6000;

type Op = Operation<KeyspaceInput, KeyspaceOutput>;

describe('keyspaces under chaos', () => {
  it('cross-shard writes and transactions stay linearizable through leader crashes and partitions of several shards and of the catalog', async () => {
    const definition = { name: KS, shards: SHARDS, leaders: 'spread', tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 0, replicas: [{ region: 'wnam' }, { region: 'weur' }, { region: 'apac' }] };
    expect((await api('POST', '/v1/keyspaces', definition, admin)).status).toBe(201);
    const history: Op[] = [];
    let clock = 0;
    const tick = (): number => ++clock;
    // Every shard assigned and led before the chaos starts (these writes are in the history too).
    for (const key of KEYS) {
      const at = tick();
      expect((await api('PUT', `/v1/keyspaces/${KS}/kv/${key}`, { value: 'init' })).status).toBe(200);
      history.push({ clientId: 8, input: { kind: 'put', key, value: 'init' }, call: at, return: tick(), output: { kind: 'put' } });
    }
    const stats = { unknown: 0, refused: 0, faults: 0, txnsAcrossShards: 0 };

    /** One operation over HTTP, recorded: an answer, an outcome the API says is unknown, or a refusal that applied nothing (left out). */
    const call = async (clientId: number, input: KeyspaceInput, send: () => Promise<{ status: number; body: any }>, read: (body: any) => KeyspaceOutput): Promise<void> => {
      const at = tick();
      const res = await send();
      if (res.status === 200 || (res.status === 404 && input.kind === 'get')) {
        history.push({ clientId, input, call: at, return: tick(), output: res.status === 404 ? { kind: 'get', value: null } : read(res.body) });
      } else if (res.body?.error?.code === 'outcome_unknown') {
        stats.unknown += 1;
        if (input.kind !== 'get') history.push({ clientId, input, call: at, return: Infinity, output: undefined });
      } else {
        // 503 unavailable, 409 txn_conflict, 429: the API says nothing was applied.
        expect(['unavailable', 'txn_conflict', 'overloaded', 'catalog_unavailable']).toContain(res.body?.error?.code);
        stats.refused += 1;
      }
    };

    const deadline = Date.now() + RUN_MS;
    const client = async (clientId: number): Promise<void> => {
      for (let n = 0; Date.now() < deadline; n++) {
        const key = KEYS[(clientId * 7 + n * 3) % KEYS.length]!;
        const other = KEYS[(clientId + n * 5 + 1) % KEYS.length]!;
        const value = `c${clientId}.${n}`;
        const roll = (clientId + n) % 4;
        if (roll === 0) {
          await call(clientId, { kind: 'put', key, value }, () => api('PUT', `/v1/keyspaces/${KS}/kv/${key}`, { value }), () => ({ kind: 'put' }));
        } else if (roll === 1) {
          await call(clientId, { kind: 'get', key }, () => api('GET', `/v1/keyspaces/${KS}/kv/${key}`), (b) => ({ kind: 'get', value: b.value }));
        } else {
          const compare: TxnCompare[] = [{ key, target: 'revision', op: '!=', value: 0 }];
          const success: TxnOp[] = key === other ? [{ put: { key, value } }] : [{ put: { key: other, value } }, { get: { key } }];
          const failure: TxnOp[] = [];
          if (key !== other) stats.txnsAcrossShards += 1;
          await call(
            clientId,
            { kind: 'txn', compare, success, failure },
            () => api('POST', `/v1/keyspaces/${KS}/txn`, { compare, success, failure }),
            (b) => ({ kind: 'txn', succeeded: b.succeeded, gets: b.results.filter((r: any) => 'key' in r).map((r: any) => (r.found === false ? null : r.value)) }),
          );
        }
      }
    };

    const chaos = async (): Promise<void> => {
      for (let round = 0; Date.now() < deadline - 800; round++) {
        const shard = (n: number) => `${KS}_s${String(n % SHARDS).padStart(4, '0')}`;
        const leaderOf = async (stream: string): Promise<number | null> => (await api('GET', `/v1/streams/${stream}/status`)).body?.leader_id ?? null;
        switch (round % 4) {
          case 0: {
            // The leaders of two shards crash at once.
            for (const s of [shard(round), shard(round + 1)]) {
              const leader = await leaderOf(s);
              if (leader !== null) await api('POST', `/v1/streams/${s}/chaos`, { action: 'crash', replica: leader, down_ms: 300 }, admin);
            }
            break;
          }
          case 1: {
            // Two shards' leaders cut off from their followers.
            for (const s of [shard(round), shard(round + 2)]) {
              const leader = await leaderOf(s);
              if (leader !== null) await api('POST', `/v1/streams/${s}/chaos`, { action: 'partition', groups: [[leader], [1, 2, 3].filter((x) => x !== leader)] }, admin);
            }
            break;
          }
          case 2: {
            // The catalog's leader cut off (routers keep their cached maps; a refresh waits for a new catalog leader).
            const leader = await leaderOf('_catalog');
            if (leader !== null) await api('POST', '/v1/streams/_catalog/chaos', { action: 'partition', groups: [[leader], [1, 2, 3].filter((x) => x !== leader)] }, admin);
            break;
          }
          default:
            for (let n = 0; n < SHARDS; n++) await api('POST', `/v1/streams/${shard(n)}/chaos`, { action: 'heal' }, admin);
            await api('POST', '/v1/streams/_catalog/chaos', { action: 'heal' }, admin);
        }
        stats.faults += 1;
        await sleep(350);
      }
      for (let n = 0; n < SHARDS; n++) await api('POST', `/v1/streams/${KS}_s${String(n).padStart(4, '0')}/chaos`, { action: 'heal' }, admin);
      await api('POST', '/v1/streams/_catalog/chaos', { action: 'heal' }, admin);
    };

    await Promise.all([client(0), client(1), client(2), chaos()]);
    // Healed: every key read back (settling any intent a crashed request left) closes the history.
    for (const key of KEYS) {
      const at = tick();
      let res = await api('GET', `/v1/keyspaces/${KS}/kv/${key}`);
      for (let i = 0; i < 5 && res.status === 503; i++) res = await api('GET', `/v1/keyspaces/${KS}/kv/${key}`);
      expect([200, 404]).toContain(res.status);
      history.push({ clientId: 9, input: { kind: 'get', key }, call: at, return: tick(), output: { kind: 'get', value: res.status === 404 ? null : res.body.value } });
    }
    const verdict = checkLinearizability(keyspaceModel, history);
    expect(verdict.ok, verdict.ok ? '' : verdict.explanation).toBe(true);
    expect(history.filter((o) => o.input.kind === 'txn' && o.output !== undefined).length).toBeGreaterThan(5);
    expect(stats.faults).toBeGreaterThan(4);
    expect(history.length).toBeGreaterThan(30);
    expect(stats.txnsAcrossShards).toBeGreaterThan(0);
    expect((await api('DELETE', `/v1/keyspaces/${KS}`, undefined, admin)).body.state).toBe('deleted');
  }, 60_000);
});

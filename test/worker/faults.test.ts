import { describe, expect, it } from 'vitest';
import { type KvInput, type KvOutput, kvModel } from '../../sim/checker/kv-model.ts';
import { type Operation, checkLinearizability } from '../../sim/checker/linearizability.ts';
import { admin, api, crash, eventually, replica, sleep, stableLeader, status, streamConfig } from './helpers.ts';

describe('cluster: duplicated and reordered RPCs', () => {
  const S = 'unreliable';

  it('cluster: unreliable: duplicated and reordered batches between replicas change nothing', async () => {
    const on = await api('POST', `/v1/streams/${S}/chaos`, { action: 'unreliable', duplicate_rate: 0.5, delay_ms_max: 30 }, admin);
    expect(on.status).toBe(200);
    const written = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; i < 8; i++) {
          const key = `c${c}k${i}`;
          const res = await api('PUT', `/v1/streams/${S}/kv/${key}`, { value: key }, { 'idempotency-key': key });
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          written.set(key, res.body.revision);
        }
      }),
    );
    expect(new Set(written.values()).size).toBe(32); // 32 distinct slots: nothing applied twice
    await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin);
    const target = Math.max(...written.values());
    await eventually('replicas converge', async () => (await status(S)).nodes.every((n: any) => n.applied_index >= target));
    const snapshots = await Promise.all(
      streamConfig(S).replicas.map(async (r) => {
        const res = await replica(S, r.id).list({ stream: S, replicaId: r.id }, '', 1000, 'stale', 0);
        return JSON.stringify(res);
      }),
    );
    expect(new Set(snapshots).size).toBe(1);
    const items = (await api('GET', `/v1/streams/${S}/kv?limit=1000`)).body.items;
    expect(items).toHaveLength(32);
    for (const item of items) expect(item.revision).toBe(written.get(item.key));
  });
});

describe('cluster: linearizability through the HTTP API', () => {
  const S = 'linearizable';

  it('cluster: linearizable: concurrent clients under leader crashes and partitions see a linearizable history', async () => {
    const OPS_PER_CLIENT_MAX = 800;
    const FAULT_ROUNDS = 6;
    const faultsDone = { crashes: 0, partitions: 0 };
    await stableLeader(S);
    let clock = 0;
    const history: Operation<KvInput, KvOutput>[] = [];
    const keys = ['a', 'b', 'c'];
    let stop = false;

    const client = async (id: number): Promise<void> => {
      let lastRev = 0;
      for (let n = 0; n < OPS_PER_CLIENT_MAX && !stop; n++) {
        const key = keys[(id + n) % keys.length]!;
        const roll = (id * 31 + n * 17) % 10;
        const value = `c${id}.${n}`;
        const ik = { 'idempotency-key': `lin-${id}-${n}` };
        const call = ++clock;
        if (roll < 4) {
          const input: KvInput = { kind: 'put', key, value };
          const res = await api('PUT', `/v1/streams/${S}/kv/${key}`, { value }, ik);
          record(input, call, res, (b) => ({ kind: 'put', ok: true, revision: b.revision }));
          if (res.status === 200) lastRev = res.body.revision;
        } else if (roll < 7) {
          const input: KvInput = { kind: 'get', key };
          const res = await api('GET', `/v1/streams/${S}/kv/${key}`);
          if (res.status === 200) history.push({ clientId: id, input, call, return: ++clock, output: { kind: 'get', found: true, value: res.body.value, revision: res.body.revision } });
          else if (res.status === 404) history.push({ clientId: id, input, call, return: ++clock, output: { kind: 'get', found: false } });
          // a read that failed (503) constrains nothing
        } else if (roll < 8) {
          const input: KvInput = { kind: 'delete', key };
          const res = await api('DELETE', `/v1/streams/${S}/kv/${key}`, undefined, ik);
          record(input, call, res, (b) => ({ kind: 'delete', deleted: b.deleted, revision: b.revision }));
        } else {
          const input: KvInput = { kind: 'put', key, value, ifRevision: lastRev };
          const res = await api('PUT', `/v1/streams/${S}/kv/${key}`, { value, if_revision: lastRev }, ik);
          record(input, call, res, (b) => ({ kind: 'put', ok: true, revision: b.revision }));
          if (res.status === 409) lastRev = res.body.error.current_revision;
        }
      }

      function record(input: KvInput, call: number, res: { status: number; body: any }, ok: (b: any) => KvOutput): void {
        if (res.status === 200) history.push({ clientId: id, input, call, return: ++clock, output: ok(res.body) });
        else if (res.status === 409) history.push({ clientId: id, input, call, return: ++clock, output: { kind: 'put', ok: false, currentRevision: res.body.error.current_revision } });
        else if (res.status === 503 && res.body.error.code === 'outcome_unknown') history.push({ clientId: id, input, call, return: Number.POSITIVE_INFINITY, output: undefined });
        else if (res.status !== 503) throw new Error(`unexpected answer ${res.status} ${JSON.stringify(res.body)}`);
        // 503 unavailable: the write was never proposed
      }
    };

    const chaos = async (): Promise<void> => {
      const ids = streamConfig(S).replicas.map((r) => r.id);
      for (let round = 0; round < FAULT_ROUNDS; round++) {
        await sleep(100);
        const leader = await stableLeader(S);
        if (round % 2 === 0) {
          await crash(S, leader);
          faultsDone.crashes += 1;
        } else {
          const others = ids.filter((id) => id !== leader);
          await api('POST', `/v1/streams/${S}/chaos`, { action: 'partition', groups: [[leader], others] }, admin);
          faultsDone.partitions += 1;
          await sleep(400);
          await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin);
        }
      }
    };

    const clients = Promise.all([1, 2, 3, 4].map(client));
    await chaos();
    stop = true;
    await clients;
    await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin);

    // The run must have exercised what it claims to.
    expect(faultsDone).toEqual({ crashes: FAULT_ROUNDS / 2, partitions: FAULT_ROUNDS / 2 });
    expect(history.length).toBeGreaterThan(100);
    const verdict = checkLinearizability(kvModel, history);
    expect(verdict.ok, verdict.ok ? '' : verdict.explanation).toBe(true);
    // A budget, not a timed assertion: about 40 s on an idle 2-core machine (the checker's share grows with
    // the history), over 60 s when other test files or engineers load both cores.
  }, 180_000);
});

import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { admin, api, crash, eventually, put, replica, stableLeader, status } from './helpers.ts';

const S = 'truncation';

async function storedEntries(id: number): Promise<number> {
  return runInDurableObject(replica(S, id), (_instance, state) => {
    return state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM ep_entries').one().n;
  });
}

describe('cluster: log truncation, snapshots and rebuild (HTTP API)', () => {
  it('truncation: first_index moves and the stored log stays bounded under a write load', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    let last = 0;
    for (let i = 0; i < 120; i++) last = await put(S, `k${i % 9}`, `v${i}`);
    await eventually('every replica applied the load', async () => (await status(S)).nodes.every((n: any) => n.applied_index >= last));
    const s = await status(S);
    for (const n of s.nodes) expect(n.first_index, `replica ${n.node_id}`).toBeGreaterThan(80);
    for (const id of [1, 2, 3]) expect(await storedEntries(id)).toBeLessThanOrEqual(20 + 5 + 5);
  });

  it('rebuild: a replica that was down while the log was truncated comes back through a snapshot', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    await api('POST', `/v1/streams/${S}/chaos`, { action: 'crash', replica: 3, down_ms: 800 }, admin);
    let last = 0;
    for (let i = 0; i < 80; i++) last = await put(S, `r${i % 4}`, `after${i}`);
    await eventually('replica 3 is back and caught up', async () => {
      const n = (await status(S)).nodes.find((x: any) => x.node_id === 3);
      return n.applied_index >= last;
    });
    const got = await replica(S, 3).get({ stream: S, replicaId: 3 }, 'r3', 'stale', 0);
    expect(got).toMatchObject({ kind: 'ok', value: { key: 'r3', value: 'after79' } });
  });

  it('truncation: an operator can snapshot and truncate every replica now', async () => {
    await put(S, 'one-more', 'x');
    const res = await api('POST', `/v1/streams/${S}/snapshot`, {}, admin);
    expect(res.status).toBe(200);
    expect(res.body.not_reached).toEqual([]);
    expect(Object.keys(res.body.first_index)).toEqual(['1', '2', '3']);
    expect((await api('POST', `/v1/streams/${S}/snapshot`, {}, { authorization: '' })).status).toBe(401);
  });

  it('truncation: a log read from a truncated slot is 410 compacted with first_index, and refused records stay unreadable in the retained log after a restart', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    const gone = await api('GET', `/v1/streams/${S}/log?from=1`);
    expect(gone.status).toBe(410);
    expect(gone.body.error).toMatchObject({ code: 'compacted', first_index: expect.any(Number) });
    const first = gone.body.error.first_index as number;
    expect(first).toBeGreaterThan(1);
    expect((await api('GET', `/v1/streams/${S}/log?from=${first}`)).status).toBe(200);

    // A record and a refused one (its key was used for a put), then a snapshot: both slots are in the retained log.
    const kept = await api('POST', `/v1/streams/${S}/log`, { data: 'kept' });
    await api('PUT', `/v1/streams/${S}/kv/claimed`, { value: 'v' }, { 'idempotency-key': 'claimed' });
    expect((await api('POST', `/v1/streams/${S}/log`, { data: 'refused' }, { 'idempotency-key': 'claimed' })).status).toBe(422);
    await put(S, 'after', 'x');
    expect((await api('POST', `/v1/streams/${S}/snapshot`, {}, admin)).status).toBe(200);
    const expected = [{ index: kept.body.index, data: 'kept' }];
    expect((await api('GET', `/v1/streams/${S}/log?from=${kept.body.index}`)).body.entries).toEqual(expected);
    // Restarted, every replica replays only what follows its snapshot: the refusal must come from storage.
    for (const id of [1, 2, 3]) await crash(S, id);
    const after = await eventually('the log answers after the restart', async () => {
      const res = await api('GET', `/v1/streams/${S}/log?from=${kept.body.index}`);
      return res.status === 200 && res.body;
    });
    expect(after.entries).toEqual(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { admin, api, crash, eventually, put, replica, stableLeader, status } from './helpers.ts';

const S = 'quiet';

async function rpcsSent(): Promise<number> {
  let total = 0;
  for (const id of [1, 2, 3]) {
    const res = await replica(S, id).metrics({ stream: S, replicaId: id });
    if (res.kind !== 'ok') throw new Error(`metrics of ${id}: ${JSON.stringify(res)}`);
    total += res.metrics.rpcs_sent;
  }
  return total;
}

describe('cluster: quiescence (HTTP API)', () => {
  it('quiescence: an idle stream stops sending RPCs and the next write wakes it', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    await put(S, 'k', 'v1');
    await eventually('every replica quiet', async () => (await status(S)).nodes.every((n: any) => n.quiescent === true));
    const before = await rpcsSent();
    await new Promise((resolve) => setTimeout(resolve, 1000)); // 25 heartbeat intervals of silence
    expect(await rpcsSent()).toBe(before);
    // Quiet is not blocked: the status says writes flow, and a minority force-start is refused as on a busy stream.
    expect((await status(S)).writes_blocked).toBeNull();
    const forced = await api('PUT', `/v1/streams/${S}/work-mode`, { mode: 'minority', replicas: [3], vote_num: 1 }, admin);
    expect(forced.status).toBe(409);
    expect(forced.body.error).toMatchObject({ code: 'quorum_available', message: expect.stringContaining('quiet') });
    expect((await status(S)).work_mode).toBe('normal');
    expect(await put(S, 'k', 'v2')).toBeGreaterThan(0);
    expect((await status(S)).leader_id).toBe(1);
  });

  it('quiescence: replicas evicted while quiet come back quiet: the next write needs no election', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    await put(S, 'k', 'v1');
    await eventually('every replica quiet', async () => (await status(S)).nodes.every((n: any) => n.quiescent === true));
    const term = (await status(S)).term;
    for (const id of [1, 2, 3]) await crash(S, id); // what workerd does to idle objects
    expect(await put(S, 'k', 'v2')).toBeGreaterThan(0);
    const after = await status(S);
    expect(after.leader_id).toBe(1);
    expect(after.term).toBe(term); // the same ballot: no election happened
  });
});

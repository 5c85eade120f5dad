import { describe, expect, it } from 'vitest';
import { admin, api, eventually, put, replica, stableLeader, status } from './helpers.ts';

describe('cluster: priority (HTTP API)', () => {
  const S = 'priority';

  it('cluster: priority: the highest priority leads; a chaos crash of it elects the next-highest; it takes over again on return', async () => {
    await eventually('replica 1 (priority 3) leads', async () => (await stableLeader(S)) === 1);
    const before = await put(S, 'before', 'b');
    // Down for a second: long enough to see the stand-in, as a real outage would be.
    const crash = await api('POST', `/v1/streams/${S}/chaos`, { action: 'crash', replica: 1, down_ms: 1000 }, admin);
    expect(crash).toEqual({ status: 200, body: { crashed: 1, down_ms: 1000 } });
    // Replica 2 (priority 2) outranks replica 3 (priority 1) as the stand-in.
    await eventually('replica 2 stands in', async () => {
      const s = await status(S);
      return s.leader_id === 2 && s.nodes.find((n: any) => n.node_id === 1).role === 'unreachable';
    });
    const during = await put(S, 'during', 'd');
    // Replica 1 restarts from storage on its next alarm, catches up, and the stand-in hands over.
    await eventually('fail-back to replica 1', async () => (await stableLeader(S)) === 1);
    const got = await api('GET', `/v1/streams/${S}/kv/during`);
    expect(got.body).toEqual({ key: 'during', value: 'd', revision: during });
    expect((await api('GET', `/v1/streams/${S}/kv/before`)).body.revision).toBe(before);
  });
});

describe('cluster: roles (HTTP API)', () => {
  const S = 'roles';

  it('cluster: roles: status shows roles, groups, weights and priorities; a logger keeps no data, a passive replica serves stale reads', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    const rev = await put(S, 'k', 'v');
    await eventually('everyone has it', async () => (await status(S)).nodes.every((n: any) => n.commit_index >= rev));
    const s = await status(S);
    expect(s.nodes.map((n: any) => [n.node_id, n.role, n.region, n.priority, n.weight, n.group])).toEqual([
      [1, 'leader', 'wnam', 3, 1, 1],
      [2, 'follower', 'weur', 2, 2, 2],
      [3, 'logger', 'apac', 0, 1, 3],
      [4, 'passive', 'eeur', 0, 1, 2],
    ]);
    expect(s.policy).toBe('weight 3 of 4 to decide, 3 to elect');
    expect(s.nodes.find((n: any) => n.node_id === 3).applied_index).toBeNull(); // a logger applies nothing
    const logger = await replica(S, 3).get({ stream: S, replicaId: 3 }, 'k', 'stale', 0);
    expect(logger).toEqual({ kind: 'unavailable' });
    await eventually('the passive replica applied it', async () => {
      const res = await replica(S, 4).get({ stream: S, replicaId: 4 }, 'k', 'stale', 0);
      return res.kind === 'ok' && res.value?.value === 'v';
    });
  });
});

describe('cluster: policy (HTTP API)', () => {
  const S = 'policy';

  it('cluster: policy: cut off from the required region, writes wait and the status says why; healed, they complete', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    await put(S, 'before', '1');
    await api('POST', `/v1/streams/${S}/chaos`, { action: 'partition', groups: [[2], [1, 3]] }, admin);
    await eventually('the status says why writes are blocked', async () => {
      const s = await status(S);
      return s.leader_id === 1 && s.writes_blocked === 'no acceptor of region weur (replicas 2)';
    });
    let answered: { status: number; body: any } | null = null;
    const pending = api('PUT', `/v1/streams/${S}/kv/blocked`, { value: 'x' }, { 'idempotency-key': 'blocked-1' }).then((r) => (answered = r));
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(answered).toBeNull(); // 1 and 3 are a majority, but the policy needs weur
    await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin);
    await pending;
    expect(answered!.status).toBe(200);
    expect((await api('GET', `/v1/streams/${S}/kv/blocked`)).body.value).toBe('x');
    expect((await status(S)).writes_blocked).toBeNull();
  });
});

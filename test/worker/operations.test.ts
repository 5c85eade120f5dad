import { describe, expect, it } from 'vitest';
import { admin, api, eventually, put, stableLeader, status } from './helpers.ts';

const S = 'operations';

describe('operations: switchover, step-down, run mode, promote (HTTP API)', () => {
  it('operations: a switchover moves leadership to the named replica, keeps every write, and sticks', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    const before = await put(S, 'before-switchover', 'b');
    const res = await api('POST', `/v1/streams/${S}/switchover`, { target: 3 }, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ leader_id: 3, changed: true });
    expect((await api('GET', `/v1/streams/${S}/kv/before-switchover`)).body.revision).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await status(S)).leader_id).toBe(3); // fail-back to priority 3 waits for the next election
  });

  it('operations: a switchover to an unknown replica, with a malformed body, or without the token is refused', async () => {
    expect((await api('POST', `/v1/streams/${S}/switchover`, { target: 3 }, { authorization: '' })).status).toBe(401);
    expect((await api('POST', `/v1/streams/${S}/switchover`, { target: 3 })).status).toBe(403); // the tests' writer token: no admin grant
    const unknown = await api('POST', `/v1/streams/${S}/switchover`, { target: 9 }, admin);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'invalid_target', message: 'replica 9 is not a member of this stream' });
    expect((await api('POST', `/v1/streams/${S}/switchover`, { target: 'three' }, admin)).status).toBe(400);
  });

  it('operations: a switchover whose target is down for the first attempt is repeated and lands once it is back', async () => {
    // The previous switchover's leader stays (an operator's choice does not fail back): hand to another.
    const target = (await stableLeader(S)) === 2 ? 1 : 2;
    // One attempt lasts 4 election timeouts (800 ms here): the target is down for longer, so the first
    // attempt fails and only a repeat can bring it to lead.
    const down = await api('POST', `/v1/streams/${S}/chaos`, { action: 'crash', replica: target, down_ms: 1200 }, admin);
    expect(down.status, JSON.stringify(down.body)).toBe(200);
    const res = await api('POST', `/v1/streams/${S}/switchover`, { target, timeout_ms: 10_000 }, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ leader_id: target, changed: true });
    expect(res.body.took_ms).toBeGreaterThan(800); // it did not land in the first attempt
  });

  it('operations: the leader steps down on request in favour of the best other replica', async () => {
    const leader = await stableLeader(S);
    const res = await api('POST', `/v1/streams/${S}/step-down`, {}, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.previous_leader_id).toBe(leader);
    expect(res.body.leader_id).not.toBe(leader);
  });

  it('operations: in manual run mode nobody campaigns; an operator promotes a replica; automatic restores priorities', async () => {
    const manual = await api('PUT', `/v1/streams/${S}/run-mode`, { mode: 'manual' }, admin);
    expect(manual.body).toEqual({ run_mode: 'manual', not_reached: [] });
    expect((await status(S)).run_mode).toBe('manual');
    const promote = await api('POST', `/v1/streams/${S}/replicas/2/campaign`, {}, admin);
    expect(promote.body).toMatchObject({ leader_id: 2, elected: true });
    await put(S, 'manual-mode', 'm');
    const auto = await api('PUT', `/v1/streams/${S}/run-mode`, { mode: 'automatic' }, admin);
    expect(auto.body).toEqual({ run_mode: 'automatic', not_reached: [] });
    await eventually('fail-back to replica 1', async () => (await stableLeader(S)) === 1);
    expect((await api('GET', `/v1/streams/${S}/kv/manual-mode`)).body.value).toBe('m');
  });
});

describe('operations: health checks for load balancers', () => {
  it('health: leader, replica (with lag) and liveness answer 200 or 503', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    await put(S, 'health', 'h');
    expect((await api('GET', `/v1/streams/${S}/replicas/1/leader`)).status).toBe(200);
    const notLeader = await api('GET', `/v1/streams/${S}/replicas/2/leader`);
    expect(notLeader.status).toBe(503);
    expect(notLeader.body.error.code).toBe('not_leader');
    await eventually('replica 2 is a replica within lag 0', async () => (await api('GET', `/v1/streams/${S}/replicas/2/replica?lag=0`)).status === 200);
    expect((await api('GET', `/v1/streams/${S}/replicas/1/replica`)).status).toBe(503); // the leader is not a replica
    expect((await api('GET', `/v1/streams/${S}/replicas/3/health`)).body).toMatchObject({ node_id: 3, alive: true });
    expect((await api('GET', `/v1/streams/${S}/replicas/7/health`)).status).toBe(404);
    await api('POST', `/v1/streams/${S}/chaos`, { action: 'crash', replica: 3, down_ms: 1000 }, admin);
    const down = await api('GET', `/v1/streams/${S}/replicas/3/health`);
    expect(down.status).toBe(503);
  });

  it('lists every stream with its leader', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    // The list asks every replica of every stream (one second each); the first call wakes streams this file never used.
    const row = await eventually('the stream listed with its leader', async () => {
      const res = await api('GET', '/v1/streams');
      expect(res.status).toBe(200);
      const found = res.body.streams.find((s: any) => s.name === S);
      return found?.leader_id === 1 && found;
    }, 30_000); // under a loaded machine the fast test timings can cost this stream an election first
    expect(row).toEqual({ name: S, kind: 'configured', replicas: [1, 2, 3], leader_id: 1, leader_region: 'wnam' });
  });
});

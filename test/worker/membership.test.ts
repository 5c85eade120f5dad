import { describe, expect, it } from 'vitest';
import { admin, api, eventually, put, stableLeader, status } from './helpers.ts';

const S = 'membership';

const members = async (): Promise<any> => {
  const res = await api('GET', `/v1/streams/${S}/members`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};

describe('membership: online changes through the HTTP API', () => {
  it('membership: a new replica joins as a learner, catches up, is promoted, and holds every write', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    let last = 0;
    for (let i = 0; i < 20; i++) last = await put(S, `k${i}`, `v${i}`);
    const res = await api('POST', `/v1/streams/${S}/members`, { id: 4, region: 'eeur', priority: 1 }, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ member: 4, role: 'follower', policy: 'weight 3 of 4 to decide, 3 to elect' });
    expect(res.body.members).toContainEqual({ node_id: 4, region: 'eeur', role: 'follower', priority: 1, weight: 1, group: 0, incarnation: 1 });
    expect(res.body.configuration_index).toBeGreaterThan(last);
    const after = await put(S, 'after-join', 'x');
    // The status lists the new replica, and it applies what the others do.
    const node4 = await eventually('replica 4 applied the latest write', async () => {
      const n = (await status(S)).nodes.find((x: any) => x.node_id === 4);
      return n && n.applied_index >= after ? n : undefined;
    });
    expect(node4).toMatchObject({ region: 'eeur', role: 'follower', healthy: true });
    expect((await members()).members.map((m: any) => m.node_id)).toEqual([1, 2, 3, 4]);
  });

  it('membership: bad requests and unsafe changes are refused with a reason, and nothing changes', async () => {
    const before = await members();
    const cases: [string, string, unknown, number, string][] = [
      ['POST', `/v1/streams/${S}/members`, { id: 2, region: 'weur' }, 409, 'member_exists'],
      ['POST', `/v1/streams/${S}/members`, { id: 5, region: 'mars' }, 400, 'invalid_request'],
      ['POST', `/v1/streams/${S}/members`, { id: 5, region: 'weur', role: 'leader' }, 400, 'invalid_request'],
      ['PATCH', `/v1/streams/${S}/members/9`, { priority: 1 }, 404, 'member_not_found'],
      ['PATCH', `/v1/streams/${S}/members/2`, {}, 400, 'invalid_request'],
      ['PATCH', `/v1/streams/${S}/members/2`, { role: 'logger' }, 422, 'invalid_change'],
      ['PATCH', `/v1/streams/${S}/members/2`, { weight: 0 }, 400, 'invalid_request'],
      ['DELETE', `/v1/streams/${S}/members/x`, undefined, 400, 'invalid_request'], // ids are plain decimal digits
      ['DELETE', `/v1/streams/${S}/members/0x1`, undefined, 400, 'invalid_request'], // not read as 1
      ['DELETE', `/v1/streams/${S}/members/9`, undefined, 404, 'member_not_found'],
    ];
    for (const [method, path, body, code, error] of cases) {
      const res = await api(method, path, body, admin);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(code);
      expect(res.body.error.code).toBe(error);
    }
    expect((await api('POST', `/v1/streams/${S}/members`, { id: 5, region: 'weur' }, { authorization: '' })).status).toBe(401);
    expect((await api('DELETE', `/v1/streams/${S}/members/2`, undefined, { authorization: '' })).status).toBe(401);
    expect(await members()).toEqual(before);
  });

  it('membership: a priority change moves leadership to the new top priority', async () => {
    const res = await api('PATCH', `/v1/streams/${S}/members/4`, { priority: 9 }, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.members).toContainEqual(expect.objectContaining({ node_id: 4, priority: 9 }));
    await eventually('replica 4 leads by fail-back', async () => (await stableLeader(S)) === 4);
  });

  it('membership: a replica rebuilt in place gets a new incarnation, catches up from the leader and takes its role back', async () => {
    const leader = await stableLeader(S);
    const target = [1, 2, 3].find((id) => id !== leader && id !== 4)!;
    const res = await api('POST', `/v1/streams/${S}/replicas/${target}/rebuild`, undefined, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ rebuilt: target, incarnation: 2, role: 'follower' });
    expect(res.body.members).toContainEqual(expect.objectContaining({ node_id: target, role: 'follower', incarnation: 2 }));
    const rev = await put(S, 'after-rebuild', 'r');
    const node = await eventually('the rebuilt replica applied the latest write', async () => {
      const n = (await status(S)).nodes.find((x: any) => x.node_id === target);
      return n && n.applied_index >= rev ? n : undefined;
    });
    expect(node).toMatchObject({ role: 'follower', healthy: true });
    // Its state came back whole from the leader (a snapshot and the log tail).
    const stale = await eventually('a stale read answers k19', async () => {
      const r = await api('GET', `/v1/streams/${S}/kv/k19?consistency=stale`);
      return r.status === 200 ? r.body : undefined;
    });
    expect(stale.value).toBe('v19');
  });

  it('membership: removing the leader hands leadership over first; the stream goes on without it', async () => {
    const res = await api('DELETE', `/v1/streams/${S}/members/4`, undefined, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ removed: 4, policy: 'weight 2 of 3 to decide, 2 to elect' });
    expect(res.body.leader_id).not.toBe(4);
    expect(res.body.members.map((m: any) => m.node_id)).toEqual([1, 2, 3]);
    const rev = await put(S, 'after-removal', 'y');
    const st = await status(S);
    expect(st.nodes.map((n: any) => n.node_id)).toEqual([1, 2, 3]);
    expect(st.commit_index).toBeGreaterThanOrEqual(rev);
    expect((await api('GET', `/v1/streams/${S}/kv/k19`)).body.value).toBe('v19');
  });
});

import { describe, expect, it } from 'vitest';
import { admin, api, eventually, put, stableLeader, status } from './helpers.ts';

const S = 'workmode';

describe('work mode: minority force-start and rebuild (HTTP API)', () => {
  it('work mode: refused while a leader can decide, and with bad bodies; rebuild refuses a replica that is not a member', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    const cases: [unknown, number, string][] = [
      [{ mode: 'minority', replicas: [3], vote_num: 1 }, 409, 'quorum_available'],
      [{ mode: 'minority', replicas: [3], vote_num: 2 }, 400, 'invalid_request'],
      [{ mode: 'minority', replicas: [7], vote_num: 1 }, 400, 'invalid_request'],
      [{ mode: 'minority', replicas: [], vote_num: 1 }, 400, 'invalid_request'],
      // Not a majority of the survivors: two of them could each decide alone (each survivor counts once).
      [{ mode: 'minority', replicas: [1, 2, 3], vote_num: 1 }, 422, 'invalid_change'],
      [{ mode: 'minority', replicas: [2, 3, 3], vote_num: 1 }, 422, 'invalid_change'],
      [{ mode: 'emergency' }, 400, 'invalid_request'],
    ];
    for (const [body, code, error] of cases) {
      const res = await api('PUT', `/v1/streams/${S}/work-mode`, body, admin);
      expect(res.status, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(code);
      expect(res.body.error.code).toBe(error);
    }
    expect((await api('PUT', `/v1/streams/${S}/work-mode`, { mode: 'normal' }, { authorization: '' })).status).toBe(401);
    const rebuild = await api('POST', `/v1/streams/${S}/replicas/9/rebuild`, {}, admin);
    expect(rebuild.status).toBe(404);
    expect(rebuild.body.error.code).toBe('member_not_found');
    expect((await status(S)).work_mode).toBe('normal');
  });

  it('work mode: the survivor of a lost majority goes on alone; the lost replicas return fenced, are rebuilt, and take its history', async () => {
    await eventually('replica 1 leads', async () => (await stableLeader(S)) === 1);
    await put(S, 'before', 'b');
    // Replicas 1 and 2 are lost (for 3 s, as far as this test is concerned).
    for (const replica of [1, 2]) await api('POST', `/v1/streams/${S}/chaos`, { action: 'crash', replica, down_ms: 3000 }, admin);
    await eventually('no leader can decide', async () => (await status(S)).writes_blocked !== null);
    const forced = await api('PUT', `/v1/streams/${S}/work-mode`, { mode: 'minority', replicas: [3], vote_num: 1 }, admin);
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body).toMatchObject({ work_mode: 'minority', replicas: [3], vote_num: 1, epoch: 1, not_reached: [] });
    await eventually('replica 3 leads alone', async () => (await status(S)).leader_id === 3);
    const st = await status(S);
    expect(st).toMatchObject({ work_mode: 'MINORITY', vote_num: 1, minority_replicas: [3], epoch: 1 });
    await put(S, 'forced', 'f');
    // Back from the outage, 1 and 2 hear from the new epoch and are fenced: they do nothing until rebuilt.
    await eventually(
      'replicas 1 and 2 fenced',
      async () => (await status(S)).nodes.filter((n: any) => n.role === 'fenced').map((n: any) => n.node_id).join() === '1,2',
      15_000,
    );
    // Normal mode is refused while fenced voters would count in its quorums.
    const early = await api('PUT', `/v1/streams/${S}/work-mode`, { mode: 'normal' }, admin);
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('fenced_voters');
    // Rebuilt in place: a new incarnation as a learner, wiped into the new epoch, caught up by replica 3.
    for (const id of [1, 2]) {
      const res = await api('POST', `/v1/streams/${S}/replicas/${id}/rebuild`, undefined, admin);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ rebuilt: id, incarnation: 2, role: 'passive' });
    }
    const normal = await api('PUT', `/v1/streams/${S}/work-mode`, { mode: 'normal' }, admin);
    expect(normal.body).toEqual({ work_mode: 'normal', not_reached: [] });
    for (const id of [1, 2]) {
      // Promoting 1 (a higher priority) starts a fail-back hand-over to it: meanwhile the next change is
      // refused with 409 change_in_progress, or 503 unavailable while the hand-over leaves no leader for a
      // moment, as an operator would see it, and goes through once it is done.
      const res = await eventually(`replica ${id} promoted`, async () => {
        const r = await api('PATCH', `/v1/streams/${S}/members/${id}`, { role: 'follower' }, admin);
        const retry = (r.status === 409 && r.body.error.code === 'change_in_progress') || (r.status === 503 && r.body.error.code === 'unavailable');
        return retry ? undefined : r;
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    await eventually('a settled stream in normal mode', async () => {
      const s = await status(S);
      return s.work_mode === 'normal' && s.leader_id !== null && s.nodes.every((n: any) => n.healthy && n.applied_index === s.commit_index);
    }, 15_000);
    for (const key of ['before', 'forced']) expect((await api('GET', `/v1/streams/${S}/kv/${key}`)).status).toBe(200);
    await put(S, 'normal-again', 'n');
  });
});

import { describe, expect, it } from 'vitest';
import { api, crash, eventually, put, replica, stableLeader, status, streamConfig } from './helpers.ts';

describe('cluster: replication', () => {
  const S = 'replication';

  it('cluster: replication: every acknowledged write reaches every replica', async () => {
    const revisions = new Map<string, number>();
    for (let i = 0; i < 10; i++) revisions.set(`k${i}`, await put(S, `k${i}`, `v${i}`));
    const last = Math.max(...revisions.values());
    await eventually('every replica applied the last write', async () => {
      const s = await status(S);
      return s.nodes.every((n: any) => n.applied_index >= last);
    });
    for (const r of streamConfig(S).replicas) {
      for (const [key, revision] of revisions) {
        const res = await replica(S, r.id).get({ stream: S, replicaId: r.id }, key, 'stale', 0);
        expect(res, `replica ${r.id} ${key}`).toEqual({ kind: 'ok', value: { key, value: `v${key.slice(1)}`, revision, createRevision: revision } }); // each key written once: created then
      }
    }
  });
});

describe('cluster: timers', () => {
  const S = 'replication';

  it('cluster: timers: with no client traffic the leader keeps its term through dozens of alarm-driven heartbeats', async () => {
    const leader = await stableLeader(S);
    const before = await status(S);
    const hb = streamConfig(S).heartbeat_interval_ms;
    // Every heartbeat is a fresh alarm invocation; if they stopped, followers would time out and elect anew.
    await new Promise((resolve) => setTimeout(resolve, 40 * hb));
    const after = await status(S);
    expect(after.leader_id).toBe(leader);
    expect(after.term).toBe(before.term);
    expect(after.nodes.every((n: any) => n.healthy)).toBe(true);
  });
});

describe('cluster: crash', () => {
  const S = 'failover';
  const election = streamConfig(S).election_timeout_ms;

  it('cluster: crash: a new leader is elected after the leader crashes, and no acknowledged write is lost', async () => {
    const written = new Map<string, number>();
    for (let i = 0; i < 8; i++) written.set(`before${i}`, await put(S, `before${i}`, `b${i}`));
    const old = await stableLeader(S);
    const oldTerm = (await status(S)).term as number;
    await crash(S, old);
    // The crash lost its in-memory state: it is back as a follower that knows no leader yet.
    const after = await replica(S, old).status({ stream: S, replicaId: old });
    expect(after).toMatchObject({ kind: 'ok', view: { role: 'follower', leader_id: null } });
    // The crashed replica restarts from storage on its next alarm; whoever wins, the term must move on.
    const start = Date.now();
    await eventually(
      'a leader in a later term',
      async () => {
        const s = await status(S);
        return s.leader_id !== null && s.term > oldTerm;
      },
      20 * election,
    );
    const tookMs = Date.now() - start;
    expect(tookMs).toBeLessThan(20 * election);
    // Every node reports its latest role change with its reason; the leader says why it leads (asked until one
    // leads at the moment of the status call: under load a fail-back to the restarted replica may be under way).
    const why = /^candidate -> leader at tick \d+: promises of [\d, ]+ at \d+\.\d+ are a quorum$/;
    await eventually('the leader reports why it leads', async () => {
      const nodes = (await status(S)).nodes as { role: string; last_transition: string | null }[];
      return nodes.some((n) => n.role === 'leader' && why.test(n.last_transition ?? ''));
    });
    for (let i = 0; i < 4; i++) written.set(`after${i}`, await put(S, `after${i}`, `a${i}`));
    for (const [key, revision] of written) {
      const res = await api('GET', `/v1/streams/${S}/kv/${key}`);
      expect(res.status, key).toBe(200);
      expect(res.body.revision, key).toBe(revision);
    }
  });

  it('cluster: crash: a follower that crashed catches up with what it missed', async () => {
    const leader = await stableLeader(S);
    const follower = streamConfig(S).replicas.find((r) => r.id !== leader)!.id;
    await crash(S, follower);
    let last = 0;
    for (let i = 0; i < 20; i++) last = await put(S, `missed${i}`, `m${i}`);
    await eventually('the follower applied everything', async () => {
      const s = await status(S);
      const n = s.nodes.find((x: any) => x.node_id === follower);
      return n.applied_index >= last && n.commit_index >= last;
    });
    const res = await replica(S, follower).get({ stream: S, replicaId: follower }, 'missed19', 'stale', 0);
    expect(res).toEqual({ kind: 'ok', value: { key: 'missed19', value: 'm19', revision: last, createRevision: last } });
  });
});

describe('cluster: restart', () => {
  const S = 'restart';

  it('cluster: restart: the whole cluster restarts and recovers everything acknowledged', async () => {
    const written = new Map<string, number>();
    for (let i = 0; i < 12; i++) written.set(`key${i}`, await put(S, `key${i}`, `value${i}`));
    const log = await api('POST', `/v1/streams/${S}/log`, { data: 'before-restart' });
    for (const r of streamConfig(S).replicas) await crash(S, r.id);
    for (const [key, revision] of written) {
      const res = await api('GET', `/v1/streams/${S}/kv/${key}`);
      expect(res.body, key).toEqual({ key, value: `value${key.slice(3)}`, revision });
    }
    const entries = (await api('GET', `/v1/streams/${S}/log?from=${log.body.index}&limit=1`)).body.entries;
    expect(entries).toEqual([{ index: log.body.index, data: 'before-restart' }]);
  });
});

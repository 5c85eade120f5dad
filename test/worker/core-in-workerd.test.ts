import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/index.ts';
import { SimCluster } from '../../sim/cluster.ts';

// The pure core must run unchanged inside workerd (no Node APIs, no I/O). If
// this fails while the Node simulator passes, something Node-only crept in.
describe('core: in workerd', () => {
  it('a three-replica cluster elects one leader and decides a write on every replica', () => {
    const cluster = new SimCluster({ replicas: 3, rng: new SeededRng(7) });
    cluster.runUntil(() => cluster.leaderId() !== null, 200, 'a leader');
    const leader = cluster.leaderId()!;
    let revision = 0;
    const res = cluster.propose(leader, { kind: 'put', id: 'w1', key: 'k', value: 'v' }, (o) => {
      if (o.kind === 'applied' && o.result.kind === 'put' && o.result.ok) revision = o.result.revision;
    });
    expect(res.ok).toBe(true);
    cluster.flush();
    cluster.runUntil(() => cluster.converged() && revision > 0, 200, 'the write applied everywhere');
    for (const id of cluster.ids) {
      expect(cluster.replica(id).sm.get('k')).toEqual({ key: 'k', value: 'v', revision, createRevision: revision });
    }
  });
});

describe('worker: entry point', () => {
  it('answers an unknown route with a JSON not_found error', async () => {
    const res = await exports.default.fetch('https://edgepaxos.test/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /nope' } });
  });
});

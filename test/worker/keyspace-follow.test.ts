import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { admin, api, eventually, writer } from './helpers.ts';

/**
 * A keyspace with `leaders: follow` over real Durable Objects: the router
 * sends each write's origin (the region of the shard's replicas nearest the
 * caller's continent, Cloudflare's `request.cf.continent`, given here as the
 * request's `cf`), the shard's leader counts them and moves the preference by
 * a decided configuration change, and fail-back moves the leader.
 */
function putFrom(continent: string, path: string, value: string): Promise<Response> {
  return exports.default.fetch(`https://edgepaxos.test${path}`, {
    method: 'PUT',
    headers: { ...writer, 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
    cf: { continent },
  } as RequestInit);
}

describe('keyspaces: leaders follow the traffic', () => {
  it('moves a shard led from wnam to weur once its writes come from Europe, and shows it in the status', async () => {
    const definition = {
      name: 'follow-eu',
      shards: 1,
      leaders: 'follow',
      tick_ms: 10,
      heartbeat_interval_ms: 40,
      election_timeout_ms: 200,
      quiesce_after_ms: 0,
      replicas: [{ region: 'wnam' }, { region: 'weur' }, { region: 'apac' }],
    };
    expect((await api('POST', '/v1/keyspaces', definition, admin)).status).toBe(201);
    // follow starts as spread: shard 0 prefers the first region.
    const before = await eventually('a leader', async () => {
      const s = await api('GET', '/v1/keyspaces/follow-eu/status');
      return s.body.shards?.[0]?.healthy ? s.body.shards[0] : undefined;
    });
    expect(before).toMatchObject({ leader_region: 'wnam', followed_region: 'wnam' });
    // Writes from Europe, two follower windows of them and more, until the preference has moved.
    let written = 0;
    await eventually(
      'the shard to prefer weur',
      async () => {
        for (let i = 0; i < 16; i++) {
          const res = await putFrom('EU', `/v1/keyspaces/follow-eu/kv/k${written % 8}`, `v${written}`);
          expect(res.status).toBe(200);
          written += 1;
        }
        const s = await api('GET', '/v1/keyspaces/follow-eu/status');
        return s.body.shards[0].followed_region === 'weur' ? s.body.shards[0] : undefined;
      },
      30_000,
    );
    expect(written).toBeGreaterThanOrEqual(128);
    // The preference is a decided configuration: fail-back hands leadership to the replica in weur.
    const after = await eventually('the leader in weur', async () => {
      const s = await api('GET', '/v1/keyspaces/follow-eu/status');
      return s.body.shards[0].leader_region === 'weur' ? s.body.shards[0] : undefined;
    });
    expect(after.followed_region).toBe('weur');
    const stream = await api('GET', '/v1/streams/follow-eu_s0000/status');
    const priority = (region: string): number => stream.body.nodes.find((n: { region: string }) => n.region === region).priority;
    expect(priority('weur')).toBeGreaterThan(priority('wnam'));
    expect(priority('weur')).toBeGreaterThan(priority('apac'));
    // Writes from Europe keep it there; the new leader counts them by origin.
    for (let i = 0; i < 8; i++) expect((await putFrom('EU', `/v1/keyspaces/follow-eu/kv/k${i}`, 'again')).status).toBe(200);
    const counted = await api('GET', '/v1/keyspaces/follow-eu/status');
    expect(counted.body.shards[0]).toMatchObject({ leader_region: 'weur', followed_region: 'weur' });
    expect(counted.body.shards[0].window_writes.weur).toBeGreaterThan(0);
    expect(Object.keys(counted.body.shards[0].window_writes)).toEqual(['weur']);
  });

  it('refuses leaders on a plain stream: it is a keyspace setting', async () => {
    const res = await api('POST', '/v1/streams', { name: 'follow-plain', leaders: 'follow', replicas: [{ id: 1, region: 'wnam' }] }, admin);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/leaders/);
  });
});

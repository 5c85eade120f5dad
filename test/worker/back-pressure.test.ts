import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { admin, api, eventually, replica, stableLeader, writer } from './helpers.ts';

// Stream 'limits' (test-config.ts): queue_max 1, and elections slow enough
// (3 s) that a leader cut off from its followers keeps leading, its one write
// waiting, while the test asks it for another.

const S = 'limits';

describe('back-pressure', () => {
  it('back-pressure: a leader holding queue_max waiting requests answers the next 429 overloaded with Retry-After, and applies nothing of it', async () => {
    const leader = await stableLeader(S, 15_000);
    const others = [1, 2, 3].filter((id) => id !== leader);
    expect((await api('POST', `/v1/streams/${S}/chaos`, { action: 'partition', groups: [[leader], others] }, admin)).status).toBe(200);
    try {
      // A write that cannot be decided while the leader is cut off: it waits at the leader.
      const waiting = api('PUT', `/v1/streams/${S}/kv/first`, { value: '1' });
      await eventually('the first write waits at the leader', async () => {
        const res = await replica(S, leader).status({ stream: S, replicaId: leader });
        return 'view' in res && res.view.pending_requests >= 1;
      });
      const refused = await exports.default.fetch(`https://edgepaxos.test/v1/streams/${S}/kv/second`, {
        method: 'PUT',
        body: JSON.stringify({ value: '2' }),
        headers: writer,
      });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await refused.json()) as any).error.code).toBe('overloaded');
      expect((await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin)).status).toBe(200);
      expect((await waiting).status).toBe(200);
    } finally {
      await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin);
    }
    expect((await api('GET', `/v1/streams/${S}/kv/first`)).body.value).toBe('1');
    expect((await api('GET', `/v1/streams/${S}/kv/second`)).status).toBe(404);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { admin, api, stableLeader } from './helpers.ts';

// Structured logs (one JSON line per notable event): the replicas run in this isolate, so their
// console output can be read here. What each event says is checked in test/host/clocked-host.test.ts.

const S = 'metrics';

function captured(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls.flatMap(([line]) => {
    if (typeof line !== 'string' || !line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe('logs: structured JSON lines', () => {
  afterEach(() => vi.restoreAllMocks());

  it('logs: a request id follows a request from the Worker to the replica that refused it, and an auth refusal is logged by the Worker', async () => {
    await stableLeader(S);
    const spy = vi.spyOn(console, 'log');
    const res = await api('POST', `/v1/streams/${S}/switchover`, { target: 9 }, { ...admin, 'x-request-id': 'req-logs-1' });
    expect(res.status).toBe(400);
    expect(captured(spy)).toContainEqual(
      expect.objectContaining({ level: 'warn', event: 'refused', stream: S, replica: expect.any(Number), term: expect.any(Number), request_id: 'req-logs-1', what: 'switchover', why: expect.stringContaining('replica 9') }),
    );
    const refused = await api('GET', `/v1/streams/${S}/status`, undefined, { authorization: 'Bearer nobody', 'x-request-id': 'req-logs-2' });
    expect(refused.status).toBe(401);
    const auth = captured(spy).find((e) => e.event === 'auth_refused');
    expect(auth).toMatchObject({ level: 'warn', request_id: 'req-logs-2', method: 'GET', path: `/v1/streams/${S}/status`, status: 401, code: 'unauthorized' });
    expect(JSON.stringify(auth)).not.toContain('nobody'); // never the token
  });
});

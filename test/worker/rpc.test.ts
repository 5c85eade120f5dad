import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { api } from './helpers.ts';

// The example consumer (examples/consumer) runs as a second Worker with a real
// service binding to this one's EdgePaxos entrypoint; its tour calls every method.

describe('rpc: another Worker through a service binding', () => {
  it('rpc: the example consumer calls every method through the binding, and errors arrive as EdgePaxosError with their code', async () => {
    const res = await env.CONSUMER!.fetch('http://consumer/tour?stream=rpc');
    expect(res.status).toBe(200);
    const t = (await res.json()) as any;
    expect(t.put).toEqual({ revision: expect.any(Number) });
    expect(t.got).toEqual({ key: t.key, value: 'hello', revision: t.put.revision });
    expect(t.stale === null || t.stale.value === 'hello').toBe(true); // stale: the nearest replica may be behind
    expect(t.conflict).toEqual({ name: 'EdgePaxosError', code: 'revision_mismatch', message: `revision_mismatch: the key's revision is ${t.put.revision}, not ${t.put.revision - 1}` });
    expect(t.second.revision).toBeGreaterThan(t.put.revision);
    expect(t.retried).toEqual(t.second);
    expect(t.listed).toBe(true);
    expect(t.deleted).toEqual({ deleted: true, revision: expect.any(Number) });
    expect(t.gone).toBeNull();
    expect(t.read).toEqual({ entries: [{ index: t.appended.index, data: `visited ${t.key}` }] });
    expect(t.status).toEqual({ stream: 'rpc', leader_id: expect.any(Number), nodes: 3 });
    expect(t.unknownStream).toMatchObject({ name: 'EdgePaxosError', code: 'stream_not_found' });
    expect(t.unknownStream.message).toMatch(/^stream_not_found: /);
    expect(t.badArgument).toMatchObject({ name: 'EdgePaxosError', code: 'invalid_request' });

    // What the binding wrote, the HTTP API reads: one code path behind both.
    const second = await api('GET', `/v1/streams/rpc/log?from=${t.appended.index}&limit=1`);
    expect(second.body.entries).toEqual(t.read.entries);
    expect((await api('GET', `/v1/streams/rpc/kv/${t.key}`)).status).toBe(404);
  });
});

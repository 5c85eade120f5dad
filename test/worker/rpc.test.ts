import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EdgePaxosClient, EdgePaxosError, isEdgePaxosError } from '../../src/client/index.ts';
import { api } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

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
    expect(t.conflict).toEqual({
      name: 'EdgePaxosError',
      code: 'revision_mismatch',
      message: `revision_mismatch: the key's revision is ${t.put.revision}, not ${t.put.revision - 1}`,
      status: 409,
      details: { current_revision: t.put.revision },
    });
    expect(t.second.revision).toBeGreaterThan(t.put.revision);
    expect(t.retried).toEqual(t.second);
    expect(t.listed).toBe(true);
    expect(t.deleted).toEqual({ deleted: true, revision: expect.any(Number) });
    expect(t.gone).toBeNull();
    expect(t.read).toEqual({ entries: [{ index: t.appended.index, data: `visited ${t.key}` }] });
    expect(t.status).toEqual({ stream: 'rpc', leader_id: expect.any(Number), nodes: 3 });
    expect(t.statusAll).toBe('rpc'); // every stream's status, the binding seeing them all
    expect(t.snapshot).toEqual({ stream: 'rpc', slot: expect.any(Number), sha256: 64, bytes: true }); // a backup is a read
    expect(t.metrics).toBe('edgepaxos_stream_has_leader{stream="rpc"} 1');
    expect(t.unknownStream).toMatchObject({ name: 'EdgePaxosError', code: 'stream_not_found' });
    expect(t.unknownStream.message).toMatch(/^stream_not_found: /);
    expect(t.badArgument).toMatchObject({ name: 'EdgePaxosError', code: 'invalid_request' });
    const c = t.coordination;
    expect(c.lease).toEqual({ id: expect.stringMatching(/^[0-9a-f]{16}$/), ttl_ms: 10_000 });
    expect(c.kept).toEqual(c.lease);
    expect(c.leaseInfo).toMatchObject({ id: c.lease.id, keys: [`${t.key}/leased`] });
    expect(c.txn).toEqual({ succeeded: true, revision: expect.any(Number), results: [{ revision: c.txn.revision }, { key: `${t.key}/leased`, value: 'held', revision: c.leased.revision, create_revision: c.leased.revision }] });
    expect(c.watched).toEqual({ type: 'put', key: `${t.key}/config`, value: 'v1', revision: c.txn.revision, create_revision: c.txn.revision });
    expect(c.lock).toEqual({ key: `${t.key}/lock/${c.lease.id}`, revision: expect.any(Number) });
    expect(c.unlocked).toMatchObject({ released: true });
    expect(c.leader).toEqual({ key: c.elected.key, value: 'me', revision: c.elected.revision, mod_revision: c.elected.revision });
    expect(c.proclaimed.revision).toBeGreaterThan(c.elected.revision);
    expect(c.resigned).toMatchObject({ resigned: true });
    expect(c.revoked).toEqual({ revoked: true, keys: [`${t.key}/leased`], revision: expect.any(Number) });
    expect(c.deletedAt).toEqual({ deleted: true, revision: expect.any(Number) });
    expect(c.noLease).toMatchObject({ name: 'EdgePaxosError', code: 'lease_not_found', status: 404 });

    // What the binding wrote, the HTTP API reads: one code path behind both.
    const second = await api('GET', `/v1/streams/rpc/log?from=${t.appended.index}&limit=1`);
    expect(second.body.entries).toEqual(t.read.entries);
    expect((await api('GET', `/v1/streams/rpc/kv/${t.key}`)).status).toBe(404);
  });
});

describe('client: the typed HTTP client', () => {
  const paxos = new EdgePaxosClient({
    url: 'https://edgepaxos.test',
    token: TEST_TOKENS.writer,
    fetch: (input, init) => exports.default.fetch(input, init),
  });

  it('client: the HTTP client does every data operation and throws EdgePaxosError with the code, as the binding does', async () => {
    const put = await paxos.put('rpc', 'client/x/../y', 'one'); // any key: it travels as a query parameter
    expect(await paxos.get('rpc', 'client/x/../y')).toEqual({ key: 'client/x/../y', value: 'one', revision: put.revision });
    const conflict = await paxos.put('rpc', 'client/x/../y', 'two', { ifRevision: 0 }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(EdgePaxosError);
    expect(conflict).toMatchObject({ name: 'EdgePaxosError', code: 'revision_mismatch', status: 409, details: { current_revision: put.revision } });
    expect(isEdgePaxosError(conflict)).toBe(true);
    const once = { idempotencyKey: 'client-once' };
    const second = await paxos.put('rpc', 'client/z', 'z', once);
    expect(await paxos.put('rpc', 'client/z', 'z', once)).toEqual(second);
    const page = await paxos.list('rpc', { prefix: 'client/', limit: 1 });
    expect(page.items).toHaveLength(1);
    expect((await paxos.list('rpc', { prefix: 'client/', cursor: page.cursor! })).items.map((i) => i.key)).toEqual(['client/z']);
    expect(await paxos.delete('rpc', 'client/z')).toEqual({ deleted: true, revision: expect.any(Number) });
    expect(await paxos.get('rpc', 'client/z')).toBeNull();
    const appended = await paxos.append('rpc', 'client record');
    expect(await paxos.read('rpc', { from: appended.index, limit: 1 })).toEqual({ entries: [{ index: appended.index, data: 'client record' }] });
    expect((await paxos.status('rpc')).stream).toBe('rpc');
    expect(await paxos.metrics()).toMatch(/^edgepaxos_stream_has_leader\{stream="rpc"\} 1$/m);
    const all = await paxos.statusAll();
    expect(all.streams.find((s) => s.name === 'rpc')).toMatchObject({ kind: 'configured', state: 'active', error: null, status: { stream: 'rpc' } });
    expect((await paxos.streams()).streams.some((s) => s.name === 'rpc')).toBe(true);
    await expect(paxos.get('no-such-stream', 'k')).rejects.toMatchObject({ code: 'stream_not_found', status: 404 });
    const anonymous = new EdgePaxosClient({ url: 'https://edgepaxos.test/', fetch: (input, init) => exports.default.fetch(input, init) });
    await expect(anonymous.status('rpc')).rejects.toMatchObject({ name: 'EdgePaxosError', code: 'unauthorized', status: 401 });
  });
});

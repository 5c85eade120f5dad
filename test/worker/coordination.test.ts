import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EdgePaxosClient, type WatchEvent, watchEvents, watchForever } from '../../src/client/index.ts';
import { api, eventually } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

// Transactions, leases, watches, locks and elections through the HTTP API
// and the typed client, on one quiet stream (its first request elects).

const S = 'coord';
const base = `/v1/streams/${S}`;
const paxos = new EdgePaxosClient({ url: 'https://edgepaxos.test', token: TEST_TOKENS.writer, fetch: (input, init) => exports.default.fetch(input, init) });
const teamA = new EdgePaxosClient({ url: 'https://edgepaxos.test', token: TEST_TOKENS.teamA, fetch: (input, init) => exports.default.fetch(input, init) });

/** Read events from a watch until `enough` says so (or fail after `timeoutMs`); the stream is cancelled after. */
async function collect(body: ReadableStream<Uint8Array>, enough: (events: WatchEvent[]) => boolean, timeoutMs = 10_000): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  try {
    for await (const e of watchEvents(body, stop.signal)) {
      events.push(e);
      if (enough(events)) return events;
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  throw new Error(`the watch ended after ${JSON.stringify(events)}`);
}

const changes = (events: WatchEvent[]) => events.filter((e) => e.type === 'put' || e.type === 'delete');

describe('coordination: transactions', () => {
  it('txn: compares then one branch, applied at one revision, with get results and limits refused before anything applies', async () => {
    const a = await api('PUT', `${base}/kv/txn/a`, { value: '1' });
    const ok = await api('POST', `${base}/txn`, {
      compare: [{ key: 'txn/a', target: 'revision', op: '==', value: a.body.revision }],
      success: [{ put: { key: 'txn/b', value: '2' } }, { get: { key: 'txn/a' } }, { get: { key: 'txn/none' } }],
      failure: [{ get: { key: 'txn/a' } }],
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      succeeded: true,
      revision: expect.any(Number),
      results: [{ revision: ok.body.revision }, { key: 'txn/a', value: '1', revision: a.body.revision, create_revision: a.body.revision }, { key: 'txn/none', found: false }],
    });
    const failed = await paxos.txn(S, { compare: [{ key: 'txn/a', target: 'value', op: '==', value: 'other' }], success: [{ delete_prefix: { prefix: 'txn/' } }], failure: [{ delete: { key: 'txn/b' } }] });
    expect(failed).toMatchObject({ succeeded: false, results: [{ deleted: 1 }] });
    expect(await paxos.get(S, 'txn/a')).not.toBeNull();
    const bad = [
      [{ compare: [{ key: 'txn/a', target: 'value', op: '<', value: 'x' }] }, 'invalid_request'],
      [{ success: [{ put: { key: 'x', value: '1' } }, { delete: { key: 'x' } }] }, 'invalid_request'],
      [{ success: Array.from({ length: 129 }, (_, i) => ({ get: { key: `k${i}` } })) }, 'invalid_request'],
      [{ success: [{ frob: { key: 'x' } }] }, 'invalid_request'],
      [{ success: [{ get: { key: '' } }] }, 'invalid_key'],
      [{ success: [{ put: { key: 'x', value: 'v'.repeat(5000) } }] }, 'value_too_large'],
    ] as const;
    for (const [body, code] of bad) expect((await api('POST', `${base}/txn`, body)).body.error.code, JSON.stringify(body)).toBe(code);
    expect((await api('POST', `${base}/txn`, { success: [{ put: { key: 'txn/c', value: '1', lease: '00000000000fffff' } }] })).body.error.code).toBe('lease_not_found');
    expect(await paxos.get(S, 'txn/c')).toBeNull();
  });

  it('txn: every key is checked against the token\'s grants, and a read-only transaction needs only read access', async () => {
    const auth = { authorization: `Bearer ${TEST_TOKENS.teamA}` };
    const outside = await api('POST', '/v1/streams/auth/txn', { success: [{ put: { key: 'team-a/x', value: '1' } }, { get: { key: 'team-b/secret' } }] }, auth);
    expect(outside.status).toBe(403);
    expect(outside.body.error.message).toContain('team-b/secret');
    expect((await api('POST', '/v1/streams/auth/txn', { success: [{ delete_prefix: { prefix: 'team' } }] }, auth)).status).toBe(403);
    expect((await api('POST', '/v1/streams/auth/txn', { success: [{ put: { key: 'team-a/x', value: '1' } }] }, auth)).status).toBe(200);
    const reader = { authorization: `Bearer ${TEST_TOKENS.reader}` };
    expect((await api('POST', '/v1/streams/auth/txn', { success: [{ get: { key: 'team-a/x' } }] }, reader)).status).toBe(200);
    expect((await api('POST', '/v1/streams/auth/txn', { success: [{ put: { key: 'team-a/x', value: '2' } }] }, reader)).status).toBe(403);
  });

  it('delete: if_revision deletes only at that revision', async () => {
    const put = await api('PUT', `${base}/kv/cad`, { value: 'x' });
    const wrong = await api('DELETE', `${base}/kv/cad?if_revision=${put.body.revision - 1}`);
    expect(wrong.status).toBe(409);
    expect(wrong.body.error).toMatchObject({ code: 'revision_mismatch', current_revision: put.body.revision });
    expect(await paxos.delete(S, 'cad', { ifRevision: put.body.revision })).toEqual({ deleted: true, revision: expect.any(Number) });
  });
});

describe('coordination: leases', () => {
  it('leases: granted, kept alive, read with their keys, revoked with their keys deleted', async () => {
    const grant = await api('POST', `${base}/leases`, { ttl_ms: 60_000 });
    expect(grant.status).toBe(201);
    expect(grant.body).toEqual({ id: expect.stringMatching(/^[0-9a-f]{16}$/), ttl_ms: 60_000 });
    const id = grant.body.id as string;
    await paxos.put(S, 'leased/b', '1', { lease: id });
    await paxos.put(S, 'leased/a', '1', { lease: id });
    const info = await paxos.leaseGet(S, id);
    expect(info).toMatchObject({ id, ttl_ms: 60_000, keys: ['leased/a', 'leased/b'] });
    expect(info.remaining_ms).toBeGreaterThan(0);
    expect(info.remaining_ms).toBeLessThanOrEqual(60_000);
    expect(await paxos.leaseKeepAlive(S, id)).toEqual({ id, ttl_ms: 60_000 });
    const revoked = await api('DELETE', `${base}/leases/${id}`);
    expect(revoked.body).toEqual({ revoked: true, keys: ['leased/a', 'leased/b'], revision: expect.any(Number) });
    expect(await paxos.get(S, 'leased/a')).toBeNull();
    for (const [method, path] of [['POST', `${base}/leases/${id}/keepalive`], ['GET', `${base}/leases/${id}`], ['DELETE', `${base}/leases/${id}`]] as const) {
      expect((await api(method, path)).body.error.code).toBe('lease_not_found');
    }
    expect((await api('PUT', `${base}/kv/leased/c`, { value: '1', lease: id })).body.error.code).toBe('lease_not_found');
    expect((await api('POST', `${base}/leases`, { ttl_ms: 999 })).body.error.code).toBe('invalid_request');
    expect((await api('GET', `${base}/leases/not-an-id`)).body.error.code).toBe('invalid_request');
  });

  it('leases: the leader expires a lease its holder stopped keeping alive, deleting its keys, and not before its TTL', async () => {
    const sent = Date.now();
    const { id } = await paxos.leaseGrant(S, 1000);
    await paxos.put(S, 'expiring/k', 'v', { lease: id });
    await eventually('the lease expired and its key was deleted', async () => (await paxos.get(S, 'expiring/k')) === null, 10_000);
    // The rule: never before the grant's send time + TTL (less the drift allowance, 2% of the TTL).
    expect(Date.now() - sent).toBeGreaterThanOrEqual(1000 - 20);
    await expect(paxos.leaseGet(S, id)).rejects.toMatchObject({ code: 'lease_not_found', status: 404 });
  });

  it('leases: a token limited to a key prefix cannot revoke or keep alive a lease holding keys outside it', async () => {
    const { id } = await paxos.leaseGrant('auth', 60_000);
    await paxos.put('auth', 'team-b/held', 'x', { lease: id });
    await expect(teamA.leaseRevoke('auth', id)).rejects.toMatchObject({ code: 'forbidden', status: 403 });
    await expect(teamA.leaseKeepAlive('auth', id)).rejects.toMatchObject({ code: 'forbidden' });
    expect((await teamA.leaseGet('auth', id)).keys).toEqual([]); // keys it may not read are not shown
    expect((await paxos.leaseRevoke('auth', id)).keys).toEqual(['team-b/held']);
  });
});

describe('coordination: watches', () => {
  it('watch: replays from a revision, then streams each change once in revision order, a transaction\'s changes at its revision', async () => {
    const first = await paxos.put(S, 'w/a', '1');
    const body = await paxos.watch(S, { prefix: 'w/', fromRevision: first.revision });
    const t = await paxos.txn(S, { success: [{ put: { key: 'w/b', value: '2' } }, { delete: { key: 'w/a' } }, { put: { key: 'elsewhere', value: '3' } }] });
    await paxos.delete(S, 'w/absent'); // no change: no event
    const last = await paxos.put(S, 'w/c', '4');
    const events = await collect(body, (es) => changes(es).some((e) => e.revision === last.revision));
    expect(changes(events)).toEqual([
      { type: 'put', key: 'w/a', value: '1', revision: first.revision, create_revision: first.revision },
      { type: 'put', key: 'w/b', value: '2', revision: t.revision, create_revision: t.revision },
      { type: 'delete', key: 'w/a', revision: t.revision },
      { type: 'put', key: 'w/c', value: '4', revision: last.revision, create_revision: last.revision },
    ]);
    expect(events.some((e) => e.type === 'progress')).toBe(true);
  });

  it('watch: the raw answer is text/event-stream with ids, a watch ends after max_duration_ms with a progress event, and watchForever reconnects without losing or repeating', async () => {
    const res = await exports.default.fetch(`https://edgepaxos.test${base}/watch?key=wf/k&max_duration_ms=1000&progress_ms=1000`, { headers: { authorization: `Bearer ${TEST_TOKENS.writer}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text(); // ends by itself after a second
    expect(text).toMatch(/^id: \d+\ndata: \{"type":"progress","revision":\d+\}\n\n/);
    expect(text.trimEnd().split('\n\n').at(-1)).toMatch(/"type":"progress"/);

    const stop = new AbortController();
    let reconnects = 0;
    const seen: number[] = [];
    const reader = (async () => {
      for await (const e of watchForever(paxos, S, { key: 'wf/k', maxDurationMs: 1000, progressMs: 1000, signal: stop.signal, onReconnect: () => (reconnects += 1) })) {
        if (e.type === 'put') seen.push(Number(e.value));
        if (seen.length === 6) stop.abort();
      }
    })();
    for (let i = 1; i <= 6; i++) {
      await paxos.put(S, 'wf/k', String(i));
      await new Promise((r) => setTimeout(r, 400));
    }
    await reader;
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(reconnects).toBeGreaterThanOrEqual(1);
  });

  it('watch: needs exactly one of key and prefix, read access to it, and a revision the history still holds', async () => {
    expect((await api('GET', `${base}/watch`)).body.error.code).toBe('invalid_request');
    expect((await api('GET', `${base}/watch?key=a&prefix=b`)).body.error.code).toBe('invalid_request');
    const auth = { authorization: `Bearer ${TEST_TOKENS.teamA}` };
    expect((await api('GET', '/v1/streams/auth/watch?prefix=team-b/', undefined, auth)).status).toBe(403);
    expect((await api('GET', '/v1/streams/auth/watch?prefix=', undefined, auth)).status).toBe(403);
  });
});

describe('coordination: locks and elections', () => {
  it('locks: waiters are served in order with increasing fencing tokens; a waiter that gives up gets lock_held and leaves the queue', async () => {
    const [l1, l2, l3] = await Promise.all([1, 2, 3].map(() => paxos.leaseGrant(S, 60_000)));
    const first = await paxos.lock(S, 'job', { lease: l1!.id });
    expect(first).toEqual({ key: `job/${l1!.id}`, revision: expect.any(Number) });
    const busy = await api('POST', `${base}/locks/job`, { lease: l3!.id, wait_ms: 0 });
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatchObject({ code: 'lock_held', holder: first.key, holder_revision: first.revision });
    const second = paxos.lock(S, 'job', { lease: l2!.id, waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await paxos.unlock(S, 'job', first.key, { revision: first.revision })).toEqual({ released: true, revision: expect.any(Number) });
    const got = await second;
    expect(got.key).toBe(`job/${l2!.id}`);
    expect(got.revision).toBeGreaterThan(first.revision);
    // The waiter that gave up left no key behind; a holder whose lease ends loses the lock.
    expect((await paxos.list(S, { prefix: 'job/' })).items.map((i) => i.key)).toEqual([got.key]);
    await paxos.leaseRevoke(S, l2!.id);
    const third = await paxos.lock(S, 'job', { lease: l3!.id, waitMs: 0 });
    expect(third.revision).toBeGreaterThan(got.revision);
    expect((await api('POST', `${base}/locks/job`, { lease: '00000000000fffff' })).body.error.code).toBe('lease_not_found');
    expect((await api('DELETE', `${base}/locks/job`, { key: 'other/x' })).body.error.code).toBe('invalid_request');
  });

  it('locks: a waiter that waits past its queue re-reads (each ends its watch of the holder) still gets the lock when the holder releases', async () => {
    // Each re-read cancels the watch it waited on; cancelling a stream that crossed Durable Object RPC rejects the
    // read in progress, which once answered the waiter 500 (found running the README's election under wrangler dev).
    const [l1, l2] = await Promise.all([1, 2].map(() => paxos.leaseGrant(S, 60_000)));
    const first = await paxos.lock(S, 'patient', { lease: l1!.id });
    const second = paxos.lock(S, 'patient', { lease: l2!.id, waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 2_500)); // the queue is re-read at least every second here (three election timeouts, at least 1 s)
    await paxos.unlock(S, 'patient', first.key, { revision: first.revision });
    expect(await second).toEqual({ key: `patient/${l2!.id}`, revision: expect.any(Number) });
    await Promise.all([l1, l2].map((l) => paxos.leaseRevoke(S, l!.id)));
  });

  it('elections: campaign, the leader, proclaim, resign, and observing the prefix (a Patroni-like leader key)', async () => {
    const [a, b] = await Promise.all([paxos.leaseGrant(S, 60_000), paxos.leaseGrant(S, 60_000)]);
    const observe = await paxos.watch(S, { prefix: 'pg/' });
    const won = await paxos.campaign(S, 'pg', { lease: a.id, value: 'node-a:5432' });
    expect(await paxos.leader(S, 'pg')).toEqual({ key: won.key, value: 'node-a:5432', revision: won.revision, mod_revision: won.revision });
    const lost = await api('POST', `${base}/elections/pg/campaign`, { lease: b.id, value: 'node-b:5432', wait_ms: 0 });
    expect(lost.body.error.code).toBe('not_elected');
    const proclaimed = await paxos.proclaim(S, 'pg', won.key, won.revision, 'node-a:6432');
    expect((await paxos.leader(S, 'pg'))?.value).toBe('node-a:6432');
    await expect(paxos.proclaim(S, 'pg', won.key, won.revision + 1, 'x')).rejects.toMatchObject({ code: 'not_elected' });
    const waiting = paxos.campaign(S, 'pg', { lease: b.id, value: 'node-b:5432', waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await paxos.resign(S, 'pg', won.key, won.revision)).toMatchObject({ resigned: true });
    const next = await waiting;
    expect(next.revision).toBeGreaterThan(won.revision);
    expect((await paxos.leader(S, 'pg'))?.value).toBe('node-b:5432');
    const seen = await collect(observe, (es) => changes(es).some((e) => e.type === 'delete' && e.key === won.key));
    const bKey = `pg/${b.id}`;
    // The losing campaign joined the queue and left it; the leader key changed hands at the resign.
    expect(changes(seen).map((e) => `${e.type} ${e.key}${e.type === 'put' ? `=${e.value}` : ''}`)).toEqual([
      `put ${won.key}=node-a:5432`,
      `put ${bKey}=node-b:5432`,
      `delete ${bKey}`,
      `put ${won.key}=node-a:6432`,
      `put ${bKey}=node-b:5432`,
      `delete ${won.key}`,
    ]);
    expect(proclaimed.revision).toBeGreaterThan(won.revision);
    await paxos.resign(S, 'pg', next.key, next.revision);
    expect(await paxos.leader(S, 'pg')).toBeNull();
  });
});

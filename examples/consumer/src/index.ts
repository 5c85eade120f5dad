/**
 * A Worker that uses edgepaxos through a service binding: every call is a
 * typed RPC to the `EdgePaxos` entrypoint (see wrangler.toml), routed to the
 * stream's leader and retried there exactly as the HTTP API does.
 *
 *   GET /tour?stream=default   calls every method once and shows what each returned
 */
import type { EdgePaxos } from 'edgepaxos';

interface Env {
  PAXOS: Service<EdgePaxos>;
  STREAM?: string;
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    const stream = url.searchParams.get('stream') ?? env.STREAM ?? 'default';
    if (url.pathname === '/tour') return Response.json(await tour(env.PAXOS, stream));
    return new Response('edgepaxos consumer: GET /tour?stream=default calls every method of the EdgePaxos binding\n');
  },
} satisfies ExportedHandler<Env>;

/** Every method of the binding, once, with the answers (and the errors, as a caller catches them). */
async function tour(paxos: Service<EdgePaxos>, stream: string) {
  const key = `tour/${crypto.randomUUID()}`;
  const put = await paxos.put(stream, key, 'hello');
  const got = await paxos.get(stream, key);
  const stale = await paxos.get(stream, key, { consistency: 'stale' });
  // A compare-and-set against an old revision fails with an EdgePaxosError whose code says why.
  const conflict = await caught(() => paxos.put(stream, key, 'lost', { ifRevision: put.revision - 1 }));
  const once = { ifRevision: put.revision, idempotencyKey: `${key}/second` };
  const second = await paxos.put(stream, key, 'bonjour', once);
  const retried = await paxos.put(stream, key, 'bonjour', once); // a retry: applied once, answered alike
  const listed = await paxos.list(stream, { prefix: 'tour/', limit: 1000 });
  const deleted = await paxos.delete(stream, key);
  const gone = await paxos.get(stream, key);
  const appended = await paxos.append(stream, `visited ${key}`, { idempotencyKey: `${key}/append` });
  const read = await paxos.read(stream, { from: appended.index, limit: 1 });
  const status = await paxos.status(stream);
  const all = await paxos.statusAll();
  const metrics = await paxos.metrics();
  const snapshot = await paxos.snapshot(stream);
  const unknownStream = await caught(() => paxos.get('no-such-stream', key));
  const badArgument = await caught(() => paxos.list(stream, { limit: 0 }));
  const coordination = await coordinate(paxos, stream, key);
  return {
    key,
    put,
    got,
    stale,
    conflict,
    second,
    retried,
    listed: listed.items.some((i) => i.key === key),
    deleted,
    gone,
    appended,
    read,
    status: { stream: status.stream, leader_id: status.leader_id, nodes: status.nodes.length },
    snapshot: { stream: snapshot.stream, slot: snapshot.slot, sha256: snapshot.sha256.length, bytes: snapshot.bytes === snapshot.state.length },
    statusAll: all.streams.find((s) => s.name === stream)?.status?.stream ?? null,
    metrics: metrics.split('\n').find((l) => l.startsWith(`edgepaxos_stream_has_leader{stream="${stream}"}`)) ?? null,
    unknownStream,
    badArgument,
    coordination,
  };
}

/** Transactions, leases, a watch, a lock and an election, through the same binding. */
async function coordinate(paxos: Service<EdgePaxos>, stream: string, key: string) {
  const lease = await paxos.leaseGrant(stream, 10_000);
  const kept = await paxos.leaseKeepAlive(stream, lease.id);
  const leased = await paxos.put(stream, `${key}/leased`, 'held', { lease: lease.id });
  const leaseInfo = await paxos.leaseGet(stream, lease.id);
  // A watch is a stream of Server-Sent Events; start it before the change it should see.
  const watch = await paxos.watch(stream, { key: `${key}/config`, maxDurationMs: 5000 });
  const txn = await paxos.txn(stream, {
    compare: [{ key: `${key}/config`, target: 'revision', op: '==', value: 0 }],
    success: [{ put: { key: `${key}/config`, value: 'v1' } }, { get: { key: `${key}/leased` } }],
  });
  const watched = await firstChange(watch);
  const lock = await paxos.lock(stream, `${key}/lock`, { lease: lease.id });
  const unlocked = await paxos.unlock(stream, `${key}/lock`, lock.key, { revision: lock.revision });
  const elected = await paxos.campaign(stream, `${key}/election`, { lease: lease.id, value: 'me' });
  const leader = await paxos.leader(stream, `${key}/election`);
  const proclaimed = await paxos.proclaim(stream, `${key}/election`, elected.key, elected.revision, 'still me');
  const resigned = await paxos.resign(stream, `${key}/election`, elected.key, elected.revision);
  const revoked = await paxos.leaseRevoke(stream, lease.id);
  const deletedAt = await paxos.delete(stream, `${key}/config`, { ifRevision: txn.revision });
  const noLease = await caught(() => paxos.leaseKeepAlive(stream, lease.id));
  return { lease, kept, leased, leaseInfo, txn, watched, lock, unlocked, elected, leader, proclaimed, resigned, revoked, deletedAt, noLease };
}

/** The first put or delete of a watch's event stream (each event is a `data:` line of JSON). */
async function firstChange(body: ReadableStream<Uint8Array>): Promise<unknown> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      text += decoder.decode(value, { stream: true });
      for (const line of text.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const event = JSON.parse(line.slice(6)) as { type: string };
        if (event.type === 'put' || event.type === 'delete') return event;
      }
    }
  } finally {
    await reader.cancel();
  }
}

/** What a caller sees of a thrown error: `name` is EdgePaxosError, `code` the API's error code, `details` its extra fields. */
async function caught(call: () => Promise<unknown>) {
  try {
    return { returned: await call() };
  } catch (e) {
    const err = e as Error & { code?: unknown; status?: unknown; details?: unknown };
    return { name: err.name, code: err.code, message: err.message, status: err.status, details: err.details };
  }
}

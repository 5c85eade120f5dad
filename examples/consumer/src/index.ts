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
  };
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

import { createRoute, z } from '@hono/zod-openapi';
import type { SnapshotDocument } from '../client/types.ts';
import type { ReplicaId } from '../core/index.ts';
import { type StreamConfig, DefinitionError, clusterConfig, findStream, parseStreamDefinition } from '../host/config.ts';
import { isRpcError } from '../host/replica-object.ts';
import { sha256Hex } from '../host/seed.ts';
import { type VersionedEntry, compareAndSet, dynamicClient, isCreatableName, newIncarnation, readEntry } from './catalog.ts';
import { ApiError } from './errors.ts';
import { authorize } from './grants.ts';
import { type App, adminCaller, group, register, stream } from './route.ts';
import { StreamParams, errors, ok } from './schemas.ts';
import type { Target } from './service.ts';
import type { StreamClient } from './stream-client.ts';

/**
 * Backups and restores (etcdctl snapshot save/restore): a consistent
 * snapshot of a stream's state machine at a decided slot, with that slot and
 * the SHA-256 of the state; and a restore of one into a new stream, whose
 * replicas start from it (host/seed.ts says why that is safe).
 */

/** The largest state a snapshot may hold (it travels in one RPC, and a restore holds it in memory). */
export const SNAPSHOT_STATE_MAX_BYTES = 16 * 1024 * 1024;
/** A seed travels to a replica in pieces of at most this many characters. */
const SEED_PIECE_CHARS = 4 * 1024 * 1024;
export const SNAPSHOT_FORMAT = 'edgepaxos-snapshot';

/** A snapshot document, as a backup answers it and a restore (HTTP body or RPC argument) is checked against. */
export const DocumentSchema = z
  .object({
    format: z.literal(SNAPSHOT_FORMAT),
    version: z.literal(1),
    stream: z.string(),
    slot: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    created_at: z.string(),
    definition: z.looseObject({ replicas: z.array(z.unknown()) }),
    bytes: z.number().int().min(0),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    state: z.string(),
  })
  .strict()
  .openapi('Snapshot', {
    description:
      "A stream's state machine at decided slot `slot`: `state` (the key-value store and its sessions), its size in UTF-8 `bytes` and `sha256`, and the definition of the stream it came from (a restore uses it, under the new name; edit it to place the new stream elsewhere).",
  });

const snapshotRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}/snapshot',
  tags: ['backup'],
  summary: "A consistent snapshot of the stream's state at a decided slot, with a checksum (a backup)",
  middleware: [stream('admin')],
  request: { params: StreamParams },
  responses: {
    200: ok(DocumentSchema, 'The snapshot, streamed'),
    ...errors({ 404: ['stream_not_found'], 413: ['snapshot_too_large'], 503: ['unavailable', 'catalog_unavailable', 'restoring'] }, { 401: ['unauthorized'], 403: ['forbidden', 'admin_disabled'], 500: ['invalid_configuration'] }),
  },
});

const restoreRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/restore',
  tags: ['backup'],
  summary: 'Restore a snapshot into a new stream of this name (created by the restore)',
  description:
    'The body is a snapshot as GET /v1/streams/{stream}/snapshot answers it. 201 once every replica holds it; 202 with `not_reached` while some do not (the stream answers 503 restoring until then): repeat the same request to finish.',
  middleware: [adminCaller],
  bodyLimit: () => 6 * SNAPSHOT_STATE_MAX_BYTES + 64 * 1024,
  request: { params: StreamParams, body: { required: true, content: { 'application/json': { schema: DocumentSchema } } } },
  responses: {
    201: ok(z.looseObject({ name: z.string(), state: z.literal('active'), restored_slot: z.number().int() }).openapi('Restored'), 'Restored: every replica holds the snapshot'),
    202: ok(z.looseObject({ name: z.string(), state: z.literal('restoring'), not_reached: z.array(z.number().int()) }).openapi('Restoring'), 'Some replicas do not hold it yet: repeat the request'),
    ...errors(
      { 400: ['invalid_json', 'invalid_request', 'invalid_snapshot'], 409: ['stream_exists', 'configured_stream'], 413: ['payload_too_large'], 503: ['catalog_unavailable', 'outcome_unknown'] },
      { 401: ['unauthorized'], 403: ['forbidden', 'admin_disabled'], 500: ['invalid_configuration'] },
    ),
  },
});

export function backupRoutes(): App {
  const app = group();
  register(app, snapshotRoute, async (c) => {
    const doc = await snapshotDocument({ env: c.env, principal: c.var.principal, client: c.var.stream });
    return new Response(streamDocument(doc), { headers: { 'content-type': 'application/json; charset=utf-8', 'content-disposition': `attachment; filename="${doc.stream}-${doc.slot}.snapshot.json"` } });
  });
  register(app, restoreRoute, async (c, { params, body }) => {
    const res = await restoreStream(c.env, params.stream, body as unknown as SnapshotDocument, (name) => authorize(c.var.principal, { stream: name, access: 'admin' }));
    return c.json(res, res.state === 'active' ? 201 : 202);
  });
  return app;
}

/** A consistent snapshot of the stream `t` opened: the leader's state machine at a decided slot, checksummed. */
export async function snapshotDocument(t: Target): Promise<SnapshotDocument> {
  authorize(t.principal, { stream: t.client.stream.name, access: 'read' });
  const snap = await t.client.readLinearizable((stub, id, timeoutMs) => stub.snapshotState(id, timeoutMs));
  if (!snap) throw new ApiError(503, 'unavailable', 'the leader keeps no state machine (a logger)');
  const bytes = new TextEncoder().encode(snap.data).length;
  if (bytes > SNAPSHOT_STATE_MAX_BYTES) {
    throw new ApiError(413, 'snapshot_too_large', `the state is ${bytes} bytes; snapshots hold at most ${SNAPSHOT_STATE_MAX_BYTES}`);
  }
  const { restore: _restore, ...definition } = t.client.stream;
  return {
    format: SNAPSHOT_FORMAT,
    version: 1,
    stream: t.client.stream.name,
    slot: snap.slot,
    created_at: new Date().toISOString(),
    definition,
    bytes,
    sha256: await sha256Hex(snap.data),
    state: snap.data,
  };
}

/** The document as JSON, in pieces: the state (most of it) is escaped and sent a piece at a time. */
function streamDocument(doc: SnapshotDocument): ReadableStream<Uint8Array> {
  const { state, ...head } = doc;
  const encoder = new TextEncoder();
  const opening = `${JSON.stringify(head).slice(0, -1)},"state":"`;
  let at = 0;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(opening));
    },
    pull(controller) {
      if (at >= state.length) {
        controller.enqueue(encoder.encode('"}'));
        controller.close();
        return;
      }
      const piece = state.slice(at, at + 256 * 1024);
      at += piece.length;
      controller.enqueue(encoder.encode(JSON.stringify(piece).slice(1, -1)));
    },
  });
}

/** What a restore answers. */
export type RestoreResult =
  | { readonly name: string; readonly state: 'active'; readonly incarnation: string; readonly restored_slot: number; readonly definition: StreamConfig }
  | { readonly name: string; readonly state: 'restoring'; readonly incarnation: string; readonly restored_slot: number; readonly not_reached: ReplicaId[]; readonly message: string };

/**
 * Restore `doc` into a new stream `name`: check it (a corrupted or
 * malformed snapshot changes nothing), record the stream in the catalog as
 * `restoring` with the seed in its definition, seed every bootstrap replica,
 * and mark it `active` once all hold it. Repeating it with the same snapshot
 * resumes an interrupted restore.
 */
export async function restoreStream(env: Cloudflare.Env, name: string, doc: SnapshotDocument, authorizeName: (name: string) => void): Promise<RestoreResult> {
  authorizeName(name);
  const state = await checkedState(doc);
  if (findStream(clusterConfig(env.EDGEPAXOS_CONFIG), name)) throw new ApiError(409, 'configured_stream', `stream '${name}' is configured in EDGEPAXOS_CONFIG; restore into a new name`);
  if (!isCreatableName(name)) throw new ApiError(400, 'invalid_request', `'${name}' cannot be a stream created at run time (names starting with '_' are reserved)`);
  const restore = { slot: doc.slot, sha256: doc.sha256 };
  let definition: StreamConfig;
  try {
    definition = parseStreamDefinition({ ...doc.definition, name, restore });
  } catch (e) {
    if (e instanceof DefinitionError) throw new ApiError(400, 'invalid_snapshot', `the snapshot's definition: ${e.message}`);
    throw e;
  }
  const current = await readEntry(env, name);
  let entry: VersionedEntry;
  if (current && current.entry.state === 'restoring') {
    entry = current;
    const seed = current.entry.definition?.restore;
    if (seed?.sha256 !== doc.sha256 || seed.slot !== doc.slot) {
      throw new ApiError(409, 'stream_exists', `stream '${name}' is being restored from another snapshot (slot ${seed?.slot}, sha256 ${seed?.sha256}); finish that one, or delete the stream`);
    }
  } else if (current && current.entry.state !== 'deleted') {
    throw new ApiError(409, 'stream_exists', `stream '${name}' exists (${current.entry.state}); a snapshot is restored into a new stream`);
  } else {
    const created = { state: 'restoring' as const, incarnation: newIncarnation(), created_at: new Date().toISOString(), definition };
    const revision = await compareAndSet(env, name, created, current?.revision ?? 0);
    if (revision === null) throw new ApiError(409, 'stream_exists', `stream '${name}' was created by another request at the same time; this one changed nothing`);
    entry = { name, entry: created, revision };
  }
  const client = dynamicClient(env, entry);
  const notReached = await seedReplicas(client, state);
  const base = { name, incarnation: entry.entry.incarnation, restored_slot: doc.slot };
  if (notReached.length > 0) {
    return { ...base, state: 'restoring', not_reached: notReached, message: `replicas ${notReached.join(', ')} do not hold the snapshot yet; repeat the restore with the same snapshot to finish` };
  }
  const revision = await compareAndSet(env, name, { ...entry.entry, state: 'active' }, entry.revision);
  if (revision === null) throw new ApiError(409, 'stream_exists', `stream '${name}' changed while it was being restored (deleted?); nothing more was done`);
  return { ...base, state: 'active', definition: entry.entry.definition! };
}

/** The snapshot's state, once its checksum, size and shape are right; 400 invalid_snapshot otherwise. */
async function checkedState(doc: SnapshotDocument): Promise<string> {
  const sha256 = await sha256Hex(doc.state);
  if (sha256 !== doc.sha256) {
    throw new ApiError(400, 'invalid_snapshot', `the snapshot is corrupted: its state's SHA-256 is ${sha256}, not ${doc.sha256} as it says; nothing was changed`);
  }
  const bytes = new TextEncoder().encode(doc.state).length;
  if (bytes !== doc.bytes) throw new ApiError(400, 'invalid_snapshot', `the snapshot's state is ${bytes} bytes, not ${doc.bytes} as it says; nothing was changed`);
  if (bytes > SNAPSHOT_STATE_MAX_BYTES) throw new ApiError(400, 'invalid_snapshot', `the state is ${bytes} bytes; snapshots hold at most ${SNAPSHOT_STATE_MAX_BYTES}`);
  let applied: unknown;
  try {
    applied = (JSON.parse(doc.state) as { appliedIndex?: unknown }).appliedIndex;
  } catch {
    throw new ApiError(400, 'invalid_snapshot', "the snapshot's state is not a key-value state (not JSON); nothing was changed");
  }
  if (applied !== doc.slot) throw new ApiError(400, 'invalid_snapshot', `the snapshot's state was applied through slot ${String(applied)}, not ${doc.slot} as it says; nothing was changed`);
  return doc.state;
}

/** Seed every bootstrap replica (in parallel, each in pieces); the ids of those that do not hold it afterwards. */
async function seedReplicas(client: StreamClient, state: string): Promise<ReplicaId[]> {
  const count = Math.max(1, Math.ceil(state.length / SEED_PIECE_CHARS));
  const notReached: ReplicaId[] = [];
  await Promise.all(
    client.stream.replicas.map(async (r) => {
      const stub = client.stub(r.id);
      for (let index = 0; index < count; index++) {
        const res = await stub.seed(client.identity(r.id), { index, count, data: state.slice(index * SEED_PIECE_CHARS, (index + 1) * SEED_PIECE_CHARS) }).catch(() => null);
        if (!res || isRpcError(res)) {
          notReached.push(r.id);
          return;
        }
        if (res.seeded) return;
      }
      notReached.push(r.id); // every piece sent and still not seeded: cannot happen unless pieces were lost
    }),
  );
  return notReached.sort((a, b) => a - b);
}



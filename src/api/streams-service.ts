import type { StreamDefinition, StreamDeletion, StreamEntry, StreamList } from '../client/types.ts';
import type { ReplicaId } from '../core/index.ts';
import { CATALOG_STREAM, DefinitionError, type StreamConfig, catalogStream, clusterConfig, findStream, parseShardName, parseStreamDefinition, shardStreamName } from '../host/config.ts';
import { isRpcError } from '../host/replica-object.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { type VersionedEntry, compareAndSet, dynamicClient, forgetEntry, isCreatableName, newIncarnation, readEntry, resolveStream, visibleStreams } from './catalog.ts';
import { ApiError } from './errors.ts';
import { type Principal, authorize, mayRead } from './grants.ts';
import { type Keyspace, listKeyspaceEntries, shardClient } from './keyspace-catalog.ts';
import { pickLeader } from './operations-service.ts';
import type { StreamClient } from './stream-client.ts';
import { evenMap } from '../kv/index.ts';

/**
 * The stream collection: list every stream, describe one, create one at run
 * time and delete one, one code path behind the HTTP routes (streams.ts) and
 * the EdgePaxosAdmin entrypoint (admin-rpc.ts). Created streams are recorded
 * in the catalog (see catalog.ts); streams of EDGEPAXOS_CONFIG belong to the
 * deployment and are changed by redeploying. Each function checks the
 * caller's right on the stream's name itself (admin to create or delete, read
 * to describe; the list shows what the caller may read).
 */

/** Attempts of a delete whose catalog entry keeps changing under it. */
const DELETE_ATTEMPTS = 5;

/** Create stream `definition.name` at run time (the definition as `parseDefinition` returns it). */
export async function createStream(env: Cloudflare.Env, principal: Principal, definition: StreamConfig): Promise<StreamEntry> {
  const name = definition.name;
  authorize(principal, { stream: name, access: 'admin' });
  if (findStream(clusterConfig(env.EDGEPAXOS_CONFIG), name)) {
    throw new ApiError(409, 'stream_exists', `stream '${name}' is configured in EDGEPAXOS_CONFIG`);
  }
  const current = await readEntry(env, name);
  if (current && current.entry.state !== 'deleted') throw exists(current);
  const entry = { state: 'active' as const, incarnation: newIncarnation(), created_at: new Date().toISOString(), definition };
  const revision = await compareAndSet(env, name, entry, current?.revision ?? 0);
  if (revision === null) {
    throw new ApiError(409, 'stream_exists', `stream '${name}' was created (or changed) by another request at the same time; this one changed nothing`);
  }
  const created: VersionedEntry = { name, entry, revision };
  // Wake the replicas now (each stores its definition and starts its timers), so the first request finds a leader sooner.
  await dynamicClient(env, created).views(1000);
  return describeEntry(created);
}

/**
 * Delete stream `name` (created at run time), wiping its replicas:
 * `deleted`, or `deleting` with the replicas not reached (repeat the call).
 */
export async function deleteStream(env: Cloudflare.Env, principal: Principal, name: string): Promise<StreamDeletion> {
  authorize(principal, { stream: name, access: 'admin' });
  refuseConfigured(env, name);
  if (!isCreatableName(name)) throw notFound(name);
  for (let attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
    const current = await readEntry(env, name);
    if (!current || current.entry.state === 'deleted') throw notFound(name);
    let deleting = current;
    if (current.entry.state === 'active' || current.entry.state === 'restoring') {
      // Step 1: from this catalog write on, the stream answers 404 and cannot be recreated until it is wiped.
      const entry = { ...current.entry, state: 'deleting' as const };
      const revision = await compareAndSet(env, name, entry, current.revision);
      if (revision === null) continue; // changed under us: look again
      deleting = { name, entry, revision };
    }
    forgetEntry(name);
    const notReached = await wipeReplicas(dynamicClient(env, deleting));
    // Step 2, once every replica has wiped itself: the name is free again. Otherwise it stays
    // `deleting` and the operator repeats the call (and replicas also wipe themselves when a wiped peer tells them).
    if (notReached.length === 0) {
      const { definition: _definition, ...kept } = deleting.entry;
      await compareAndSet(env, name, { ...kept, state: 'deleted', deleted_at: new Date().toISOString() }, deleting.revision);
    }
    return { name, incarnation: deleting.entry.incarnation, state: notReached.length === 0 ? 'deleted' : 'deleting', not_reached: notReached };
  }
  throw new ApiError(409, 'conflict', `stream '${name}' kept changing while it was being deleted; try again`);
}

/** A stream's definition (every default filled in) and where it comes from. */
export async function describeStream(env: Cloudflare.Env, principal: Principal, name: string): Promise<StreamEntry> {
  authorize(principal, { stream: name, access: 'read' });
  const shard = parseShardName(name);
  if (shard) {
    // A keyspace's shard (configured or created at run time): its stream as the keyspace derives it.
    const client = await resolveStream(env, name);
    return { name, kind: 'shard', keyspace: shard.keyspace, shard: shard.shard, definition: client.stream as unknown as StreamDefinition };
  }
  const config = clusterConfig(env.EDGEPAXOS_CONFIG);
  const configured = findStream(config, name);
  if (configured) return { name, kind: 'configured', definition: configured as unknown as StreamDefinition };
  if (name === CATALOG_STREAM) return { name, kind: 'system', definition: catalogStream(config) as unknown as StreamDefinition };
  if (!isCreatableName(name)) throw notFound(name);
  const current = await readEntry(env, name);
  if (!current || current.entry.state === 'deleted') throw notFound(name);
  return describeEntry(current);
}

/** Every stream `principal` may read, with the leader its replicas report. */
export async function listStreams(env: Cloudflare.Env, principal: Principal): Promise<StreamList> {
  const { streams, catalogError } = await visibleStreams(env, principal);
  const rows = streams.map((s) => {
    const extra = s.entry ?? {};
    // A stream being deleted is not asked for a leader: its replicas are wiped or about to be.
    if (!s.client) return Promise.resolve({ name: s.name, kind: s.kind, replicas: s.replicas, leader_id: null, leader_region: null, ...extra });
    return withLeader(s.client, s.kind, extra).catch((err: unknown) => {
      if (s.kind === 'dynamic' && err instanceof ApiError && err.status === 404) return null; // deleted meanwhile
      throw err;
    });
  });
  const shards = await visibleShards(env, principal);
  const shardRows = shards.rows.map((s) => {
    const extra = { keyspace: s.keyspace, shard: s.shard, ...s.entry };
    if (!s.client) return Promise.resolve({ name: s.name, kind: 'shard' as const, replicas: s.replicas, leader_id: null, leader_region: null, ...extra });
    return withLeader(s.client, 'shard', extra).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 404) return null; // its keyspace was deleted meanwhile
      throw err;
    });
  });
  const all = (await Promise.all([...rows, ...shardRows])).filter((s) => s !== null);
  const errors = [catalogError, shards.catalogError].filter((e) => e !== null);
  return { streams: all as unknown as StreamList['streams'], catalog_error: errors.length === 0 ? null : errors.join('; ') };
}

/**
 * The shards of every keyspace whose shard streams `principal` may read
 * (a grant names a shard stream by its name, as for its stream routes):
 * configured keyspaces', then those created at run time, active or being
 * deleted (then not asked anything: their replicas are wiped or about to be);
 * a deleted keyspace has none.
 */
async function visibleShards(env: Cloudflare.Env, principal: Principal): Promise<{ rows: ShardRow[]; catalogError: string | null }> {
  const rows: ShardRow[] = [];
  const add = (ks: Keyspace, entry: Record<string, unknown>, ask: boolean): void => {
    for (let i = 0; i < ks.definition.shards; i++) {
      const name = shardStreamName(ks.name, i);
      if (!mayRead(principal, name)) continue;
      const client = shardClient(env, ks, i);
      rows.push({ name, keyspace: ks.name, shard: i, replicas: client.stream.replicas.map((r) => r.id), client: ask ? client : null, entry });
    }
  };
  for (const k of clusterConfig(env.EDGEPAXOS_CONFIG).keyspaces) add({ name: k.name, kind: 'configured', definition: k, map: evenMap(k.shards) }, {}, true);
  let catalogError: string | null = null;
  try {
    for (const e of await listKeyspaceEntries(env)) {
      const { definition, map } = e.entry;
      if (e.entry.state === 'deleted' || !definition || !map) continue;
      const ks: Keyspace = { name: e.name, kind: 'dynamic', definition, map, incarnation: e.entry.incarnation };
      add(ks, { state: e.entry.state, incarnation: e.entry.incarnation, created_at: e.entry.created_at }, e.entry.state === 'active');
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    catalogError = e.message;
  }
  return { rows, catalogError };
}

interface ShardRow {
  readonly name: string;
  readonly keyspace: string;
  readonly shard: number;
  readonly replicas: readonly ReplicaId[];
  readonly client: StreamClient | null;
  readonly entry: Record<string, unknown>;
}

/** The definition in a request, validated like an entry of EDGEPAXOS_CONFIG's `streams`; 400 naming every problem. */
/** A stream definition is small: its JSON may be up to this many bytes (the HTTP body limit, and RPC's too). */
export const DEFINITION_BYTES_MAX = 16 * 1024;

export function parseDefinition(body: unknown): StreamConfig {
  // The HTTP route's body limit already held; an RPC caller's definition is measured here, so both paths refuse the same.
  const bytes = new TextEncoder().encode(JSON.stringify(body) ?? '').length;
  if (bytes > DEFINITION_BYTES_MAX) {
    throw new ApiError(413, 'payload_too_large', `a stream definition is at most ${DEFINITION_BYTES_MAX} bytes of JSON; this one is ${bytes}`);
  }
  const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined;
  if (typeof body === 'object' && body !== null && 'restore' in body) {
    throw new ApiError(400, 'invalid_request', 'restore: set only by a restore (POST /v1/streams/{stream}/restore with a snapshot)');
  }
  if (typeof body === 'object' && body !== null && 'leaders' in body) {
    throw new ApiError(400, 'invalid_request', "leaders: a keyspace's setting (POST /v1/keyspaces), set on its shards");
  }
  if (typeof name === 'string' && name.startsWith('_')) {
    throw new ApiError(400, 'invalid_request', `name: stream names starting with '_' are reserved for edgepaxos's own streams (such as '${CATALOG_STREAM}')`);
  }
  if (typeof name === 'string' && parseShardName(name)) {
    throw new ApiError(400, 'invalid_request', `name: '${name}' has the form of a keyspace's shard (<keyspace>_sNNNN), which is reserved`);
  }
  try {
    return parseStreamDefinition(body);
  } catch (e) {
    if (e instanceof DefinitionError) throw new ApiError(400, 'invalid_request', e.message);
    throw e;
  }
}

/** Streams of the deployment's configuration (and the catalog) are changed by redeploying, never here. */
function refuseConfigured(env: Cloudflare.Env, name: string): void {
  const config = clusterConfig(env.EDGEPAXOS_CONFIG);
  if (findStream(config, name)) {
    throw new ApiError(409, 'configured_stream', `stream '${name}' is defined in EDGEPAXOS_CONFIG; remove it there and redeploy (its replicas' storage is not deleted by that)`);
  }
  if (name === CATALOG_STREAM) throw new ApiError(409, 'configured_stream', `'${CATALOG_STREAM}' is the stream catalog; it cannot be deleted`);
}

/** Tell every replica to wipe itself; the ids of those that did not confirm (a stream's, or a keyspace shard's). */
export async function wipeReplicas(client: StreamClient): Promise<ReplicaId[]> {
  const timeoutMs = timingWindows(client.stream).destroyWaitMs;
  const notReached: ReplicaId[] = [];
  await Promise.all(
    // Every replica ever known: the bootstrap ones and any added by a membership change.
    client.knownIds().map(async (id) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
      const res = await Promise.race([client.stub(id).destroy(client.identity(id)), timeout]).catch(() => null);
      if (timer !== undefined) clearTimeout(timer);
      if (!res || isRpcError(res)) notReached.push(id);
    }),
  );
  return notReached.sort((a, b) => a - b);
}

/** One row of the stream list: where the stream comes from, its replicas and the leader they report. */
async function withLeader(client: StreamClient, kind: StreamClient['placement']['kind'] | 'shard', extra: Record<string, unknown> = {}) {
  const s = client.stream;
  const views = await client.views(1000);
  // Of replicas that say they lead, the one with the highest term (a deposed leader may not know it yet).
  const leader = pickLeader(views);
  // The members of the newest configuration reported (membership changes live in the log).
  const members = client.members();
  return {
    name: s.name,
    kind,
    replicas: members.map((m) => m.id),
    leader_id: leader,
    leader_region: leader === null ? null : (members.find((m) => m.id === leader)?.region ?? null),
    ...extra,
  };
}

function describeEntry(e: VersionedEntry): StreamEntry {
  return {
    name: e.name,
    kind: 'dynamic',
    state: e.entry.state,
    incarnation: e.entry.incarnation,
    created_at: e.entry.created_at,
    definition: e.entry.definition as unknown as StreamDefinition,
  };
}

function exists(e: VersionedEntry): ApiError {
  if (e.entry.state === 'deleting') {
    return new ApiError(409, 'stream_exists', `stream '${e.name}' is being deleted; repeat DELETE /v1/streams/${e.name} to finish, then create it again`);
  }
  return new ApiError(409, 'stream_exists', `stream '${e.name}' already exists (created ${e.entry.created_at}, incarnation ${e.entry.incarnation})`);
}

function notFound(name: string): ApiError {
  return new ApiError(404, 'stream_not_found', `no stream '${name}' was created at run time`);
}
